//! The Slack app manifest: the committed `manifest/slack.yaml` is exactly what
//! the generator writes, names every declared command, asks for no scope
//! beyond `SCOPES`, and stays within Slack's limits. Run with
//! `LOOKOUT_BLESS=1` to rewrite the committed file after changing a command.

use std::path::Path;

use lookout::commands::manifest::{
    BOT_EVENTS, MAX_DESCRIPTION, MAX_USAGE_HINT, ManifestOptions, SCOPES, slack_manifest,
    usage_hint, write_manifest,
};
use lookout::commands::spec::{UMBRELLA, specs};

fn socket() -> String {
    slack_manifest(&ManifestOptions::default())
}

fn http() -> String {
    slack_manifest(&ManifestOptions {
        http_base_url: Some("https://lookout.example.com/".to_owned()),
    })
}

/// The lines of the block that starts at `header` (a line of its own), up to
/// the next line indented no deeper than the header.
fn block<'a>(yaml: &'a str, header: &str) -> Vec<&'a str> {
    let mut lines = yaml.lines().skip_while(|l| l.trim_end() != header);
    let Some(first) = lines.next() else {
        panic!("no `{header}` block in:\n{yaml}");
    };
    let depth = first.len() - first.trim_start().len();
    lines
        .take_while(|l| l.len() - l.trim_start().len() > depth)
        .collect()
}

/// Values of `key: "value"` lines, unquoted with the JSON string rules they were written with.
fn values(yaml: &str, key: &str) -> Vec<String> {
    yaml.lines()
        .filter_map(|l| {
            let rest = l.trim_start().trim_start_matches("- ").strip_prefix(key)?;
            let raw = rest.strip_prefix(": ")?;
            Some(serde_json::from_str::<String>(raw).unwrap_or_else(|e| panic!("{l}: {e}")))
        })
        .collect()
}

#[test]
fn committed_manifest_matches_the_generator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("LOOKOUT_BLESS").is_some() {
        write_manifest(root, &ManifestOptions::default()).expect("manifest written");
    }
    let committed = std::fs::read_to_string(root.join("manifest/slack.yaml"))
        .expect("manifest/slack.yaml is committed");
    assert!(
        committed == socket(),
        "manifest/slack.yaml is stale: run `LOOKOUT_BLESS=1 cargo test --test manifest` and commit it"
    );
}

#[test]
fn write_manifest_creates_the_folder_and_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_manifest(dir.path(), &ManifestOptions::default()).expect("written");
    assert_eq!(path, dir.path().join("manifest").join("slack.yaml"));
    assert_eq!(std::fs::read_to_string(&path).expect("readable"), socket());
    // A file where the folder should be is an error, not a panic.
    let blocked = tempfile::tempdir().expect("temp dir");
    std::fs::write(blocked.path().join("manifest"), "not a folder").expect("file");
    assert!(write_manifest(blocked.path(), &ManifestOptions::default()).is_err());
}

#[test]
fn every_declared_command_and_the_umbrella_appear_once() {
    let yaml = socket();
    let commands = values(&yaml, "command");
    assert!(!specs().is_empty());
    for spec in specs() {
        let name = format!("/{}", spec.name);
        assert_eq!(commands.iter().filter(|c| **c == name).count(), 1, "{name}");
    }
    assert!(commands.contains(&format!("/{UMBRELLA}")));
    assert_eq!(commands.len(), specs().len() + 1, "{commands:?}");
    // Descriptions and usage hints come from the declarations.
    let descriptions = values(&yaml, "description");
    let hints = values(&yaml, "usage_hint");
    for spec in specs() {
        assert!(descriptions.contains(&spec.description), "{}", spec.name);
        if let Some(h) = usage_hint(spec) {
            assert!(hints.contains(&h), "{}: {h}", spec.name);
        }
    }
    assert!(hints.contains(&"<finding> <for>".to_owned()), "{hints:?}");
    let escapes = yaml
        .lines()
        .filter(|l| l.trim() == "should_escape: true")
        .count();
    assert_eq!(escapes, commands.len());
}

#[test]
fn scopes_are_exactly_the_least_privilege_list() {
    let yaml = socket();
    let bot: Vec<String> = block(&yaml, "    bot:")
        .iter()
        .map(|l| {
            let raw = l.trim().strip_prefix("- ").expect("a list item");
            serde_json::from_str(raw).expect("a quoted scope")
        })
        .collect();
    let allowed: Vec<&str> = SCOPES.iter().map(|(s, _)| *s).collect();
    assert_eq!(bot, allowed);
    for (scope, reason) in SCOPES {
        assert!(!reason.trim().is_empty(), "{scope} has no reason");
    }
    for want in [
        "commands",
        "chat:write",
        "channels:history",
        "groups:history",
        "reactions:write",
        "files:write",
        "files:read",
    ] {
        assert!(allowed.contains(&want), "{want}");
    }
    // Nothing broad sneaks in anywhere in the file.
    // Channels are configured by id, so no channel listing is needed.
    for broad in [
        "channels:read",
        "groups:read",
        "admin",
        "users:read",
        "chat:write.public",
        "im:history",
        "files:write.public",
        "remote_files",
    ] {
        assert!(!yaml.contains(broad), "{broad} appears in the manifest");
    }
    assert!(
        block(&yaml, "  scopes:")
            .iter()
            .all(|l| !l.contains("user:"))
    );
}

#[test]
fn descriptions_and_hints_fit_slack_limits() {
    let yaml = socket();
    for d in values(&yaml, "description") {
        assert!(!d.is_empty());
        assert!(d.chars().count() <= MAX_DESCRIPTION, "too long: {d}");
    }
    for h in values(&yaml, "usage_hint") {
        assert!(!h.is_empty() && h.chars().count() <= MAX_USAGE_HINT, "{h}");
    }
    for c in values(&yaml, "command") {
        // Slack: lowercase, at most 32 characters, starting with a slash.
        assert!(c.starts_with('/') && c.len() <= 32, "{c}");
        assert_eq!(c, c.to_lowercase());
    }
}

#[test]
fn socket_mode_is_the_default_with_no_request_urls() {
    let yaml = socket();
    assert!(yaml.contains("  socket_mode_enabled: true\n"));
    assert!(!yaml.contains("url:"), "no request URLs in Socket Mode");
    assert!(block(&yaml, "  interactivity:").contains(&"    is_enabled: true"));
    assert!(yaml.contains("  bot_user:\n    display_name: \"Lookout\"\n"));
    let events: Vec<String> = block(&yaml, "    bot_events:")
        .iter()
        .map(|l| serde_json::from_str(l.trim().trim_start_matches("- ")).expect("quoted"))
        .collect();
    assert_eq!(events, BOT_EVENTS);
}

#[test]
fn http_mode_sets_request_urls_and_turns_socket_mode_off() {
    let yaml = http();
    assert!(yaml.contains("  socket_mode_enabled: false\n"));
    let urls = values(&yaml, "url");
    assert_eq!(
        urls.iter()
            .filter(|u| *u == "https://lookout.example.com/slack/commands")
            .count(),
        specs().len() + 1,
        "every command, the umbrella too, posts to /slack/commands"
    );
    assert_eq!(
        values(&yaml, "request_url"),
        vec![
            "https://lookout.example.com/slack/events".to_owned(),
            "https://lookout.example.com/slack/interactions".to_owned(),
        ]
    );
    // The rest does not change with the transport.
    assert_eq!(values(&yaml, "command"), values(&socket(), "command"));
}

#[test]
fn committed_discord_commands_match_the_declarations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("LOOKOUT_BLESS").is_some() {
        lookout::chat::discord::commands::write_manifest(root).expect("manifest written");
    }
    let committed = std::fs::read_to_string(root.join("manifest/discord.json"))
        .expect("manifest/discord.json is committed");
    let committed: serde_json::Value =
        serde_json::from_str(&committed).expect("manifest/discord.json is JSON");
    assert!(
        committed == lookout::chat::discord::commands::application_commands(),
        "manifest/discord.json is stale: run `LOOKOUT_BLESS=1 cargo test --test manifest` and commit it"
    );
}

#[test]
fn the_readme_gives_the_discord_invite_permissions() {
    use lookout::chat::discord::invite::{PERMISSIONS, permission_bits};
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    assert!(readme.contains(&format!("permissions={}", permission_bits())));
    for (name, _, _) in PERMISSIONS {
        assert!(
            readme.contains(&format!("| {name} |")),
            "{name} is in the README table"
        );
    }
}
