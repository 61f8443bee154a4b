//! The Slack app manifest, generated from the command declarations.
//!
//! `slack_manifest` writes the YAML a workspace admin pastes into "Create an
//! app › From a manifest": the bot user, one slash command per declaration in
//! `commands/` plus the umbrella `/lookout`, interactivity, the two message
//! events that turn thread replies into notes, and the least bot scopes
//! Lookout needs (`SCOPES`, each with its reason). Socket Mode is the default,
//! so no public URL is needed; `ManifestOptions::http_base_url` switches to
//! request URLs instead. The generated `manifest/slack.yaml` is committed and
//! a test keeps it equal to the generator's output.
//!
//! The YAML is written by hand: every string is emitted as a JSON string,
//! which is also a valid double-quoted YAML scalar, so no escaping rules of
//! YAML's own need to be right.

use std::io;
use std::path::{Path, PathBuf};

use super::spec::{CommandSpec, UMBRELLA, specs};

/// The manifest's file name inside `manifest/`.
pub const MANIFEST_FILE: &str = "slack.yaml";
/// Slack's limit for a slash command's usage hint, in characters.
pub const MAX_USAGE_HINT: usize = 1000;
/// Lookout keeps command descriptions within Discord's 100 characters, below Slack's limit.
pub const MAX_DESCRIPTION: usize = 100;

/// Bot scopes Lookout asks for, each with why; the README quotes this list.
/// Socket Mode also needs an app-level token with `connections:write`, which
/// is created in the app settings and is not part of the manifest.
pub const SCOPES: &[(&str, &str)] = &[
    (
        "commands",
        "receive the slash commands (/scan, /snooze, /lookout …)",
    ),
    (
        "chat:write",
        "post findings, edit them as they change, and reply privately to commands",
    ),
    (
        "channels:history",
        "read replies in finding threads in public channels (they become notes) and find a message again after a crash",
    ),
    (
        "groups:history",
        "the same in private channels the bot was invited to",
    ),
    (
        "reactions:write",
        "confirm with a reaction that a thread reply was kept as a note",
    ),
    (
        "files:write",
        "post a report's chart and Markdown document in the channel it was asked in",
    ),
    (
        "files:read",
        "check after a crash whether a report's files were already posted, so they are not posted twice",
    ),
];

/// Bot events Lookout subscribes to: messages, so thread replies become notes.
pub const BOT_EVENTS: &[&str] = &["message.channels", "message.groups"];

/// Choices for the generated manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestOptions {
    /// When set (e.g. `https://lookout.example.com`), Slack sends commands,
    /// interactions and events to this server over HTTP instead of Socket Mode.
    pub http_base_url: Option<String>,
}

/// The Slack app manifest as YAML.
pub fn slack_manifest(opts: &ManifestOptions) -> String {
    let base = opts
        .http_base_url
        .as_deref()
        .map(|u| u.trim_end_matches('/'));
    let url = |path: &str| base.map(|b| format!("{b}{path}"));
    let mut y = String::new();
    y.push_str("# Generated from commands/*.toml by lookout::commands::manifest; do not edit.\n");
    y.push_str("# Slack: Create an app › From a manifest, then paste this file.\n");
    y.push_str("_metadata:\n  major_version: 1\n  minor_version: 1\n");
    y.push_str("display_information:\n");
    line(&mut y, 2, "name", "Lookout");
    line(
        &mut y,
        2,
        "description",
        "Watches your clients' Klaviyo accounts and posts what needs attention.",
    );
    y.push_str("features:\n  bot_user:\n");
    line(&mut y, 4, "display_name", "Lookout");
    y.push_str("    always_online: true\n  slash_commands:\n");
    let commands_url = url("/slack/commands");
    for spec in specs() {
        command(
            &mut y,
            &format!("/{}", spec.name),
            &spec.description,
            usage_hint(spec).as_deref(),
            commands_url.as_deref(),
        );
    }
    command(
        &mut y,
        &format!("/{UMBRELLA}"),
        "Any Lookout command, e.g. /lookout scan acme (for workspaces where a name is taken)",
        Some("<command> [arguments]"),
        commands_url.as_deref(),
    );
    y.push_str("oauth_config:\n  scopes:\n    bot:\n");
    for (scope, _) in SCOPES {
        item(&mut y, 6, scope);
    }
    y.push_str("settings:\n  event_subscriptions:\n");
    if let Some(u) = url("/slack/events") {
        line(&mut y, 4, "request_url", &u);
    }
    y.push_str("    bot_events:\n");
    for event in BOT_EVENTS {
        item(&mut y, 6, event);
    }
    y.push_str("  interactivity:\n    is_enabled: true\n");
    if let Some(u) = url("/slack/interactions") {
        line(&mut y, 4, "request_url", &u);
    }
    y.push_str("  org_deploy_enabled: false\n");
    y.push_str(&format!("  socket_mode_enabled: {}\n", base.is_none()));
    y.push_str("  token_rotation_enabled: false\n");
    y
}

/// Writes the manifest for `opts` to `dir/manifest/slack.yaml` and returns that path.
pub fn write_manifest(dir: &Path, opts: &ManifestOptions) -> io::Result<PathBuf> {
    let folder = dir.join("manifest");
    std::fs::create_dir_all(&folder)?;
    let path = folder.join(MANIFEST_FILE);
    std::fs::write(&path, slack_manifest(opts))?;
    Ok(path)
}

/// The usage line after the command name (`<finding> <for>`), if it takes arguments.
pub fn usage_hint(spec: &CommandSpec) -> Option<String> {
    let usage = spec.usage();
    let rest = usage
        .strip_prefix(&format!("/{}", spec.name))
        .unwrap_or(&usage)
        .trim();
    (!rest.is_empty()).then(|| rest.to_owned())
}

/// One slash command entry.
fn command(y: &mut String, name: &str, description: &str, hint: Option<&str>, url: Option<&str>) {
    y.push_str(&format!("    - command: {}\n", quote(name)));
    if let Some(u) = url {
        line(y, 6, "url", u);
    }
    line(y, 6, "description", description);
    if let Some(h) = hint {
        line(y, 6, "usage_hint", h);
    }
    // Slack then sends `#channel` and `@person` as their ids (`<#C0123|name>`),
    // which the Slack adapter decodes; names would not say which channel.
    y.push_str("      should_escape: true\n");
}

fn line(y: &mut String, indent: usize, key: &str, value: &str) {
    y.push_str(&format!("{:indent$}{key}: {}\n", "", quote(value)));
}

fn item(y: &mut String, indent: usize, value: &str) {
    y.push_str(&format!("{:indent$}- {}\n", "", quote(value)));
}

/// A double-quoted scalar: JSON string syntax is valid YAML and escapes everything needed.
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_what_yaml_would_misread() {
        assert_eq!(quote("a: b # c"), r#""a: b # c""#);
        assert_eq!(quote("say \"hi\"\n"), r#""say \"hi\"\n""#);
        assert_eq!(quote("<client>"), r#""<client>""#);
    }

    #[test]
    fn usage_hint_drops_the_command_name() {
        let snooze = crate::commands::spec::spec("snooze").unwrap();
        assert_eq!(usage_hint(snooze).as_deref(), Some("<finding> <for>"));
        let no_args = CommandSpec {
            name: "x".into(),
            description: "d".into(),
            who: crate::commands::Role::Viewer,
            examples: vec![],
            help: String::new(),
            args: vec![],
            record_args: true,
        };
        assert_eq!(usage_hint(&no_args), None);
    }
}
