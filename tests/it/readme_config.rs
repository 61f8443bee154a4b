//! The configuration shown in the README is a file Lookout accepts.

use std::path::Path;

use lookout::config::Config;
use lookout::message::{PersonRef, Platform};

#[test]
fn the_readme_configuration_parses_and_validates() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("## Configuration")
        .nth(1)
        .expect("README has a Configuration section");
    let block = section
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a toml block");
    let cfg = Config::from_toml(block, Path::new("README.md")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.clients.len(), 1);
    assert_eq!(
        cfg.agency.quiet().unwrap().map(|(s, _)| s.to_string()),
        Some("22:00:00".into())
    );
    assert_eq!(cfg.chat.platforms, [Platform::Slack, Platform::Discord]);
    assert_eq!(cfg.clients[0].pod.as_deref(), Some("east"));
    assert_eq!(cfg.clients[0].channels.len(), 2);
    assert_eq!(
        cfg.role_of(&PersonRef::parse("discord:1100000000000000042").unwrap()),
        lookout::commands::Role::Am
    );
}
