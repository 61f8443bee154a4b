//! Hostile account text, end to end: the simulator's `mistral` brand names its
//! lists, its abandoned-checkout flow and its campaigns with every chat
//! surface's mention and link syntax, markdown, bidi and zero-width
//! characters, newlines and terminal escapes. A real scan of it (and a fault
//! that stops the hostile-named flow) goes through the real app to a fake
//! Slack, a fake Discord and the console at once, and every payload they
//! receive is checked: nothing mentions anyone, nothing links anywhere but
//! Klaviyo, nothing reorders or hides text, and the names' letters still show.

use crate::discord_support;
use crate::support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::Duration;
use discord_support::{ANA, APP_ID, TOKEN, chat_for};
use lookout::chat::console::ConsoleChat;
use lookout::chat::discord::fake::FakeDiscord;
use lookout::chat::slack::fake::FakeSlack;
use lookout::chat::slack::{SlackChat, SlackConfig};
use lookout::clock::{Clock, SimClock};
use lookout::commands::Role;
use lookout::config::Secret;
use lookout::demo::{Stack, demo_start};
use lookout::domain::{ClientSlug, Severity};
use lookout::message::text::{is_bidi_control, is_hidden, is_zero_width};
use lookout::message::{ChannelRef, ChatAdapter, PersonRef, Platform};
use lookout::routing::Mode;
use lookout::routing::cards::{KLAVIYO_DASHBOARD, deep_link};
use lookout::simulator::{Fault, FaultKind};
use regex::Regex;
use serde_json::Value;

/// The brand whose names are hostile (index 12: outside the default 12).
const BRAND: &str = "mistral";
/// Brands in the simulated portfolio: enough to include mistral.
const BRANDS: usize = 13;
const KLAVIYO: &str = "https://www.klaviyo.com/";

/// Words of the hostile names that must still be readable on every surface.
const LETTERS: [&str; 9] = [
    "Abandoned Checkout",
    "Newsletter",
    "desrever",
    "subteam",
    "everyone",
    "quote",
    "heading",
    "spoiler",
    "zerowidthjoinwordbom",
];

/// A writer tests can read back: what the console printed.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

struct Env {
    stack: Stack,
    slack: FakeSlack,
    discord: FakeDiscord,
    console: Arc<ConsoleChat>,
    printed: Captured,
    /// Discord channel ids: mistral's, the agency's.
    ids: [String; 2],
}

async fn env() -> Env {
    let slack = FakeSlack::new(&["client-mistral", "agency"]);
    let (slack_addr, _) = slack.start().await.unwrap();
    let slack_chat = Arc::new(
        SlackChat::new(SlackConfig {
            api_url: FakeSlack::api_url(slack_addr),
            bot_token: Secret::new("xoxb-hostile"),
        })
        .unwrap(),
    );
    let discord = FakeDiscord::new(TOKEN, APP_ID);
    let ids = ["client-mistral", "agency"].map(|n| discord.add_channel(n));
    let (discord_addr, _) = discord.start().await.unwrap();
    let discord_chat = Arc::new(chat_for(&FakeDiscord::api_url(discord_addr), TOKEN));
    let printed = Captured::default();
    let console = Arc::new(ConsoleChat::with_writer(Box::new(printed.clone())));
    let adapters: Vec<Arc<dyn ChatAdapter>> = vec![slack_chat, discord_chat, console.clone()];
    let d = |id: &str| ChannelRef::new(Platform::Discord, id).unwrap();
    let ids2 = ids.clone();
    let stack = Stack::launch(
        7,
        BRANDS,
        SimClock::frozen(demo_start()),
        adapters,
        &[BRAND],
        false,
        |c| {
            let ana_slack = PersonRef::parse("slack:U0ANA").unwrap();
            let ana_discord = PersonRef::new(Platform::Discord, ANA.to_string()).unwrap();
            c.people.insert(ana_slack.clone(), Role::Am);
            c.people.insert(ana_discord.clone(), Role::Am);
            c.agency.channels = vec![
                ChannelRef::parse("slack:C0002").unwrap(),
                d(&ids2[1]),
                ChannelRef::console("agency"),
            ];
            for client in &mut c.clients {
                client.channels = vec![
                    ChannelRef::parse("slack:C0001").unwrap(),
                    d(&ids2[0]),
                    ChannelRef::console("client-mistral"),
                ];
                client.owners = vec![
                    ana_slack.clone(),
                    ana_discord.clone(),
                    PersonRef::console("ana"),
                ];
            }
        },
    )
    .await
    .unwrap();
    Env {
        stack,
        slack,
        discord,
        console,
        printed,
        ids,
    }
}

impl Env {
    async fn scan(&self) -> lookout::scan::pipeline::ScanReport {
        let slug = ClientSlug::parse(BRAND).unwrap();
        let report = self.stack.app.scan(&slug, "test", None).await.unwrap();
        let pass = self.stack.app.deliverer.run_once().await.unwrap();
        assert_eq!(pass.failed, 0, "{pass:?}");
        report
    }

    /// A scan's onboarding audit, then the hostile-named flow stopped by a fault.
    async fn scan_with_the_flow_stopped(&self) -> lookout::scan::pipeline::ScanReport {
        let audit = self.scan().await;
        assert!(audit.onboarding);
        assert!(
            audit
                .active
                .iter()
                .any(|f| f.title.contains("Newsletter <!here>")),
            "the hostile list is a finding: {:?}",
            audit.active.iter().map(|f| &f.title).collect::<Vec<_>>()
        );
        let at = self.stack.clock.now() + Duration::minutes(5);
        self.stack.sim.inject(Fault {
            brand: BRAND.into(),
            kind: FaultKind::FlowDraft,
            at,
            until: None,
        });
        self.stack.clock.advance(Duration::hours(1));
        let report = self.scan().await;
        let stopped = report
            .active
            .iter()
            .find(|f| f.check_id == "flow-live-stopped")
            .expect("the hostile-named flow is reported stopped");
        assert_eq!(stopped.severity, Severity::Critical);
        assert!(
            stopped.title.contains("Abandoned Checkout") && stopped.title.contains("<!channel>"),
            "{}",
            stopped.title
        );
        report
    }
}

/// Every string in a JSON value, with the key it was under.
fn strings<'a>(v: &'a Value, key: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
    match v {
        Value::String(s) => out.push((key, s)),
        Value::Array(a) => a.iter().for_each(|x| strings(x, key, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| strings(x, k, out)),
        _ => {}
    }
}

/// No bidi, zero-width or control characters (newlines aside).
fn assert_nothing_hidden(surface: &str, s: &str) {
    for c in s.chars() {
        assert!(
            !is_hidden(c) && !is_zero_width(c) && !is_bidi_control(c),
            "{surface}: U+{:04X} in {s:?}",
            c as u32
        );
    }
}

/// No broadcast spelled out as a word, in any case.
fn assert_no_broadcast(surface: &str, s: &str) {
    let lower = s.to_lowercase();
    for b in ["@everyone", "@here", "@channel"] {
        assert!(!lower.contains(b), "{surface}: {b} in {s:?}");
    }
}

/// Every `://` starts a Klaviyo URL.
fn assert_urls_only_klaviyo(surface: &str, s: &str) {
    for (i, _) in s.match_indices("://") {
        assert!(
            s[i + 3..].starts_with("www.klaviyo.com/"),
            "{surface}: a URL outside Klaviyo at {i} in {s:?}"
        );
    }
}

#[tokio::test]
async fn hostile_names_reach_slack_as_inert_text() {
    let env = env().await;
    env.scan_with_the_flow_stopped().await;
    let messages = env.slack.messages("client-mistral");
    assert!(messages.len() >= 2, "{messages:#?}");
    // Slack's own markup Lookout may write: its owner's mention, Klaviyo links.
    let markup = Regex::new(r"<[^>]*>").unwrap();
    let allowed =
        Regex::new(r"^<(@U0ANA|https://www\.klaviyo\.com/[^|<>\s]*(\|[^<>]*)?)>$").unwrap();
    let mut seen = String::new();
    for m in &messages {
        let mut objects = Vec::new();
        for b in &m.blocks {
            text_objects(b, &mut objects);
        }
        for o in objects {
            let t = o["text"].as_str().unwrap_or_default();
            assert_no_broadcast("slack", t);
            assert_nothing_hidden("slack", t);
            seen.push_str(t);
            seen.push('\n');
            if o["type"] == "mrkdwn" {
                assert!(!t.contains("<!"), "{t}");
                // `verbatim` keeps Slack from linking bare URLs and names.
                assert_eq!(o["verbatim"], true, "{o}");
                for live in markup.find_iter(t) {
                    assert!(
                        allowed.is_match(live.as_str()),
                        "live markup {:?} in {t:?}",
                        live.as_str()
                    );
                }
            }
            // `plain_text` is shown as typed: Slack parses no markup in it.
        }
        // The fallback text is parsed like mrkdwn (and shows in notifications).
        for live in markup.find_iter(&m.text) {
            assert!(
                allowed.is_match(live.as_str()),
                "live markup {:?} in {:?}",
                live.as_str(),
                m.text
            );
        }
        assert_no_broadcast("slack fallback", &m.text);
        assert!(!m.text.contains("<!"), "{}", m.text);
        assert_nothing_hidden("slack fallback", &m.text);
        seen.push_str(&m.text);
        seen.push('\n');
        let mut urls = Vec::new();
        for b in &m.blocks {
            strings(b, "", &mut urls);
        }
        for (key, u) in urls {
            if key == "url" {
                assert!(u.starts_with(KLAVIYO), "button url {u}");
            }
        }
    }
    for call in env.slack.calls() {
        if let Some(t) = &call.text {
            assert_no_broadcast("slack call", t);
            assert_nothing_hidden("slack call", t);
        }
    }
    // The forged links and mentions are shown, escaped.
    assert!(seen.contains("&lt;!channel&gt;"), "{seen}");
    assert!(seen.contains("&lt;https://evil.example|Open in Klaviyo&gt;"));
    assert!(seen.contains("[Open in Klaviyo](https://evil.example)"));
    assert!(seen.contains("&lt;@U0ABC&gt;") && seen.contains("&lt;#C0123&gt;"));
    assert!(seen.contains("＠everyone") && seen.contains("＠here"));
    for word in LETTERS {
        assert!(seen.contains(word), "{word} missing from {seen}");
    }
    // The real owner is still pinged.
    assert!(seen.contains("<@U0ANA>"), "{seen}");
}

/// Every Slack text object (`mrkdwn` or `plain_text`) in a block.
fn text_objects<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(o) => {
            if matches!(
                o.get("type").and_then(Value::as_str),
                Some("mrkdwn" | "plain_text")
            ) {
                out.push(v);
            }
            o.values().for_each(|x| text_objects(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| text_objects(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn hostile_names_reach_discord_as_inert_text() {
    let env = env().await;
    env.scan_with_the_flow_stopped().await;
    let ana = ANA.to_string();
    let bodies: Vec<Value> = env
        .discord
        .calls()
        .into_iter()
        .filter(|c| c.path.starts_with(&format!("/channels/{}", env.ids[0])))
        .filter_map(|c| c.body)
        .collect();
    assert!(bodies.len() >= 2, "{bodies:#?}");
    // An unescaped `[label](url)`: `[` not preceded by a backslash.
    let masked = Regex::new(r"(^|[^\\])\[([^\]]*)\]\(([^)]*)\)").unwrap();
    // Discord's markup: `<@…>`, `<@&…>`, `<#…>`, `</…>`, `<t:…>`, `<:e:1>`; only
    // the owner's mention may be live (an escaped `\<` shows as text).
    let live = Regex::new(r"(^|[^\\])<([^>]*)>").unwrap();
    let mut seen = String::new();
    for body in &bodies {
        // The second fence: Discord itself parses no mention but the owner's.
        let am = &body["allowed_mentions"];
        assert_eq!(am["parse"], serde_json::json!([]), "{body}");
        for u in am["users"].as_array().unwrap() {
            assert_eq!(u.as_str(), Some(ana.as_str()));
        }
        assert!(
            am.get("roles")
                .is_none_or(|r| r.as_array().unwrap().is_empty())
        );
        let content = body["content"].as_str().unwrap_or_default();
        assert!(
            content.is_empty() || content == format!("<@{ana}>"),
            "{content}"
        );
        let mut texts = Vec::new();
        strings(&body["embeds"], "", &mut texts);
        strings(&body["components"], "", &mut texts);
        for (key, t) in texts {
            match key {
                "url" => assert!(t.starts_with(KLAVIYO), "button url {t}"),
                "custom_id" | "value" => {}
                _ => {
                    for m in live.captures_iter(t) {
                        assert_eq!(&m[2], format!("@{ana}"), "live markup in {t:?}");
                    }
                    for m in masked.captures_iter(t) {
                        assert!(
                            m[3].starts_with(KLAVIYO),
                            "a masked link out of Klaviyo in {t:?}"
                        );
                    }
                    for c in ["@everyone", "@here"] {
                        assert!(!t.to_lowercase().contains(c), "{c} in {t:?}");
                    }
                    // The only invisible characters are the renderer's own
                    // zero-width spaces, each right after `@` or `:` (or
                    // standing alone for an empty field).
                    let chars: Vec<char> = t.chars().collect();
                    for (i, &c) in chars.iter().enumerate() {
                        if c == '\u{200B}' {
                            let ok = chars.len() == 1
                                || matches!(i.checked_sub(1).map(|j| chars[j]), Some('@' | ':'));
                            assert!(ok, "a stray zero-width space in {t:?}");
                        } else {
                            assert!(
                                !is_hidden(c) && !is_zero_width(c),
                                "U+{:04X} in {t:?}",
                                c as u32
                            );
                        }
                    }
                    // Bare URLs are broken (`:` + zero-width space + `//`).
                    assert_urls_only_klaviyo("discord", t);
                    let visible = t.replace('\u{200B}', "");
                    seen.push_str(&visible);
                    seen.push('\n');
                }
            }
        }
    }
    // Markdown shows as typed (escaped), mentions are broken.
    for shown in [
        r"\*\*bold\*\*",
        r"\`code\`",
        r"\~\~x\~\~",
        r"\|\|spoiler\|\|",
        r"\> quote",
        r"\# heading",
    ] {
        assert!(seen.contains(shown), "{shown} missing from {seen}");
    }
    assert!(seen.contains(r"\<@&123\>") && seen.contains(r"\<@123456789012345678\>"));
    assert!(
        seen.contains(r"\[Open in Klaviyo\](https://evil.example)"),
        "{seen}"
    );
    assert!(
        seen.contains(r"\<https://evil.example\|Open in Klaviyo\>"),
        "{seen}"
    );
    for word in LETTERS {
        assert!(seen.contains(word), "{word} missing from {seen}");
    }
}

#[tokio::test]
async fn hostile_names_reach_the_console_as_inert_text() {
    let env = env().await;
    env.scan_with_the_flow_stopped().await;
    let events: Vec<_> = env
        .console
        .transcript()
        .into_iter()
        .filter(|e| e.channel == ChannelRef::console("client-mistral"))
        .collect();
    assert!(events.len() >= 2, "{events:#?}");
    let printed = env.printed.text();
    let mut all: Vec<&str> = events.iter().map(|e| e.text.as_str()).collect();
    all.push(&printed);
    for t in all {
        assert!(
            !t.contains('\u{1b}') && !t.contains('\u{9b}') && !t.contains('\u{7}'),
            "{t:?}"
        );
        assert_nothing_hidden("console", t);
        assert_no_broadcast("console", t);
        assert_urls_only_klaviyo("console", t);
    }
    let flow_card = events
        .iter()
        .find(|e| e.text.contains("Abandoned Checkout"))
        .expect("the stopped flow's card");
    let t = &flow_card.text;
    assert!(t.contains("＠everyone ＠here"), "{t}");
    assert!(t.contains("> quote # heading"), "one line: {t}");
    // Escape sequences lose their ESC (and so their power); their text shows.
    assert!(t.contains("[31mred[0m"), "{t}");
    assert!(
        t.contains("https[:]//evil.example") && t.contains("osc") && t.contains("bell"),
        "{t}"
    );
    assert!(t.contains("↗ https://www.klaviyo.com/flow/"), "{t}");
    let everything: String = events.iter().map(|e| e.text.as_str()).collect();
    assert!(
        everything.contains("[Open in Klaviyo](https[:]//evil.example)"),
        "{everything}"
    );
    for word in LETTERS {
        assert!(
            everything.contains(word),
            "{word} missing from {everything}"
        );
    }
}

#[tokio::test]
async fn a_deep_link_outside_klaviyo_becomes_the_dashboard_on_every_surface() {
    let env = env().await;
    let mut obs = support::observation(
        "flow-live-stopped",
        "evil",
        Severity::Critical,
        "Flow stopped",
    );
    obs.deep_link = "https://evil.example/phish?token=SECRET".into();
    let now = env.stack.clock.now();
    support::record(&env.stack.app, BRAND, obs, now, Mode::Normal).await;
    let pass = env.stack.app.deliverer.run_once().await.unwrap();
    assert_eq!(pass.failed, 0);
    let slack = env.slack.messages("client-mistral");
    let buttons: Vec<&str> = slack
        .iter()
        .flat_map(|m| m.blocks.iter())
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap())
        .filter_map(|e| e["url"].as_str())
        .collect();
    assert_eq!(buttons, [KLAVIYO_DASHBOARD]);
    let discord: Vec<String> = env
        .discord
        .messages(&env.ids[0])
        .iter()
        .flat_map(|m| m.components.iter())
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["url"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(discord, [KLAVIYO_DASHBOARD]);
    let console = env.console.transcript();
    assert!(
        console
            .iter()
            .any(|e| e.text.contains(&format!("↗ {KLAVIYO_DASHBOARD}"))),
        "{console:#?}"
    );
    for e in &console {
        assert!(!e.text.contains("evil"), "{}", e.text);
    }
}

#[test]
fn a_replaced_deep_link_is_logged_at_warn_without_its_query() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let link = tracing::subscriber::with_default(subscriber, || {
        deep_link("https://evil.example/phish?token=SECRET#frag")
    });
    assert_eq!(link.as_deref(), Some(KLAVIYO_DASHBOARD));
    let logged = logs.text();
    assert!(
        logged.contains("WARN") && logged.contains("evil.example"),
        "{logged}"
    );
    assert!(
        !logged.contains("SECRET") && !logged.contains("token") && !logged.contains("frag"),
        "{logged}"
    );
}
