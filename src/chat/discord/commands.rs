//! Discord application commands, generated from the command declarations.
//!
//! `application_commands` is the bulk-overwrite payload: one slash command
//! (`CHAT_INPUT`) per declaration in `commands/`, options typed by argument
//! kind (client names autocomplete, severities and snooze lengths are fixed
//! choices, days an integer from 1 to 365, channels and users Discord's own
//! pickers), required options first, every name and description within
//! Discord's limits. `write_manifest` saves it as `manifest/discord.json`.
//! `sync_commands` compares what Discord has registered with the
//! declaration, ignoring what Discord adds (ids, versions, defaults), and
//! overwrites only when they differ, so a restart does not re-register
//! (Discord rate-limits command updates and a global change takes a while
//! to reach every client).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::DiscordChat;
use super::render::{MAX_OPTION_TEXT, clip, len16};
use crate::commands::spec::{ArgKind, ArgSpec, CommandSpec, specs};
use crate::message::ChatError;

/// The manifest's file name inside `manifest/`.
pub const MANIFEST_FILE: &str = "discord.json";
/// Command and option name limit.
pub const MAX_NAME: usize = 32;
/// Command and option description limit.
pub const MAX_DESCRIPTION: usize = 100;
/// Options in one command, and choices in one option.
pub const MAX_OPTIONS: usize = 25;
/// Commands of one type an application may register.
pub const MAX_COMMANDS: usize = 100;
/// Longest client slug (`ClientSlug`'s limit).
const CLIENT_MAX_CHARS: u64 = 40;
/// Longest free text an option takes; `/note` keeps notes to 2,000 characters.
const TEXT_MAX_CHARS: u64 = 2000;

/// Option types.
mod option {
    pub const STRING: u64 = 3;
    pub const INTEGER: u64 = 4;
    pub const USER: u64 = 6;
    pub const CHANNEL: u64 = 7;
}

/// The bulk-overwrite payload for every declared command.
pub fn application_commands() -> Value {
    Value::Array(specs().iter().take(MAX_COMMANDS).map(command).collect())
}

fn command(spec: &CommandSpec) -> Value {
    let mut args: Vec<&ArgSpec> = spec.args.iter().collect();
    // Discord wants required options before optional ones; the sort is stable.
    args.sort_by_key(|a| !a.required);
    let options: Vec<Value> = args
        .into_iter()
        .take(MAX_OPTIONS)
        .map(|a| arg(spec, a))
        .collect();
    json!({
        "type": 1,
        "name": name(&spec.name),
        "description": description(&spec.description),
        "options": options,
        // Anyone may see the commands; Lookout checks roles itself.
        "default_member_permissions": null,
    })
}

fn arg(spec: &CommandSpec, a: &ArgSpec) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), json!(name(&a.name)));
    o.insert("description".into(), json!(description(&a.description)));
    o.insert("required".into(), json!(a.required));
    let kind = match a.kind {
        ArgKind::Client => {
            o.insert("autocomplete".into(), json!(true));
            o.insert("min_length".into(), json!(1));
            o.insert("max_length".into(), json!(CLIENT_MAX_CHARS));
            option::STRING
        }
        ArgKind::Finding => {
            o.insert("min_length".into(), json!(1));
            o.insert("max_length".into(), json!(24));
            option::STRING
        }
        ArgKind::Severity => {
            o.insert(
                "choices".into(),
                choices(["critical", "warning", "opportunity"].map(|s| (s, s))),
            );
            option::STRING
        }
        ArgKind::Snooze => {
            // Free text (a date must be typable) with suggested lengths.
            o.insert("autocomplete".into(), json!(true));
            o.insert("min_length".into(), json!(1));
            o.insert("max_length".into(), json!(24));
            option::STRING
        }
        ArgKind::Command => {
            let names: Vec<&str> = specs()
                .iter()
                .filter(|s| s.name != spec.name)
                .map(|s| s.name.as_str())
                .collect();
            if names.len() <= MAX_OPTIONS {
                o.insert("choices".into(), choices(names.iter().map(|n| (*n, *n))));
            } else {
                o.insert("max_length".into(), json!(MAX_NAME));
            }
            option::STRING
        }
        ArgKind::Days => {
            o.insert("min_value".into(), json!(1));
            o.insert("max_value".into(), json!(365));
            option::INTEGER
        }
        ArgKind::Word => {
            o.insert("min_length".into(), json!(1));
            o.insert("max_length".into(), json!(64));
            option::STRING
        }
        ArgKind::Month => {
            o.insert("min_length".into(), json!(3));
            o.insert("max_length".into(), json!(9));
            option::STRING
        }
        ArgKind::Text => {
            o.insert("min_length".into(), json!(1));
            o.insert("max_length".into(), json!(TEXT_MAX_CHARS));
            option::STRING
        }
        ArgKind::Channel => {
            // Text (0) and announcement (5) channels: where findings can go.
            o.insert("channel_types".into(), json!([0, 5]));
            option::CHANNEL
        }
        ArgKind::User => option::USER,
    };
    o.insert("type".into(), json!(kind));
    Value::Object(o)
}

fn choices<'a>(list: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Array(
        list.into_iter()
            .take(MAX_OPTIONS)
            .map(|(label, value)| {
                json!({"name": clip(label, MAX_OPTION_TEXT), "value": clip(value, MAX_OPTION_TEXT)})
            })
            .collect(),
    )
}

/// A name Discord accepts: lowercase letters, digits, `-` and `_`, 1 to 32.
fn name(s: &str) -> String {
    let mut out: String = s
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(MAX_NAME)
        .collect();
    if out.is_empty() {
        out.push('x');
    }
    out
}

/// A description Discord accepts: one line, 1 to 100 characters.
fn description(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let d = clip(&one_line, MAX_DESCRIPTION);
    if d.is_empty() { "-".to_owned() } else { d }
}

/// Writes `manifest/discord.json` under `dir` (pretty JSON, trailing newline).
pub fn write_manifest(dir: &Path) -> std::io::Result<PathBuf> {
    let folder = dir.join("manifest");
    std::fs::create_dir_all(&folder)?;
    let path = folder.join(MANIFEST_FILE);
    let mut text = serde_json::to_string_pretty(&application_commands())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    text.push('\n');
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Registers the declared commands in a guild (instant) or globally, only
/// when Discord's registered set differs; returns whether it wrote.
pub async fn sync_commands(chat: &DiscordChat, guild: Option<u64>) -> Result<bool, ChatError> {
    let declared = application_commands();
    let registered = chat.get_commands(guild).await?;
    if normalize(&registered) == normalize(&declared) {
        tracing::debug!(?guild, "Discord commands are up to date");
        return Ok(false);
    }
    chat.put_commands(guild, &declared).await?;
    tracing::info!(?guild, "registered Lookout's commands with Discord");
    Ok(true)
}

/// Command fields Lookout declares; everything else Discord adds is ignored.
const COMMAND_KEYS: &[&str] = &[
    "type",
    "name",
    "description",
    "options",
    "default_member_permissions",
    "contexts",
    "integration_types",
    "nsfw",
];
/// Option fields Lookout declares.
const OPTION_KEYS: &[&str] = &[
    "type",
    "name",
    "description",
    "required",
    "autocomplete",
    "choices",
    "min_value",
    "max_value",
    "min_length",
    "max_length",
    "channel_types",
    "options",
];

/// A comparable form of a command list: sorted by name, only declared
/// fields, and no field at its default (Discord omits `required: false`,
/// empty option lists and the like).
pub fn normalize(commands: &Value) -> Value {
    let mut list: Vec<Value> = commands
        .as_array()
        .map(|a| a.iter().map(|c| keep(c, COMMAND_KEYS)).collect())
        .unwrap_or_default();
    list.sort_by(|a, b| {
        let key = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_owned);
        key(a).cmp(&key(b))
    });
    Value::Array(list)
}

fn keep(v: &Value, keys: &[&str]) -> Value {
    let Some(obj) = v.as_object() else {
        return v.clone();
    };
    let mut out = Map::new();
    for key in keys {
        let Some(value) = obj.get(*key) else {
            continue;
        };
        let value = match (*key, value) {
            ("options", Value::Array(items)) => {
                Value::Array(items.iter().map(|o| keep(o, OPTION_KEYS)).collect())
            }
            ("choices", Value::Array(items)) => {
                Value::Array(items.iter().map(|c| keep(c, &["name", "value"])).collect())
            }
            _ => value.clone(),
        };
        let default = match &value {
            Value::Null | Value::Bool(false) => true,
            Value::Array(a) => a.is_empty(),
            _ => false,
        };
        // Discord's default type is 1 (slash command).
        if default || (*key == "type" && value == json!(1) && keys == COMMAND_KEYS) {
            continue;
        }
        out.insert((*key).to_owned(), value);
    }
    Value::Object(out)
}

/// Checks a command list against Discord's registration limits; the error
/// names the first problem. Used by tests and the fake Discord.
pub fn check_commands(commands: &Value) -> Result<(), String> {
    let list = commands.as_array().ok_or("not a list")?;
    if list.len() > MAX_COMMANDS {
        return Err(format!("{} commands", list.len()));
    }
    let mut names = std::collections::HashSet::new();
    for c in list {
        let n = c.get("name").and_then(Value::as_str).unwrap_or_default();
        check_name(n)?;
        if !names.insert(n) {
            return Err(format!("command {n} twice"));
        }
        check_description(c, n)?;
        let options = c.get("options").and_then(Value::as_array);
        let options = options.map(Vec::as_slice).unwrap_or_default();
        if options.len() > MAX_OPTIONS {
            return Err(format!("{n}: {} options", options.len()));
        }
        let mut seen_optional = false;
        let mut option_names = std::collections::HashSet::new();
        for o in options {
            let on = o.get("name").and_then(Value::as_str).unwrap_or_default();
            check_name(on)?;
            if !option_names.insert(on) {
                return Err(format!("{n}: option {on} twice"));
            }
            check_description(o, on)?;
            let required = o.get("required").and_then(Value::as_bool).unwrap_or(false);
            if required && seen_optional {
                return Err(format!("{n}: required {on} after an optional option"));
            }
            seen_optional |= !required;
            let choices = o.get("choices").and_then(Value::as_array);
            if choices.is_some_and(|c| c.len() > MAX_OPTIONS || c.is_empty()) {
                return Err(format!("{n}.{on}: choices count"));
            }
            if choices.is_some() && o.get("autocomplete") == Some(&json!(true)) {
                return Err(format!("{n}.{on}: choices and autocomplete together"));
            }
            for ch in choices.into_iter().flatten() {
                let cn = ch.get("name").and_then(Value::as_str).map_or(0, len16);
                let cv = ch.get("value").and_then(Value::as_str).map_or(0, len16);
                if cn == 0 || cn > MAX_OPTION_TEXT || cv == 0 || cv > MAX_OPTION_TEXT {
                    return Err(format!("{n}.{on}: choice length"));
                }
            }
        }
    }
    Ok(())
}

fn check_name(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.chars().count() <= MAX_NAME
        && n.chars()
            .all(|c| (c.is_alphanumeric() && !c.is_uppercase()) || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("bad name `{n}`"))
    }
}

fn check_description(v: &Value, n: &str) -> Result<(), String> {
    let d = v
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if d.is_empty() || d.chars().count() > MAX_DESCRIPTION || d.contains('\n') {
        return Err(format!("{n}: description length {}", d.chars().count()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_command_is_registered_within_limits() {
        let payload = application_commands();
        assert_eq!(check_commands(&payload), Ok(()));
        let list = payload.as_array().unwrap();
        assert_eq!(list.len(), specs().len());
        for (c, spec) in list.iter().zip(specs()) {
            assert_eq!(c["name"], spec.name.as_str());
            assert_eq!(c["type"], 1);
            assert!(c["default_member_permissions"].is_null());
            assert_eq!(c["options"].as_array().unwrap().len(), spec.args.len());
        }
    }

    #[test]
    fn options_are_typed_by_argument_kind() {
        let payload = application_commands();
        let cmd = |n: &str| {
            payload
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == n)
                .unwrap()
                .clone()
        };
        let opt = |c: &Value, n: &str| {
            c["options"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["name"] == n)
                .unwrap()
                .clone()
        };
        let scan = cmd("scan");
        assert_eq!(opt(&scan, "client")["type"], 3);
        assert_eq!(opt(&scan, "client")["autocomplete"], true);
        let route = cmd("route");
        assert_eq!(opt(&route, "channel")["type"], 7);
        assert_eq!(opt(&route, "owner")["type"], 6);
        assert_eq!(opt(&route, "owner")["required"], false);
        let findings = cmd("findings");
        let severity = opt(&findings, "severity");
        let sev: Vec<&str> = severity["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_str().unwrap())
            .collect();
        assert_eq!(sev, ["critical", "warning", "opportunity"]);
        // Snooze lengths are suggested, so a date can still be typed.
        let snooze = opt(&cmd("snooze"), "for");
        assert_eq!(snooze["autocomplete"], true);
        assert!(snooze.get("choices").is_none());
        let days = opt(&cmd("renewal-report"), "days");
        assert_eq!(
            (days["type"].clone(), days["max_value"].clone()),
            (json!(4), json!(365))
        );
        let help = opt(&cmd("help"), "command");
        assert!(
            help["choices"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["value"] == "snooze")
        );
    }

    #[test]
    fn normalizing_ignores_what_discord_adds() {
        let declared = application_commands();
        // What Discord answers after a PUT: ids, versions, defaults omitted,
        // localizations, and its own order.
        let mut registered: Vec<Value> = declared
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c["id"] = json!("1234");
                c["application_id"] = json!("99");
                c["version"] = json!("5678");
                c["dm_permission"] = json!(true);
                c["name_localizations"] = Value::Null;
                c.as_object_mut().unwrap().remove("nsfw");
                for o in c["options"].as_array_mut().unwrap() {
                    if o["required"] == json!(false) {
                        o.as_object_mut().unwrap().remove("required");
                    }
                    o["description_localizations"] = Value::Null;
                }
                c
            })
            .collect();
        registered.reverse();
        assert_eq!(
            normalize(&Value::Array(registered.clone())),
            normalize(&declared)
        );
        registered[0]["description"] = json!("changed");
        assert_ne!(normalize(&Value::Array(registered)), normalize(&declared));
    }

    #[test]
    fn names_and_descriptions_are_made_to_fit() {
        assert_eq!(name("Renewal Report!"), "renewal-report-");
        assert_eq!(name(&"a".repeat(40)).len(), MAX_NAME);
        assert_eq!(name(""), "x");
        assert!(description(&"d ".repeat(80)).chars().count() <= MAX_DESCRIPTION);
        assert_eq!(description("two\nlines"), "two lines");
    }

    #[test]
    fn the_manifest_is_pretty_json_with_a_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_manifest(dir.path()).unwrap();
        assert!(path.ends_with("manifest/discord.json"));
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.ends_with("}\n]\n"));
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, application_commands());
    }
}
