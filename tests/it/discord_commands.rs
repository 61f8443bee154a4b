//! Discord application commands from the declarations in `commands/`: the
//! bulk-overwrite payload has every command within Discord's limits, the
//! manifest file is written, and syncing against the fake Discord writes
//! once, then leaves an unchanged registration alone.

use crate::discord_support;

use std::collections::HashSet;

use serde_json::Value;

use discord_support::fake_discord;
use lookout::chat::discord::commands::{application_commands, sync_commands, write_manifest};
use lookout::chat::discord::fake::{Failure, GUILD_ID};
use lookout::commands::spec::specs;
use lookout::message::ChatError;

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

fn discord_name(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    (1..=32).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[test]
fn the_payload_has_every_command_within_discords_limits() {
    let payload = application_commands();
    let list = payload.as_array().unwrap();
    let names: HashSet<&str> = list.iter().map(|c| c["name"].as_str().unwrap()).collect();
    let declared: HashSet<&str> = specs().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, declared);
    assert!(list.len() <= 100);
    for c in list {
        assert_eq!(c["type"], 1, "a slash command");
        assert!(discord_name(&c["name"]), "{}", c["name"]);
        assert!(
            (1..=100).contains(&chars(&c["description"])),
            "{}",
            c["name"]
        );
        assert!(c["default_member_permissions"].is_null());
        let options = c["options"].as_array().unwrap();
        assert!(options.len() <= 25);
        let mut optional_seen = false;
        for o in options {
            assert!(discord_name(&o["name"]), "{}", o["name"]);
            assert!((1..=100).contains(&chars(&o["description"])));
            let required = o["required"].as_bool().unwrap_or(false);
            assert!(
                !(required && optional_seen),
                "required after optional in {}",
                c["name"]
            );
            optional_seen |= !required;
            assert!([3, 4, 6, 7].contains(&o["type"].as_u64().unwrap()));
            if let Some(choices) = o["choices"].as_array() {
                assert!((1..=25).contains(&choices.len()));
                assert_ne!(
                    o["autocomplete"], true,
                    "choices and autocomplete exclude each other"
                );
                for ch in choices {
                    assert!((1..=100).contains(&chars(&ch["name"])));
                    assert!((1..=100).contains(&chars(&ch["value"])));
                }
            }
        }
        // Every declared argument is offered.
        let spec = specs().iter().find(|s| s.name == c["name"]).unwrap();
        let offered: HashSet<&str> = options
            .iter()
            .map(|o| o["name"].as_str().unwrap())
            .collect();
        let wanted: HashSet<&str> = spec.args.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(offered, wanted, "{}", spec.name);
    }
}

#[test]
fn the_manifest_is_written_to_manifest_discord_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_manifest(dir.path()).unwrap();
    assert_eq!(path, dir.path().join("manifest").join("discord.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.ends_with('\n') && text.contains("\n  {\n"),
        "pretty, with a newline"
    );
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, application_commands());
}

#[tokio::test]
async fn sync_writes_once_then_only_when_something_changed() {
    let s = fake_discord().await;
    for guild in [Some(GUILD_ID), None] {
        assert!(
            sync_commands(&s.chat, guild).await.unwrap(),
            "first sync writes"
        );
        assert_eq!(
            s.fake.commands(guild).len(),
            specs().len(),
            "every command is registered"
        );
        assert!(
            !sync_commands(&s.chat, guild).await.unwrap(),
            "nothing changed"
        );
        assert!(!sync_commands(&s.chat, guild).await.unwrap());
    }
    let puts = s
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "PUT")
        .count();
    assert_eq!(puts, 2, "one write per scope");
}

#[tokio::test]
async fn a_registration_changed_elsewhere_is_overwritten() {
    let s = fake_discord().await;
    assert!(sync_commands(&s.chat, Some(GUILD_ID)).await.unwrap());
    // Someone registered a stale set by hand: one command fewer.
    let mut stale = application_commands();
    stale.as_array_mut().unwrap().pop();
    let client = reqwest::Client::new();
    let res = client
        .put(format!(
            "{}/api/v10/applications/{}/guilds/{GUILD_ID}/commands",
            s.api_url,
            discord_support::APP_ID
        ))
        .header("authorization", format!("Bot {}", discord_support::TOKEN))
        .json(&stale)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    assert_eq!(s.fake.commands(Some(GUILD_ID)).len(), specs().len() - 1);
    assert!(sync_commands(&s.chat, Some(GUILD_ID)).await.unwrap());
    assert_eq!(s.fake.commands(Some(GUILD_ID)).len(), specs().len());
}

#[tokio::test]
async fn sync_failures_say_what_to_do() {
    let s = fake_discord().await;
    s.fake.fail_next(
        1,
        Failure::RateLimited {
            retry_after_secs: 30,
        },
    );
    assert!(matches!(
        sync_commands(&s.chat, None).await,
        Err(ChatError::RateLimited {
            retry_after_secs: 30
        })
    ));
    s.fake.fail_next(
        1,
        Failure::Refused {
            status: 403,
            code: 50001,
            message: "Missing Access".into(),
        },
    );
    match sync_commands(&s.chat, Some(GUILD_ID)).await {
        Err(ChatError::Rejected(e)) => assert!(e.contains("50001"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(s.fake.commands(None).is_empty());
}
