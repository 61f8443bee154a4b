//! Command declarations: the one place a slash command is described.
//!
//! Each command is a TOML file in the top-level `commands/` folder, embedded at
//! compile time and parsed once. The parser, `/help`, and platform registration
//! (Slack manifest, Discord application commands) all read these declarations,
//! so a command's name, arguments and wording never drift between them.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::commands::Role;
use crate::commands::parse::{self, ParseError};

/// The umbrella command under which every command is also reachable (`/lookout scan acme`).
pub const UMBRELLA: &str = "lookout";

/// One slash command as declared in `commands/<name>.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// Name without the slash, e.g. `snooze`.
    pub name: String,
    /// One line, at most 100 characters (Discord's limit).
    pub description: String,
    /// The lowest role allowed to run it.
    pub who: Role,
    /// Example invocations, each starting with `/name`.
    pub examples: Vec<String>,
    /// Longer help shown by `/help <name>`.
    pub help: String,
    /// Arguments in order: required ones first, a `text` argument only last.
    #[serde(default)]
    pub args: Vec<ArgSpec>,
    /// Whether the audit trail keeps the argument text. `false` for a command
    /// whose arguments may hold a secret (an API key): it is recorded by name
    /// only, and a refusal's reason that could echo an argument is not kept.
    #[serde(default = "records_args")]
    pub record_args: bool,
}

fn records_args() -> bool {
    true
}

/// One argument of a command.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgSpec {
    /// Name shown in usage, e.g. `finding` in `<finding>`.
    pub name: String,
    /// What it accepts; selects the parser.
    pub kind: ArgKind,
    /// Whether the command fails without it.
    pub required: bool,
    /// One line for help and platform registration, at most 100 characters.
    pub description: String,
}

/// What an argument accepts; each kind has one parser in `commands::parse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArgKind {
    /// A client slug, e.g. `acme`.
    Client,
    /// A finding id, e.g. `F-12`.
    Finding,
    /// `critical`, `warning` or `opportunity`.
    Severity,
    /// A snooze length, date or `until-worse`.
    Snooze,
    /// Free text: the rest of the line.
    Text,
    /// The name of another command.
    Command,
    /// A number of days, 1 to 365.
    Days,
    /// A chat channel: `#client-acme`, or a Slack/Discord channel mention.
    Channel,
    /// A chat user: `@ana`, or a Slack/Discord user mention.
    User,
    /// One word, e.g. a pod name or a person (`east`, `slack:U0ANA`).
    Word,
    /// A calendar month: `2026-10`, `october` or `oct`.
    Month,
}

impl CommandSpec {
    /// Usage line: `/snooze <finding> <for>`, optional arguments in `[brackets]`.
    pub fn usage(&self) -> String {
        let mut out = format!("/{}", self.name);
        for arg in &self.args {
            if arg.required {
                out.push_str(&format!(" <{}>", arg.name));
            } else {
                out.push_str(&format!(" [{}]", arg.name));
            }
        }
        out
    }
}

/// Every file in `commands/`, embedded at compile time by `build.rs`, in name order.
const SOURCES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/command_sources.rs"));

/// All declarations, parsed once. A file that fails to parse is a programming
/// error caught by the unit tests; at runtime it is logged and skipped rather
/// than taking the bot down.
pub fn specs() -> &'static [CommandSpec] {
    static SPECS: OnceLock<Vec<CommandSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        SOURCES
            .iter()
            .filter_map(|(file, src)| match toml::from_str::<CommandSpec>(src) {
                Ok(spec) => Some(spec),
                Err(e) => {
                    tracing::error!(file, error = %e, "skipping a command declaration that does not parse");
                    None
                }
            })
            .collect()
    })
}

/// The declaration of one command by exact name (lowercase, no slash).
pub fn spec(name: &str) -> Option<&'static CommandSpec> {
    specs().iter().find(|s| s.name == name)
}

/// The declared command closest to `name` by edit distance, if within 2 edits.
pub fn suggest(name: &str) -> Option<&'static str> {
    // An exact name is not a typo; long inputs are not typos of a short name.
    if name.chars().count() > 40 || spec(name).is_some() {
        return None;
    }
    specs()
        .iter()
        .map(|s| (edit_distance(name, &s.name), s.name.as_str()))
        .filter(|(d, n)| *d <= 2 && *n != name)
        // On a tie, a name of the same length and first letter is the likelier typo.
        .min_by_key(|(d, n)| {
            (
                *d,
                n.chars().count().abs_diff(name.chars().count()),
                n.chars().next() != name.chars().next(),
            )
        })
        .map(|(_, n)| n)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Who may run a command, as a reader would say it.
fn who_text(role: Role) -> &'static str {
    match role {
        Role::Viewer => "everyone, viewers included",
        Role::Am => "account managers and up",
        Role::Lead => "team leads and up",
        Role::Admin => "admins only",
    }
}

/// `/help` text: a list of commands (usage + description) or one command's full help.
pub fn help_text(command: Option<&str>) -> Result<String, ParseError> {
    let Some(raw) = command else {
        return Ok(list_text());
    };
    let name = raw.trim().trim_start_matches('/').to_lowercase();
    if name.is_empty() || name == UMBRELLA {
        return Ok(list_text());
    }
    let Some(spec) = spec(&name) else {
        return Err(ParseError::unknown(&name));
    };
    let mut out = vec![spec.usage(), spec.description.clone()];
    let mut who = format!("Who can use it: {}.", who_text(spec.who));
    if !parse::is_available(&spec.name) {
        who.push_str(" Coming soon: not available yet.");
    }
    out.push(who);
    out.push(String::new());
    out.push(spec.help.trim_end().to_owned());
    if !spec.args.is_empty() {
        out.push(String::new());
        out.push("Arguments:".to_owned());
        for arg in &spec.args {
            let optional = if arg.required { "" } else { " (optional)" };
            out.push(format!("  <{}>{optional}: {}", arg.name, arg.description));
        }
    }
    out.push(String::new());
    out.push(format!("Examples: {}", spec.examples.join(" · ")));
    Ok(out.join("\n"))
}

/// The `/help` list of every command.
fn list_text() -> String {
    let mut out = vec!["Lookout commands (type /help <command> for details):".to_owned()];
    for spec in specs() {
        let soon = if parse::is_available(&spec.name) {
            ""
        } else {
            " (coming soon)"
        };
        out.push(format!("{} — {}{soon}", spec.usage(), spec.description));
    }
    out.push(format!(
        "Every command also works after /{UMBRELLA}, e.g. /{UMBRELLA} scan acme."
    ));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_discord_name(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }

    #[test]
    fn every_embedded_file_parses() {
        for (file, src) in SOURCES {
            let parsed = toml::from_str::<CommandSpec>(src);
            assert!(parsed.is_ok(), "{file}: {:?}", parsed.err());
        }
        assert_eq!(specs().len(), SOURCES.len());
    }

    #[test]
    fn file_names_match_command_names() {
        for (file, src) in SOURCES {
            let spec: CommandSpec = toml::from_str(src).unwrap();
            assert_eq!(*file, format!("{}.toml", spec.name));
        }
    }

    #[test]
    fn the_embedded_list_covers_the_commands_folder() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("commands");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = SOURCES.iter().map(|(f, _)| f.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "add new files in commands/ to SOURCES");
    }

    #[test]
    fn names_are_unique_and_valid_for_discord() {
        let mut seen = std::collections::HashSet::new();
        for s in specs() {
            assert!(is_discord_name(&s.name), "bad name {}", s.name);
            assert_ne!(s.name, UMBRELLA, "the umbrella name is reserved");
            assert!(seen.insert(s.name.clone()), "duplicate {}", s.name);
            let mut args = std::collections::HashSet::new();
            for a in &s.args {
                assert!(is_discord_name(&a.name), "bad arg name {}", a.name);
                assert!(args.insert(a.name.clone()), "duplicate arg {}", a.name);
            }
        }
    }

    #[test]
    fn descriptions_fit_discord_limits() {
        for s in specs() {
            let n = s.description.chars().count();
            assert!((1..=100).contains(&n), "{}: {n} chars", s.name);
            for a in &s.args {
                let n = a.description.chars().count();
                assert!((1..=100).contains(&n), "{}.{}: {n} chars", s.name, a.name);
            }
            assert!(!s.help.trim().is_empty(), "{} has no help", s.name);
        }
    }

    #[test]
    fn argument_order_is_required_then_optional_and_text_last() {
        for s in specs() {
            let mut seen_optional = false;
            for (i, a) in s.args.iter().enumerate() {
                if a.required {
                    assert!(!seen_optional, "{}: required after optional", s.name);
                } else {
                    seen_optional = true;
                }
                if a.kind == ArgKind::Text {
                    assert_eq!(i, s.args.len() - 1, "{}: text arg not last", s.name);
                }
            }
        }
    }

    #[test]
    fn examples_start_with_the_command() {
        for s in specs() {
            assert!(!s.examples.is_empty(), "{} has no examples", s.name);
            for e in &s.examples {
                let first = e.split_whitespace().next().unwrap_or("");
                assert_eq!(first, format!("/{}", s.name), "example {e}");
            }
        }
    }

    #[test]
    fn the_brief_commands_are_declared() {
        for name in [
            "scan",
            "findings",
            "ack",
            "snooze",
            "resolve",
            "note",
            "notes",
            "portfolio",
            "help",
            "renewal-report",
        ] {
            assert!(spec(name).is_some(), "{name} missing");
        }
        assert!(spec("sacn").is_none());
        assert!(spec("Scan").is_none(), "lookup is exact");
    }

    #[test]
    fn usage_brackets_optional_arguments() {
        assert_eq!(spec("snooze").unwrap().usage(), "/snooze <finding> <for>");
        assert_eq!(
            spec("findings").unwrap().usage(),
            "/findings [client] [severity]"
        );
        assert_eq!(
            spec("resolve").unwrap().usage(),
            "/resolve <finding> [reason]"
        );
        assert_eq!(spec("portfolio").unwrap().usage(), "/portfolio");
    }

    #[test]
    fn unknown_fields_and_kinds_are_rejected() {
        let typo = "name = \"x\"\ndescription = \"d\"\nwho = \"anyone\"\nexamples = []\nhelp = \"h\"\nwhoo = 1\n";
        assert!(toml::from_str::<CommandSpec>(typo).is_err());
        let bad_kind = "name = \"x\"\ndescription = \"d\"\nwho = \"anyone\"\nexamples = []\nhelp = \"h\"\n[[args]]\nname = \"a\"\nkind = \"colour\"\nrequired = true\ndescription = \"d\"\n";
        assert!(toml::from_str::<CommandSpec>(bad_kind).is_err());
        let bad_role =
            "name = \"x\"\ndescription = \"d\"\nwho = \"owner\"\nexamples = []\nhelp = \"h\"\n";
        assert!(toml::from_str::<CommandSpec>(bad_role).is_err());
        let secret = "name = \"x\"\ndescription = \"d\"\nwho = \"admin\"\nexamples = []\nhelp = \"h\"\nrecord_args = false\n";
        assert!(!toml::from_str::<CommandSpec>(secret).unwrap().record_args);
        assert!(
            toml::from_str::<CommandSpec>(typo.replace("whoo = 1\n", "").as_str())
                .unwrap()
                .record_args
        );
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("scan", "scan"), 0);
        assert_eq!(edit_distance("sacn", "scan"), 2);
        assert_eq!(edit_distance("snoze", "snooze"), 1);
        assert_eq!(edit_distance("", "ack"), 3);
        assert_eq!(edit_distance("héllo", "hello"), 1);
    }

    #[test]
    fn suggestions_are_close_names_only() {
        assert_eq!(suggest("sacn"), Some("scan"));
        assert_eq!(suggest("snoze"), Some("snooze"));
        assert_eq!(suggest("findigns"), Some("findings"));
        assert_eq!(suggest("deploy"), None);
        assert_eq!(suggest("scan"), None, "an exact name is not a typo");
        assert_eq!(suggest(&"x".repeat(500)), None);
    }

    #[test]
    fn help_lists_every_command_with_usage() {
        let text = help_text(None).unwrap();
        for s in specs() {
            assert!(text.contains(&s.usage()), "missing {}", s.name);
            assert!(text.contains(&s.description));
        }
        assert!(text.contains("/renewal-report <client> [days] —"));
        // Every declared command has a handler now: none is marked as coming.
        assert!(!text.contains("(coming soon)"), "{text}");
        assert_eq!(help_text(Some("lookout")).unwrap(), text);
    }

    #[test]
    fn help_for_one_command_shows_arguments_and_examples() {
        let text = help_text(Some("/Snooze")).unwrap();
        assert!(text.starts_with("/snooze <finding> <for>\n"));
        assert!(text.contains("Who can use it: account managers and up."));
        assert!(text.contains("  <for>: How long"));
        assert!(text.contains("Examples: /snooze F-12 4h · "));
        let portfolio = help_text(Some("portfolio")).unwrap();
        assert!(!portfolio.contains("Arguments:"));
        assert!(portfolio.contains("team leads and up"));
    }

    #[test]
    fn help_for_an_unknown_command_suggests() {
        let err = help_text(Some("sacn")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unknown command `/sacn`. Did you mean `/scan`? Type /help for the list."
        );
    }
}
