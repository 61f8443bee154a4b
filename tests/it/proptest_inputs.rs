//! Property tests for every parser that takes outside input, and for the
//! renderers that show outside text: typed commands, Slack's slash-command
//! forms, interaction payloads, Events API bodies and Socket Mode envelopes,
//! Discord interactions, Klaviyo's JSON:API documents, and account text on
//! Slack, Discord and the console. Parsers are called directly (no network),
//! on small generated inputs, 10,000 cases each.

use crate::discord_support;

use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

use lookout::chat::console;
use lookout::chat::discord::inbound as discord_inbound;
use lookout::chat::discord::render as discord_render;
use lookout::chat::slack::blocks as slack_blocks;
use lookout::chat::slack::inbound as slack_inbound;
use lookout::chat::slack::socket::parse_payload;
use lookout::commands::parse::{ParseError, parse_line, parse_parts};
use lookout::commands::{ArgValue, Command, SnoozeSpec};
use lookout::domain::{ClientSlug, FindingId, Severity};
use lookout::klaviyo::{AggregateSeries, Resource};
use lookout::message::text::{is_bidi_control, is_hidden, is_zero_width};
use lookout::message::{Accent, Block, Message, RichText, Span};

const CASES: u32 = 10_000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Failures are reported with their input; no files are written.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------- generators ----------

/// Pieces of text that mean something to one parser or another.
const TOKENS: &[&str] = &[
    "/",
    "/lookout",
    "lookout",
    "scan",
    "ack",
    "snooze",
    "resolve",
    "note",
    "findings",
    "help",
    "route",
    "report",
    "F-12",
    "f-0",
    "12",
    "-1",
    "99999999999999999999999",
    "acme",
    "4h",
    "0h",
    "31d",
    "until-worse",
    "2026-02-30",
    "2026-12-01",
    "\"",
    "'",
    "#client-acme",
    "<#C0001>",
    "<@U0ANA>",
    "@ana",
    "<!channel>",
    "@everyone",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\u{202E}",
    "\u{200B}",
    "\u{1b}[31m",
    "\0",
    "é",
    "漢",
    "🙂",
    "=",
    "&",
    "%",
    "%ZZ",
    "%2F",
    "+",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "null",
    "true",
    "1e999",
    "\"type\"",
    "\"payload\"",
    "\\",
    "\\u0000",
    "\\ud800",
];

/// Strings built from the tokens above and arbitrary characters.
fn noisy_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(TOKENS).prop_map(str::to_owned),
            1 => any::<char>().prop_map(String::from),
        ],
        0..max,
    )
    .prop_map(|v| v.concat())
}

/// A small JSON value of any shape.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        noisy_text(6).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((noisy_text(3), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Every JSON pointer in `v` (the root included).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// How a valid JSON document is broken.
#[derive(Debug, Clone)]
enum Mutation {
    /// The value at a pointer is replaced.
    Replace(Index, Value),
    /// The value at a pointer is removed from its parent.
    Remove(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any_json()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        any::<Index>().prop_map(Mutation::Remove),
    ]
}

/// `doc` with up to three mutations applied.
fn mutate(mut doc: Value, mutations: &[Mutation]) -> Value {
    for m in mutations {
        let mut ptrs = Vec::new();
        pointers(&doc, String::new(), &mut ptrs);
        match m {
            Mutation::Replace(i, v) => {
                let p = i.get(&ptrs);
                if p.is_empty() {
                    doc = v.clone();
                } else if let Some(slot) = doc.pointer_mut(p) {
                    *slot = v.clone();
                }
            }
            Mutation::Remove(i) => {
                let p = i.get(&ptrs).clone();
                let Some((parent, key)) = p.rsplit_once('/') else {
                    continue;
                };
                let key = key.replace("~1", "/").replace("~0", "~");
                match doc.pointer_mut(parent) {
                    Some(Value::Object(o)) => {
                        o.remove(&key);
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(n) = key.parse::<usize>()
                            && n < a.len()
                        {
                            a.remove(n);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    doc
}

/// How a valid byte body is broken.
#[derive(Debug, Clone)]
enum ByteEdit {
    Truncate(Index),
    Flip(Index, u8),
    Insert(Index, Vec<u8>),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        any::<Index>().prop_map(ByteEdit::Truncate),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| ByteEdit::Flip(i, b)),
        (any::<Index>(), noisy_text(3)).prop_map(|(i, s)| ByteEdit::Insert(i, s.into_bytes())),
    ]
}

fn edit_bytes(mut body: Vec<u8>, edits: &[ByteEdit]) -> Vec<u8> {
    for e in edits {
        if body.is_empty() {
            break;
        }
        match e {
            ByteEdit::Truncate(i) => body.truncate(i.index(body.len())),
            ByteEdit::Flip(i, b) => {
                let n = i.index(body.len());
                body[n] ^= b;
            }
            ByteEdit::Insert(i, bytes) => {
                let n = i.index(body.len());
                body.splice(n..n, bytes.iter().copied());
            }
        }
    }
    body
}

/// An error is clear when it says something, on one line, in bounded length.
fn assert_clear(what: &str, msg: String) {
    assert!(!msg.trim().is_empty(), "{what}: empty error");
    assert!(!msg.contains('\n'), "{what}: multi-line error {msg:?}");
    assert!(
        msg.chars().count() <= 2_000,
        "{what}: error of {} chars",
        msg.chars().count()
    );
}

// ---------- (a) typed commands ----------

/// A slug that cannot be read as anything else (a severity, a number).
fn slug() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,12}".prop_map(|s| format!("cl-{s}"))
}

#[derive(Debug, Clone)]
struct Typed {
    name: &'static str,
    text: String,
    expected: Command,
}

fn finding() -> impl Strategy<Value = (String, FindingId)> {
    (
        1i64..10_000_000,
        prop::sample::select(&["F-", "f-", ""][..]),
    )
        .prop_map(|(n, prefix)| (format!("{prefix}{n}"), FindingId(n)))
}

fn snooze() -> impl Strategy<Value = (String, SnoozeSpec)> {
    prop_oneof![
        Just(("until-worse".to_owned(), SnoozeSpec::UntilWorse)),
        (1i64..=720, prop::sample::select(&["h", "hr", "hrs"][..]))
            .prop_map(|(n, u)| (format!("{n}{u}"), SnoozeSpec::For(Duration::hours(n)))),
        (1i64..=30, prop::sample::select(&["d", "day", "days"][..]))
            .prop_map(|(n, u)| (format!("{n}{u}"), SnoozeSpec::For(Duration::days(n)))),
        (
            1i64..=4,
            prop::sample::select(&["w", "wk", "week", "weeks"][..])
        )
            .prop_map(|(n, u)| (format!("{n}{u}"), SnoozeSpec::For(Duration::weeks(n)))),
        (2000i32..2100, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| (
            format!("{y:04}-{m:02}-{d:02}"),
            SnoozeSpec::UntilDate(NaiveDate::from_ymd_opt(y, m, d).unwrap())
        )),
    ]
}

fn typed() -> impl Strategy<Value = Typed> {
    let words = prop::collection::vec("[A-Za-z0-9.,!?-]{1,8}", 1..6).prop_map(|w| w.join(" "));
    prop_oneof![
        slug().prop_map(|s| Typed {
            name: "scan",
            expected: Command::new("scan")
                .arg("client", ArgValue::Client(ClientSlug::parse(&s).unwrap())),
            text: s,
        }),
        finding().prop_map(|(t, id)| Typed {
            name: "ack",
            text: t,
            expected: Command::new("ack").arg("finding", ArgValue::Finding(id)),
        }),
        (finding(), snooze()).prop_map(|((t, id), (s, spec))| Typed {
            name: "snooze",
            text: format!("{t} {s}"),
            expected: Command::new("snooze")
                .arg("finding", ArgValue::Finding(id))
                .arg("for", ArgValue::Snooze(spec)),
        }),
        (finding(), words.clone()).prop_map(|((t, id), why)| Typed {
            name: "resolve",
            text: format!("{t} {why}"),
            expected: Command::new("resolve")
                .arg("finding", ArgValue::Finding(id))
                .arg("reason", ArgValue::Text(why)),
        }),
        (finding(), words).prop_map(|((t, id), note)| Typed {
            name: "note",
            text: format!("{t} {note}"),
            expected: Command::new("note")
                .arg("finding", ArgValue::Finding(id))
                .arg("text", ArgValue::Text(note)),
        }),
        (
            slug(),
            prop::sample::select(
                &[
                    ("critical", Severity::Critical),
                    ("warning", Severity::Warning),
                    ("opportunity", Severity::Opportunity)
                ][..]
            )
        )
            .prop_map(|(s, (w, sev))| Typed {
                name: "findings",
                text: format!("{s} {w}"),
                expected: Command::new("findings")
                    .arg("client", ArgValue::Client(ClientSlug::parse(&s).unwrap()))
                    .arg("severity", ArgValue::Severity(sev)),
            }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn typed_lines_never_panic_and_errors_are_clear(line in noisy_text(24)) {
        if let Err(e) = parse_line(&line) {
            assert_clear("parse_line", e.to_string());
        }
    }

    #[test]
    fn command_parts_never_panic(name in noisy_text(4), text in noisy_text(16)) {
        match parse_parts(&name, &text) {
            Ok(_) => {}
            Err(ParseError::Empty) => prop_assert!(name.trim().trim_start_matches('/').trim().is_empty()),
            Err(e) => assert_clear("parse_parts", e.to_string()),
        }
    }

    #[test]
    fn valid_commands_parse_to_their_values(t in typed(), pad in "[ \t]{0,2}") {
        let line = format!("{pad}/{} {}{pad}", t.name, t.text);
        prop_assert_eq!(parse_line(&line), Ok(t.expected.clone()), "{}", line);
        prop_assert_eq!(parse_parts(t.name, &t.text), Ok(t.expected.clone()));
        let umbrella = format!("/lookout {} {}", t.name, t.text);
        prop_assert_eq!(parse_line(&umbrella), Ok(t.expected.clone()));
        prop_assert_eq!(parse_parts("lookout", &format!("{} {}", t.name, t.text)), Ok(t.expected));
    }
}

// ---------- (b) Slack payloads ----------

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut f = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        f.append_pair(k, v);
    }
    f.finish().into_bytes()
}

const SLASH_FIELDS: [(&str, &str); 8] = [
    ("token", "gIkuvaNzQIHg97ATvDxqgjtO"),
    ("team_id", "T0001"),
    ("channel_id", "C2147483705"),
    ("channel_name", "client-acme"),
    ("user_id", "U2147483697"),
    ("command", "/lookout"),
    ("text", "scan acme"),
    ("trigger_id", "13345224609.738474920.8088930838d88f008e0"),
];

fn block_actions() -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": "U0CA5", "username": "amy", "team_id": "T3MDE"},
        "api_app_id": "A0CA5",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0001"},
        "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
        "team": {"id": "T3MDE", "domain": "example"},
        "channel": {"id": "C0001", "name": "client-acme"},
        "message": {"type": "message", "ts": "1700000000.000100", "text": "Flow stopped", "blocks": []},
        "actions": [
            {"action_id": "lookout_snooze", "block_id": "b1", "type": "static_select",
             "selected_option": {"text": {"type": "plain_text", "text": "4 hours"}, "value": "F-12|4h"},
             "action_ts": "1700000050.1"}
        ]
    })
}

fn view_submission() -> Value {
    json!({
        "type": "view_submission",
        "team": {"id": "T3MDE", "domain": "example"},
        "user": {"id": "U0CA5", "username": "amy", "team_id": "T3MDE"},
        "trigger_id": "12466734323.1395872398.0bef1ae4b9a7",
        "view": {
            "id": "VNHU13V36", "type": "modal", "callback_id": "lookout_note",
            "private_metadata": "{\"finding\":\"F-12\",\"channel\":\"C0001\"}",
            "blocks": [],
            "state": {"values": {"lookout_note_block": {"lookout_note_text": {
                "type": "plain_text_input", "value": "client is migrating"
            }}}}
        }
    })
}

fn event_callback() -> Value {
    json!({
        "token": "XXYYZZ", "team_id": "T3MDE", "api_app_id": "A0CA5", "type": "event_callback",
        "event_id": "Ev08MFMKH6", "event_time": 1_700_000_100,
        "event": {
            "type": "message", "channel": "C0001", "user": "U0CA5",
            "text": "Client confirmed the pause is intentional",
            "ts": "1700000100.000200", "thread_ts": "1700000000.000100",
            "channel_type": "channel", "event_ts": "1700000100.000200"
        }
    })
}

fn slack_interaction_body(payload: &Value) -> Vec<u8> {
    form(&[("payload", &payload.to_string())])
}

/// Every Slack parser on `body`: none panics; each error is clear.
fn all_slack_parsers(body: &[u8]) {
    for (what, r) in [
        ("parse_command", slack_inbound::parse_command(body)),
        ("parse_interaction", slack_inbound::parse_interaction(body)),
        ("parse_event", slack_inbound::parse_event(body)),
    ] {
        if let Err(e) = r {
            assert_clear(what, e.to_string());
        }
    }
}

/// Reads a Socket Mode frame as the socket loop does: JSON or nothing, then
/// its `type` and `payload` through the shared payload parser.
fn socket_frame(text: &str) {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
    if let Some(p) = v.get("payload") {
        for k in [kind, "slash_commands", "interactive", "events_api"] {
            if let Err(e) = parse_payload(k, p) {
                assert_clear("parse_payload", e.to_string());
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn slack_parsers_take_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..64)) {
        all_slack_parsers(&body);
    }

    #[test]
    fn slack_parsers_take_json_ish_text(text in noisy_text(24)) {
        all_slack_parsers(text.as_bytes());
        all_slack_parsers(&form(&[("payload", &text)]));
        socket_frame(&text);
    }

    #[test]
    fn mutated_slash_command_forms_fail_clearly(
        drop in prop::collection::vec(any::<bool>(), SLASH_FIELDS.len()),
        values in prop::collection::vec(prop::option::of(noisy_text(6)), SLASH_FIELDS.len()),
        dup in any::<Option<Index>>(),
        edits in prop::collection::vec(byte_edit(), 0..2),
    ) {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (i, (k, v)) in SLASH_FIELDS.iter().enumerate() {
            if !drop[i] || i % 3 == 0 {
                pairs.push((k, values[i].clone().unwrap_or_else(|| (*v).to_owned())));
            }
        }
        if let Some(i) = dup {
            let (k, v) = SLASH_FIELDS[i.index(SLASH_FIELDS.len())];
            pairs.push((k, v.to_owned()));
        }
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = edit_bytes(form(&borrowed), &edits);
        all_slack_parsers(&body);
    }

    #[test]
    fn mutated_interactions_and_events_fail_clearly(
        which in 0..3usize,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let valid = [block_actions(), view_submission(), event_callback()][which].clone();
        let doc = mutate(valid, &mutations);
        all_slack_parsers(&slack_interaction_body(&doc));
        all_slack_parsers(doc.to_string().as_bytes());
        let kind = ["interactive", "interactive", "events_api"][which];
        let frame = json!({
            "envelope_id": "e1",
            "type": kind,
            "payload": doc,
        });
        socket_frame(&frame.to_string());
    }

    #[test]
    fn mutated_socket_envelopes_fail_clearly(mutations in prop::collection::vec(mutation(), 1..4)) {
        let frame = json!({
            "envelope_id": "1d3c2b1a",
            "type": "slash_commands",
            "accepts_response_payload": true,
            "payload": {
                "command": "/lookout", "text": "scan acme", "user_id": "U0ANA",
                "channel_id": "C0001", "trigger_id": "1.2.abc"
            },
        });
        socket_frame(&mutate(frame, &mutations).to_string());
    }
}

// ---------- (c) Discord interactions ----------

fn discord_valid(which: usize) -> Value {
    use discord_support::{button, interaction, select};
    let channel = "1100000000000000100";
    match which {
        0 => json!({"type": 1, "id": "1", "application_id": "2", "token": "t", "version": 1}),
        1 => interaction(
            1_300_000_000_000_000_001,
            2,
            channel,
            json!({"id": "9", "name": "snooze", "type": 1, "options": [
                {"name": "finding", "type": 3, "value": "F-12"},
                {"name": "for", "type": 3, "value": "4h"}
            ]}),
        ),
        2 => interaction(
            1_300_000_000_000_000_002,
            3,
            channel,
            button("lookout:ack:F-12"),
        ),
        3 => interaction(
            1_300_000_000_000_000_003,
            3,
            channel,
            select("lookout:snooze:F-12", "4h"),
        ),
        4 => interaction(
            1_300_000_000_000_000_004,
            4,
            channel,
            json!({"id": "9", "name": "scan", "type": 1, "options": [
                {"name": "client", "type": 3, "value": "ac", "focused": true}
            ]}),
        ),
        _ => interaction(
            1_300_000_000_000_000_005,
            5,
            channel,
            json!({"custom_id": "lookout:notemodal:F-12", "components": [
                {"type": 1, "components": [{"type": 4, "custom_id": "note", "value": "dev push"}]}
            ]}),
        ),
    }
}

fn discord_parse(body: &[u8]) {
    if let Err(e) = discord_inbound::parse(body) {
        assert_clear("discord parse", e.to_string());
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn discord_parser_takes_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..64)) {
        discord_parse(&body);
    }

    #[test]
    fn discord_parser_takes_json_ish_text(text in noisy_text(24)) {
        discord_parse(text.as_bytes());
    }

    #[test]
    fn discord_parser_takes_any_json(v in any_json()) {
        if let Err(e) = discord_inbound::parse_value(&v) {
            assert_clear("discord parse_value", e.to_string());
        }
    }

    #[test]
    fn mutated_discord_interactions_fail_clearly(
        which in 0..6usize,
        mutations in prop::collection::vec(mutation(), 1..4),
        edits in prop::collection::vec(byte_edit(), 0..2),
    ) {
        let doc = mutate(discord_valid(which), &mutations);
        if let Err(e) = discord_inbound::parse_value(&doc) {
            assert_clear("discord parse_value", e.to_string());
        }
        discord_parse(&edit_bytes(doc.to_string().into_bytes(), &edits));
    }
}

// ---------- (d) Klaviyo documents ----------

fn aggregate_doc() -> Value {
    json!({"data": {"type": "metric-aggregate", "id": "x", "attributes": {
        "dates": ["2026-01-01T00:00:00+00:00", "2026-01-01T01:00:00+00:00"],
        "data": [{"dimensions": [], "measurements": {"count": [1.0, 2.0], "sum_value": [10.5, 0.0]}}]
    }}})
}

fn jsonapi_doc() -> Value {
    json!({
        "data": [
            {"type": "flow", "id": "AbC123", "attributes": {"name": "Welcome", "status": "live",
             "archived": false, "trigger_type": "Added to List"},
             "relationships": {"tags": {"data": []}}, "links": {"self": "https://a.klaviyo.com/api/flows/AbC123/"}},
            {"type": "list", "id": "Xy9", "attributes": {"name": "Newsletter", "opt_in_process": "double_opt_in"}}
        ],
        "links": {"self": "https://a.klaviyo.com/api/flows/", "next": null}
    })
}

/// What the client does with a document: its resources, one by one.
fn decode_resources(doc: &Value) {
    match doc.get("data") {
        Some(Value::Array(items)) => {
            for item in items {
                let _ = serde_json::from_value::<Resource>(item.clone());
            }
        }
        Some(one) => {
            let _ = serde_json::from_value::<Resource>(one.clone());
        }
        None => {}
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn klaviyo_resources_decode_or_fail_on_any_json(v in any_json()) {
        let _ = serde_json::from_value::<Resource>(v.clone());
        decode_resources(&v);
        for m in [&["count"][..], &["count", "sum_value"][..]] {
            if let Err(e) = AggregateSeries::from_value(&v, m) {
                assert_clear("aggregate", e.to_string());
            }
        }
    }

    #[test]
    fn klaviyo_pages_decode_or_fail_clearly(v in any_json()) {
        match lookout::klaviyo::Page::from_value(v) {
            Ok(page) => prop_assert!(page.data.iter().all(|r| !r.kind.is_empty() || r.kind.is_empty())),
            Err(e) => assert_clear("page", e.to_string()),
        }
    }

    #[test]
    fn klaviyo_error_bodies_become_one_line(bytes in prop::collection::vec(any::<u8>(), 0..256), v in any_json()) {
        for body in [bytes, serde_json::to_vec(&serde_json::json!({"errors": [v.clone()]})).unwrap_or_default(), serde_json::to_vec(&v).unwrap_or_default()] {
            let line = lookout::klaviyo::error_detail(&body);
            prop_assert!(!line.contains('\n'), "{line:?}");
            prop_assert!(line.chars().count() <= 600, "{} chars", line.chars().count());
        }
    }

    #[test]
    fn klaviyo_text_never_panics(text in noisy_text(24)) {
        let _ = serde_json::from_str::<Resource>(&text);
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            decode_resources(&v);
            let _ = AggregateSeries::from_value(&v, &["count"]);
        }
    }

    #[test]
    fn mutated_klaviyo_documents_fail_clearly(
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let doc = mutate(jsonapi_doc(), &mutations);
        decode_resources(&doc);
        let agg = mutate(aggregate_doc(), &mutations);
        match AggregateSeries::from_value(&agg, &["count", "sum_value"]) {
            Ok(s) => {
                prop_assert_eq!(s.count.len(), s.dates.len());
                prop_assert_eq!(s.sum_value.len(), s.dates.len());
                prop_assert!(s.count.iter().chain(&s.sum_value).all(|f| f.is_finite()));
            }
            Err(e) => assert_clear("aggregate", e.to_string()),
        }
    }
}

// ---------- rendering account text ----------

/// Text a client account could hold: chat markup of every platform, hidden
/// characters, escapes, arbitrary characters.
fn account_text() -> impl Strategy<Value = String> {
    const HOSTILE: &[&str] = &[
        "<!channel>",
        "<!here>",
        "<!subteam^S123>",
        "@everyone",
        "@here",
        "@channel",
        "@",
        "<@U0ABC>",
        "<@123456789012345678>",
        "<@&123>",
        "<#C0123>",
        "<t:1:R>",
        "</scan:1>",
        "<https://evil.example|Open in Klaviyo>",
        "[Open in Klaviyo](https://evil.example)",
        "https://evil.example",
        "://",
        "http:",
        "//",
        "**",
        "*",
        "_",
        "~~",
        "`",
        "```",
        "> ",
        "# ",
        "-# ",
        "||",
        "\\",
        "<",
        ">",
        "&",
        "&lt;",
        "|",
        "[",
        "]",
        "(",
        ")",
        ":",
        "\n",
        "\r",
        "\t",
        "\u{202A}",
        "\u{202E}",
        "\u{2066}",
        "\u{2069}",
        "\u{200E}",
        "\u{200F}",
        "\u{061C}",
        "\u{200B}",
        "\u{200C}",
        "\u{200D}",
        "\u{2060}",
        "\u{FEFF}",
        "\u{2028}",
        "\u{85}",
        "\u{1b}",
        "\u{1b}[31m",
        "\u{1b}]8;;https://evil.example\u{7}",
        "\u{9b}",
        "\0",
        "\u{7f}",
        "here",
        "everyone",
        "channel",
        "HERE",
        "Everyone",
        " ",
        "a",
        "é",
        "🙂",
        "＠",
    ];
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(HOSTILE).prop_map(str::to_owned),
            1 => any::<char>().prop_map(String::from),
        ],
        0..12,
    )
    .prop_map(|v| v.concat())
}

/// A message whose every text is account text (no Lookout links or
/// mentions). `Span::Code` is left out: it holds Lookout's own ids and
/// commands, never account text.
fn account_message(t: &str, strong: bool) -> Message {
    let inline = if strong {
        Span::Strong(t.to_owned())
    } else {
        Span::Plain(t.to_owned())
    };
    Message {
        accent: Accent::Info,
        blocks: vec![
            Block::Header(t.to_owned()),
            Block::Text(RichText(vec![Span::Plain(t.to_owned()), inline])),
            Block::Fields(vec![(t.to_owned(), RichText::plain(t))]),
            Block::Context(RichText::plain(t)),
        ],
    }
}

fn broadcast_free(what: &str, s: &str) {
    let lower = s.to_lowercase();
    for b in ["@everyone", "@here", "@channel"] {
        assert!(!lower.contains(b), "{what}: {b} in {s:?}");
    }
}

fn nothing_hidden(what: &str, s: &str, allowed_zwsp: bool) {
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if allowed_zwsp && c == '\u{200B}' {
            let after = i.checked_sub(1).map(|j| chars[j]);
            assert!(
                chars.len() == 1 || matches!(after, Some('@' | ':')),
                "{what}: a stray zero-width space in {s:?}"
            );
            continue;
        }
        assert!(
            !is_hidden(c) && !is_zero_width(c) && !is_bidi_control(c),
            "{what}: U+{:04X} in {s:?}",
            c as u32
        );
    }
}

/// Whether the char at byte `i` of `s` is escaped by an odd run of backslashes.
fn escaped(s: &str, i: usize) -> bool {
    s[..i].bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1
}

fn slack_texts<'a>(v: &'a Value, out: &mut Vec<(&'a str, &'a str)>) {
    match v {
        Value::Object(o) => {
            if let (Some(t), Some(s)) = (
                o.get("type").and_then(Value::as_str),
                o.get("text").and_then(Value::as_str),
            ) {
                out.push((t, s));
            }
            o.values().for_each(|x| slack_texts(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| slack_texts(x, out)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn account_text_is_inert_on_slack(t in account_text(), strong in any::<bool>()) {
        let (blocks, fallback) = slack_blocks::render(&account_message(&t, strong));
        let all = Value::Array(blocks.clone());
        let mut texts = Vec::new();
        slack_texts(&all, &mut texts);
        for (kind, s) in texts.into_iter().chain([("mrkdwn", fallback.as_str())]) {
            if kind == "mrkdwn" {
                // No Lookout markup in this message: any `<` would be live.
                prop_assert!(!s.contains('<') && !s.contains('>'), "{:?}", s);
            }
            broadcast_free("slack", s);
            nothing_hidden("slack", s, false);
        }
        for b in &blocks {
            prop_assert!(b.get("url").is_none());
        }
    }

    #[test]
    fn account_text_is_inert_on_discord(t in account_text()) {
        let r = discord_render::render(&account_message(&t, false), None);
        prop_assert!(r.content.is_empty() && r.mentioned.is_empty());
        let body = r.payload();
        prop_assert_eq!(&body["allowed_mentions"]["parse"], &json!([]));
        let mut texts = Vec::new();
        for e in &r.embeds {
            for k in ["title", "description"] {
                if let Some(s) = e[k].as_str() {
                    texts.push((true, s.to_owned()));
                }
            }
            for f in e["fields"].as_array().into_iter().flatten() {
                texts.push((true, f["name"].as_str().unwrap_or_default().to_owned()));
                texts.push((true, f["value"].as_str().unwrap_or_default().to_owned()));
            }
            if let Some(s) = e["footer"]["text"].as_str() {
                // Footers show no markdown: only mentions and URLs matter there.
                texts.push((false, s.to_owned()));
            }
        }
        for (markdown, s) in texts {
            nothing_hidden("discord", &s, true);
            prop_assert!(!s.contains("://"), "a bare URL in {:?}", s);
            for (i, _) in s.match_indices('@') {
                prop_assert!(s[i + 1..].starts_with('\u{200B}'), "a live @ in {:?}", s);
            }
            if markdown {
                // Lookout's own markup: the `-# ` of a context line.
                let s = s.replace("\n-# ", "\n").trim_start_matches("-# ").to_owned();
                for (i, c) in s.char_indices() {
                    if matches!(c, '<' | '[' | ']' | '|' | '*' | '_' | '~' | '`' | '>' | '#') {
                        prop_assert!(escaped(&s, i), "unescaped {:?} at {} in {:?}", c, i, s);
                    }
                }
            }
        }
    }

    #[test]
    fn account_text_is_inert_on_the_console(t in account_text(), strong in any::<bool>()) {
        let s = console::render(&account_message(&t, strong));
        prop_assert!(!s.chars().any(|c| c.is_control() && c != '\n'), "{:?}", s);
        nothing_hidden("console", &s, false);
        // A terminal has no mentions: an `@` that starts a word is what would
        // read as one (`ana@acme.com` is an address, not a mention).
        let chars: Vec<char> = s.chars().collect();
        for (i, _) in chars.iter().enumerate().filter(|(_, c)| **c == '@') {
            let word_start = i == 0 || !chars[i - 1].is_alphanumeric();
            let rest: String = chars[i + 1..].iter().take(8).collect::<String>().to_lowercase();
            prop_assert!(
                !(word_start && ["everyone", "here", "channel"].iter().any(|w| rest.starts_with(w))),
                "a broadcast in {:?}", s
            );
        }
        prop_assert!(!s.contains("://"), "a bare URL in {:?}", s);
    }
}
