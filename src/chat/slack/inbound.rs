//! Slack's inbound payloads parsed into neutral `Inbound` events: pure functions.
//!
//! Three shapes arrive over HTTP, already signature-checked by `verify`:
//! slash commands (a form), interactivity (a form whose `payload` field is
//! JSON: `block_actions` from our buttons and snooze select, `view_submission`
//! from the "Add note" modal) and the Events API (JSON: the `url_verification`
//! handshake and human replies in threads). Each parser returns a
//! `SlackRequest`: a challenge to echo, an event to hand on, or a reason it is
//! ignored. People and channels become `slack:<id>` references, and Slack's
//! mention syntax in command text (`<#C0123|name>`, `<@U0123>`) is decoded
//! into the same form here, so the command parser never sees Slack syntax.
//! Anything malformed is a `ParseError`, never a panic: these bytes come from
//! the network.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::blocks::action_ids;
use crate::domain::FindingId;
use crate::message::{ActionKind, Actor, ChannelRef, Inbound, MessageRef, PersonRef, Platform};

/// The surface name put on every actor from Slack.
pub const SURFACE: &str = "slack";
/// `callback_id` of the "Add note" modal.
pub const NOTE_CALLBACK_ID: &str = "lookout_note";
/// `block_id` of the modal's input block.
pub const NOTE_BLOCK_ID: &str = "lookout_note_block";
/// `action_id` of the modal's text input.
pub const NOTE_INPUT_ID: &str = "lookout_note_text";
/// The umbrella slash command that prefixes every other command.
pub const UMBRELLA: &str = "lookout";
/// Longest note the modal accepts (Slack's plain text input allows 3000).
pub const NOTE_MAX_CHARS: u32 = 3000;

/// Why a verified Slack payload could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The body is not UTF-8 text.
    #[error("the request body is not UTF-8 text; Slack always sends UTF-8")]
    NotUtf8,
    /// A form field appears twice.
    #[error("the form field `{0}` appears more than once")]
    DuplicateField(String),
    /// A required field is absent or empty.
    #[error(
        "the Slack payload has no `{0}`; is the app's request URL pointing at the right endpoint?"
    )]
    Missing(&'static str),
    /// A field is present but not in the shape Slack documents.
    #[error("the Slack payload's `{field}` is invalid: {reason}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The JSON is not JSON, or not the documented shape.
    #[error("the Slack payload is not the expected JSON: {0}")]
    Json(String),
    /// A control Lookout did not render was clicked.
    #[error("unknown action `{0}`: the message was not rendered by this version of Lookout")]
    UnknownAction(String),
}

/// What a Slack request asks of Lookout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackRequest {
    /// Events API URL verification: answer with this challenge.
    Challenge(String),
    /// An event to dispatch once its channel name is known.
    Event(Received),
    /// Valid but not for Lookout; the reason is for logs.
    Ignored(&'static str),
}

/// A parsed event, with Slack's trigger for a modal kept alongside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The event, its people and channels as `slack:<id>`.
    pub event: Inbound,
    /// A slash command's `trigger_id` (a button's is in its event).
    pub trigger: Option<String>,
}

impl Received {
    /// The neutral event.
    pub fn into_event(self) -> Inbound {
        self.event
    }

    /// The channel the event came from.
    pub fn channel(&self) -> &ChannelRef {
        &self.event.actor().channel
    }

    /// Slack's `trigger_id`, for opening a modal in answer.
    pub fn trigger(&self) -> Option<&str> {
        match &self.event {
            Inbound::Button { trigger, .. } => trigger.as_deref(),
            _ => self.trigger.as_deref(),
        }
    }

    /// The person who acted.
    pub fn user(&self) -> &PersonRef {
        &self.event.actor().person
    }
}

/// What the "Add note" modal carries through Slack and back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct NoteMetadata {
    /// The finding, as `F-12`.
    pub finding: String,
    /// The channel the button was in (Slack id).
    pub channel: String,
}

/// The `views.open` view for the "Add note" modal of `finding`, clicked in `channel`.
pub fn note_view(finding: FindingId, channel: &str) -> Value {
    let meta = NoteMetadata {
        finding: finding.to_string(),
        channel: channel.to_owned(),
    };
    // Serializing two strings cannot fail; an empty metadata would only make
    // the submission fail to parse, never panic.
    let private_metadata = serde_json::to_string(&meta).unwrap_or_default();
    json!({
        "type": "modal",
        "callback_id": NOTE_CALLBACK_ID,
        "private_metadata": private_metadata,
        "title": {"type": "plain_text", "text": format!("Note on {finding}")},
        "submit": {"type": "plain_text", "text": "Save note"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{
            "type": "input",
            "block_id": NOTE_BLOCK_ID,
            "label": {"type": "plain_text", "text": "Internal note (not shown to the client)"},
            "element": {
                "type": "plain_text_input",
                "action_id": NOTE_INPUT_ID,
                "multiline": true,
                "max_length": NOTE_MAX_CHARS
            }
        }]
    })
}

/// The `callback_id` of the private-key modal.
pub const KEY_CALLBACK_ID: &str = "lookout_key";
/// Its input block and element.
const KEY_BLOCK_ID: &str = "lookout_key_block";
const KEY_INPUT_ID: &str = "lookout_key_text";

/// What the private-key modal carries through Slack and back (never the key).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
struct KeyMetadata {
    client: String,
    ends_at: i64,
    channel: String,
}

/// The `views.open` view in which a lead types a client's private API key:
/// it reaches Lookout in the submission only, never in a message.
pub fn key_view(d: &crate::message::KeyDialog, channel: &str) -> Value {
    let meta = KeyMetadata {
        client: d.client.to_string(),
        ends_at: d.ends_at.timestamp(),
        channel: channel.to_owned(),
    };
    // Serializing strings and a number cannot fail; an empty metadata only fails the submission.
    let private_metadata = serde_json::to_string(&meta).unwrap_or_default();
    let name: String = crate::message::text::one_line(&d.client_name)
        .chars()
        .take(60)
        .collect();
    json!({
        "type": "modal",
        "callback_id": KEY_CALLBACK_ID,
        "private_metadata": private_metadata,
        "title": {"type": "plain_text", "text": "Connect by private key"},
        "submit": {"type": "plain_text", "text": "Connect"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "plain_text", "text": format!(
                "Paste a Read-only private API key of {name}'s Klaviyo account. Only you see this form; the key is sealed at once and never shown again. Access ends {}.",
                d.ends_at.format("%Y-%m-%d")
            )}},
            {
                "type": "input",
                "block_id": KEY_BLOCK_ID,
                "label": {"type": "plain_text", "text": "Private API key (pk_...)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": KEY_INPUT_ID,
                    "min_length": 10,
                    "max_length": 200
                }
            }
        ]
    })
}

fn key_submission(view: View, user: Option<String>) -> Result<SlackRequest, ParseError> {
    let meta = view
        .private_metadata
        .filter(|m| !m.is_empty())
        .ok_or(ParseError::Missing("view.private_metadata"))?;
    let meta: KeyMetadata = serde_json::from_str(&meta)
        .map_err(|e| invalid("view.private_metadata", &json_error(e).to_string()))?;
    let client = crate::domain::ClientSlug::parse(&meta.client)
        .map_err(|_| invalid("view.private_metadata.client", "not a client"))?;
    let ends_at = chrono::DateTime::from_timestamp(meta.ends_at, 0)
        .ok_or_else(|| invalid("view.private_metadata.ends_at", "not a time"))?;
    let channel_id = channel_ref("view.private_metadata.channel", &meta.channel)?;
    let key = view
        .state
        .and_then(|mut s| s.values.remove(KEY_BLOCK_ID))
        .and_then(|mut b| b.remove(KEY_INPUT_ID))
        .and_then(|i| i.value)
        .ok_or(ParseError::Missing("view.state.values"))?;
    let user = slack_id("user.id", user.as_deref())?;
    Ok(SlackRequest::Event(Received {
        event: Inbound::KeySubmitted {
            actor: actor(user, &channel_id)?,
            client,
            ends_at,
            key: crate::config::Secret::new(key),
        },
        trigger: None,
    }))
}

/// Parses a slash command form (`command`, `text`, `user_id`, `channel_id`, ...).
pub fn parse_command(body: &[u8]) -> Result<SlackRequest, ParseError> {
    let form = parse_form(body)?;
    let field = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let command = field("command").ok_or(ParseError::Missing("command"))?;
    let mut name = command.trim().trim_start_matches('/').to_owned();
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("command", "not a slash command name"));
    }
    let mut text = field("text").unwrap_or_default().trim().to_owned();
    if name.eq_ignore_ascii_case(UMBRELLA) && !text.is_empty() {
        // `/lookout scan acme` is `/scan acme`.
        let (first, rest) = text.split_once(char::is_whitespace).unwrap_or((&text, ""));
        let (first, rest) = (
            first.trim_start_matches('/').to_owned(),
            rest.trim().to_owned(),
        );
        name = first;
        text = rest;
    }
    let user = slack_id("user_id", field("user_id"))?;
    let channel_id = slack_id("channel_id", field("channel_id"))?;
    Ok(SlackRequest::Event(Received {
        event: Inbound::Command {
            actor: actor(user, &channel_id)?,
            name,
            text: decode_mentions(&text),
        },
        trigger: field("trigger_id").map(str::to_owned),
    }))
}

/// Parses an interactivity form: its `payload` field is `block_actions` or `view_submission` JSON.
pub fn parse_interaction(body: &[u8]) -> Result<SlackRequest, ParseError> {
    let form = parse_form(body)?;
    let payload = form
        .get("payload")
        .filter(|p| !p.is_empty())
        .ok_or(ParseError::Missing("payload"))?;
    let payload: Interaction = serde_json::from_str(payload).map_err(json_error)?;
    match payload.kind.as_str() {
        "block_actions" => block_action(payload),
        "view_submission" => view_submission(payload),
        _ => Ok(SlackRequest::Ignored(
            "an interaction type Lookout does not use",
        )),
    }
}

/// Parses an Events API body: the URL check, or an `event_callback`.
pub fn parse_event(body: &[u8]) -> Result<SlackRequest, ParseError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(json_error)?;
    match envelope.kind.as_str() {
        "url_verification" => {
            let challenge = envelope
                .challenge
                .filter(|c| !c.is_empty())
                .ok_or(ParseError::Missing("challenge"))?;
            Ok(SlackRequest::Challenge(challenge))
        }
        "event_callback" => {
            let event = envelope.event.ok_or(ParseError::Missing("event"))?;
            message_event(event)
        }
        _ => Ok(SlackRequest::Ignored(
            "an Events API envelope Lookout does not use",
        )),
    }
}

fn block_action(p: Interaction) -> Result<SlackRequest, ParseError> {
    let action = p
        .actions
        .into_iter()
        .next()
        .ok_or(ParseError::Missing("actions"))?;
    let id = action.action_id.as_str();
    if id.starts_with(action_ids::LINK_PREFIX) {
        // Link buttons open Klaviyo in the browser; Slack still tells us.
        return Ok(SlackRequest::Ignored("a link button"));
    }
    let kind = match id {
        action_ids::ACK => ActionKind::Acknowledge,
        action_ids::SNOOZE => ActionKind::Snooze,
        action_ids::RESOLVE => ActionKind::Resolve,
        action_ids::NOTE => ActionKind::AddNote,
        action_ids::REOPEN => ActionKind::Reopen,
        other => {
            // Echoed in logs and errors: one visible line, capped.
            return Err(ParseError::UnknownAction(
                crate::message::text::one_line(other)
                    .chars()
                    .take(80)
                    .collect::<String>(),
            ));
        }
    };
    let (finding, choice) = match kind {
        ActionKind::Snooze => {
            let value = action
                .selected_option
                .and_then(|o| o.value)
                .ok_or(ParseError::Missing("selected_option.value"))?;
            let (finding, choice) = value
                .split_once('|')
                .ok_or_else(|| invalid("selected_option.value", "not `F-12|4h`"))?;
            if choice.is_empty() {
                return Err(invalid("selected_option.value", "no snooze length"));
            }
            (finding_id(finding)?, Some(choice.to_owned()))
        }
        _ => {
            let value = action.value.ok_or(ParseError::Missing("actions.value"))?;
            (finding_id(&value)?, None)
        }
    };
    let user = slack_id("user.id", p.user.and_then(|u| u.id).as_deref())?;
    let channel = match (p.channel, p.container) {
        (Some(Channel { id: Some(id), .. }), _) => Some(id),
        (_, Some(c)) => c.channel_id,
        _ => None,
    };
    let channel_id = slack_id("channel.id", channel.as_deref())?;
    Ok(SlackRequest::Event(Received {
        event: Inbound::Button {
            actor: actor(user, &channel_id)?,
            action: kind,
            finding,
            choice,
            trigger: p.trigger_id.filter(|t| !t.is_empty()),
        },
        trigger: None,
    }))
}

fn view_submission(p: Interaction) -> Result<SlackRequest, ParseError> {
    let view = p.view.ok_or(ParseError::Missing("view"))?;
    if view.callback_id.as_deref() == Some(KEY_CALLBACK_ID) {
        return key_submission(view, p.user.and_then(|u| u.id));
    }
    if view.callback_id.as_deref() != Some(NOTE_CALLBACK_ID) {
        return Ok(SlackRequest::Ignored("a modal Lookout did not open"));
    }
    let meta = view
        .private_metadata
        .filter(|m| !m.is_empty())
        .ok_or(ParseError::Missing("view.private_metadata"))?;
    let meta: NoteMetadata = serde_json::from_str(&meta)
        .map_err(|e| invalid("view.private_metadata", &json_error(e).to_string()))?;
    let finding = finding_id(&meta.finding)?;
    let channel_id = channel_ref("view.private_metadata.channel", &meta.channel)?;
    let input = view
        .state
        .and_then(|mut s| s.values.remove(NOTE_BLOCK_ID))
        .and_then(|mut b| b.remove(NOTE_INPUT_ID))
        .ok_or(ParseError::Missing("view.state.values"))?;
    // An emptied optional input arrives as `null`; the handler refuses empty notes.
    let text = input.value.unwrap_or_default();
    let user = slack_id("user.id", p.user.and_then(|u| u.id).as_deref())?;
    Ok(SlackRequest::Event(Received {
        event: Inbound::NoteSubmitted {
            actor: actor(user, &channel_id)?,
            finding,
            text,
        },
        trigger: None,
    }))
}

fn message_event(e: Event) -> Result<SlackRequest, ParseError> {
    if e.kind.as_deref() != Some("message") {
        return Ok(SlackRequest::Ignored("an event type Lookout does not use"));
    }
    if e.bot_id.is_some() {
        return Ok(SlackRequest::Ignored("a bot's message"));
    }
    if e.subtype.is_some() {
        // Edits, deletions, joins, file shares: not a person writing a reply.
        return Ok(SlackRequest::Ignored("a message with a subtype"));
    }
    let ts = e.ts.ok_or(ParseError::Missing("event.ts"))?;
    let Some(thread_ts) = e.thread_ts.filter(|t| *t != ts) else {
        return Ok(SlackRequest::Ignored("a message outside a thread"));
    };
    check_ts("event.ts", &ts)?;
    check_ts("event.thread_ts", &thread_ts)?;
    let user = slack_id("event.user", e.user.as_deref())?;
    let channel_id = slack_id("event.channel", e.channel.as_deref())?;
    Ok(SlackRequest::Event(Received {
        event: Inbound::ThreadReply {
            actor: actor(user, &channel_id)?,
            thread: MessageRef(thread_ts),
            message: MessageRef(ts),
            text: e.text.unwrap_or_default(),
        },
        trigger: None,
    }))
}

// Lean shapes: only the fields Lookout reads; unknown fields are ignored so
// Slack can add more without breaking us.

#[derive(Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: String,
    user: Option<User>,
    channel: Option<Channel>,
    container: Option<Container>,
    trigger_id: Option<String>,
    #[serde(default)]
    actions: Vec<BlockAction>,
    view: Option<View>,
}

#[derive(Deserialize)]
struct User {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Channel {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Container {
    channel_id: Option<String>,
}

#[derive(Deserialize)]
struct BlockAction {
    action_id: String,
    value: Option<String>,
    selected_option: Option<SelectedOption>,
}

#[derive(Deserialize)]
struct SelectedOption {
    value: Option<String>,
}

#[derive(Deserialize)]
struct View {
    callback_id: Option<String>,
    private_metadata: Option<String>,
    state: Option<ViewState>,
}

#[derive(Deserialize)]
struct ViewState {
    #[serde(default)]
    values: HashMap<String, HashMap<String, InputValue>>,
}

#[derive(Deserialize)]
struct InputValue {
    value: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    challenge: Option<String>,
    event: Option<Event>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: Option<String>,
    subtype: Option<String>,
    bot_id: Option<String>,
    user: Option<String>,
    channel: Option<String>,
    text: Option<String>,
    ts: Option<String>,
    thread_ts: Option<String>,
}

/// Decodes a form body; a field given twice is refused rather than guessed at.
fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, ParseError> {
    std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8)?;
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            // Escaped so a field name with a line break stays one line.
            let name: String = k.chars().take(40).collect();
            return Err(ParseError::DuplicateField(name.escape_debug().to_string()));
        }
    }
    Ok(out)
}

/// A JSON error by kind and position only: serde's own text can quote the
/// payload, and errors are logged.
fn json_error(e: serde_json::Error) -> ParseError {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "not the documented shape",
        serde_json::error::Category::Eof => "cut short",
    };
    ParseError::Json(format!("{kind} at line {} column {}", e.line(), e.column()))
}

fn invalid(field: &'static str, reason: &str) -> ParseError {
    ParseError::Invalid {
        field,
        reason: reason.to_owned(),
    }
}

fn actor(user: String, channel_id: &str) -> Result<Actor, ParseError> {
    Ok(Actor {
        person: PersonRef::new(Platform::Slack, user)
            .map_err(|e| invalid("user", &e.to_string()))?,
        channel: ChannelRef::new(Platform::Slack, channel_id)
            .map_err(|e| invalid("channel", &e.to_string()))?,
    })
}

/// Slack's escaped channel and user mentions in command text
/// (`<#C0123|client-acme>`, `<@U0123>`, `<@U0123|ana>`) as `slack:<id>`;
/// special mentions (`<!here>`) lose their brackets so they stay inert text.
pub fn decode_mentions(text: &str) -> String {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        // Invariant: a literal pattern, exercised by the tests below, so it compiles.
        regex::Regex::new(r"<([#@!])([A-Za-z0-9^_-]+)(?:\|[^>]*)?>").expect("literal regex")
    });
    re.replace_all(text, |c: &regex::Captures<'_>| match &c[1] {
        "!" => c[2].to_owned(),
        _ => format!("slack:{}", &c[2]),
    })
    .into_owned()
}

fn finding_id(s: &str) -> Result<FindingId, ParseError> {
    FindingId::parse(s).map_err(|_| invalid("finding", "not a finding id like F-12"))
}

/// Whether `s` has the shape of a Slack id (`U0123ABC`, `C0123`, `W…`, `D…`).
pub fn is_slack_id(s: &str) -> bool {
    (2..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A present, Slack-shaped id; ids end up in logs and API calls, so nothing else passes.
fn slack_id(field: &'static str, v: Option<&str>) -> Result<String, ParseError> {
    let v = v
        .filter(|v| !v.is_empty())
        .ok_or(ParseError::Missing(field))?;
    if is_slack_id(v) {
        Ok(v.to_owned())
    } else {
        Err(invalid(field, "not a Slack id"))
    }
}

/// A channel id, or a channel name (lowercase, digits, `-`, `_`) from metadata we wrote.
fn channel_ref(field: &'static str, v: &str) -> Result<String, ParseError> {
    let v = v.trim_start_matches('#');
    let name_like = !v.is_empty()
        && v.len() <= 80
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if is_slack_id(v) || name_like {
        Ok(v.to_owned())
    } else {
        Err(invalid(field, "not a Slack channel"))
    }
}

/// A message timestamp: `1700000000.000100`.
fn check_ts(field: &'static str, ts: &str) -> Result<(), ParseError> {
    let ok = ts.split_once('.').is_some_and(|(s, us)| {
        !s.is_empty()
            && !us.is_empty()
            && s.len() <= 12
            && us.len() <= 9
            && s.bytes().all(|b| b.is_ascii_digit())
            && us.bytes().all(|b| b.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(field, "not a Slack message timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes()
    }

    fn event(r: SlackRequest) -> Received {
        match r {
            SlackRequest::Event(e) => e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    fn slash(command: &str, text: &str) -> Vec<u8> {
        form(&[
            ("token", "gIkuvaNzQIHg97ATvDxqgjtO"),
            ("team_id", "T0001"),
            ("team_domain", "example"),
            ("channel_id", "C2147483705"),
            ("channel_name", "client-acme"),
            ("user_id", "U2147483697"),
            ("user_name", "steve"),
            ("command", command),
            ("text", text),
            ("api_app_id", "A123456"),
            ("response_url", "https://hooks.slack.com/commands/1234/5678"),
            ("trigger_id", "13345224609.738474920.8088930838d88f008e0"),
        ])
    }

    /// A `block_actions` payload as Slack sends it for a click on our message.
    fn block_actions(action: Value) -> Value {
        json!({
            "type": "block_actions",
            "user": {"id": "U0CA5", "username": "amy", "name": "amy", "team_id": "T3MDE"},
            "api_app_id": "A0CA5",
            "token": "Shh_its_a_seekrit",
            "container": {"type": "message", "message_ts": "1700000000.000100",
                          "channel_id": "C0001", "is_ephemeral": false},
            "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
            "team": {"id": "T3MDE", "domain": "example"},
            "enterprise": null,
            "is_enterprise_install": false,
            "channel": {"id": "C0001", "name": "client-acme"},
            "message": {"type": "message", "ts": "1700000000.000100", "bot_id": "B0001",
                        "text": "Flow stopped", "blocks": []},
            "state": {"values": {}},
            "response_url": "https://hooks.slack.com/actions/T3MDE/1/abc",
            "actions": [action]
        })
    }

    fn interaction(payload: &Value) -> Vec<u8> {
        form(&[("payload", &payload.to_string())])
    }

    fn submission(meta: &str, text: Option<&str>) -> Value {
        json!({
            "type": "view_submission",
            "team": {"id": "T3MDE", "domain": "example"},
            "user": {"id": "U0CA5", "username": "amy", "team_id": "T3MDE"},
            "api_app_id": "A0CA5",
            "token": "Shh_its_a_seekrit",
            "trigger_id": "12466734323.1395872398.0bef1ae4b9a7",
            "view": {
                "id": "VNHU13V36", "type": "modal", "team_id": "T3MDE",
                "callback_id": "lookout_note",
                "private_metadata": meta,
                "blocks": [],
                "state": {"values": {"lookout_note_block": {"lookout_note_text": {
                    "type": "plain_text_input", "value": text
                }}}},
                "hash": "156663117.cd33ad1f"
            },
            "response_urls": []
        })
    }

    fn message_event(extra: Value) -> Vec<u8> {
        let mut ev = json!({
            "type": "message", "channel": "C0001", "user": "U0CA5",
            "text": "Client confirmed the pause is intentional",
            "ts": "1700000100.000200", "thread_ts": "1700000000.000100",
            "channel_type": "channel", "event_ts": "1700000100.000200"
        });
        if let (Some(ev), Value::Object(extra)) = (ev.as_object_mut(), extra) {
            for (k, v) in extra {
                if v.is_null() {
                    ev.remove(&k);
                } else {
                    ev.insert(k, v);
                }
            }
        }
        json!({
            "token": "XXYYZZ", "team_id": "T3MDE", "api_app_id": "A0CA5",
            "event": ev, "type": "event_callback", "event_id": "Ev08MFMKH6",
            "event_time": 1_700_000_100
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn slack_mentions_in_command_text_become_references() {
        assert_eq!(
            decode_mentions("acme <#C0123ABC|client-acme> <@U0ANA|ana>"),
            "acme slack:C0123ABC slack:U0ANA"
        );
        assert_eq!(
            decode_mentions("<#C0123ABC> <@W42>"),
            "slack:C0123ABC slack:W42"
        );
        // Special mentions lose their brackets and stay inert text.
        assert_eq!(decode_mentions("<!here> <!channel>"), "here channel");
        assert_eq!(decode_mentions("F-1 4h"), "F-1 4h");
        let r = event(parse_command(&slash("/route", "acme <#C0999|x> <@U0BO|bo>")).unwrap());
        assert!(
            matches!(r.event, Inbound::Command { ref text, .. } if text == "acme slack:C0999 slack:U0BO")
        );
    }

    #[test]
    fn a_slash_command_becomes_a_command() {
        let r = event(parse_command(&slash("/snooze", "F-12 4h")).unwrap());
        assert_eq!(r.channel().to_string(), "slack:C2147483705");
        assert_eq!(r.user().to_string(), "slack:U2147483697");
        let ev = r.into_event();
        assert_eq!(
            ev,
            Inbound::Command {
                actor: Actor {
                    person: PersonRef::parse("slack:U2147483697").unwrap(),
                    channel: ChannelRef::parse("slack:C2147483705").unwrap(),
                },
                name: "snooze".into(),
                text: "F-12 4h".into()
            }
        );
    }

    #[test]
    fn the_umbrella_command_names_its_first_word() {
        let r = event(parse_command(&slash("/lookout", "  scan   acme ")).unwrap());
        let Inbound::Command { name, text, .. } = r.event else {
            panic!("not a command");
        };
        assert_eq!((name.as_str(), text.as_str()), ("scan", "acme"));
        // `/lookout` alone stays `lookout`: the dispatcher answers with help.
        let r = event(parse_command(&slash("/lookout", "")).unwrap());
        assert!(
            matches!(r.event, Inbound::Command { ref name, ref text, .. } if name == "lookout" && text.is_empty())
        );
    }

    #[test]
    fn slash_commands_without_their_fields_are_refused() {
        let no_user = form(&[("command", "/scan"), ("channel_id", "C1")]);
        assert_eq!(parse_command(&no_user), Err(ParseError::Missing("user_id")));
        let bad_user = form(&[
            ("command", "/scan"),
            ("channel_id", "C1"),
            ("user_id", "<!channel>"),
        ]);
        assert!(matches!(
            parse_command(&bad_user),
            Err(ParseError::Invalid {
                field: "user_id",
                ..
            })
        ));
        assert_eq!(
            parse_command(b"text=hi"),
            Err(ParseError::Missing("command"))
        );
        assert_eq!(
            parse_command(b"command=%2Fscan&command=%2Fack"),
            Err(ParseError::DuplicateField("command".into()))
        );
        assert_eq!(parse_command(&[0xff, 0xfe]), Err(ParseError::NotUtf8));
        // Found by the property tests: a duplicated field named by a line
        // break must still read as one line.
        let dup = parse_command(b"\r\n&\r\n").unwrap_err().to_string();
        assert!(!dup.contains('\n') && dup.contains("\\r\\n"), "{dup}");
    }

    #[test]
    fn an_ack_click_becomes_a_button_with_its_trigger() {
        let p = block_actions(json!({
            "action_id": "lookout_ack", "block_id": "b1", "type": "button",
            "text": {"type": "plain_text", "text": "Acknowledge"},
            "value": "F-12", "action_ts": "1700000050.1"
        }));
        let r = event(parse_interaction(&interaction(&p)).unwrap());
        assert_eq!(r.channel().to_string(), "slack:C0001");
        assert_eq!(
            r.trigger(),
            Some("12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3")
        );
        let Inbound::Button {
            actor,
            action,
            finding,
            choice,
            ..
        } = r.into_event()
        else {
            panic!("not a button");
        };
        assert_eq!(actor.person.to_string(), "slack:U0CA5");
        assert_eq!(actor.channel.to_string(), "slack:C0001");
        assert_eq!(action, ActionKind::Acknowledge);
        assert_eq!(finding, FindingId(12));
        assert_eq!(choice, None);
    }

    #[test]
    fn every_lookout_button_maps_to_its_action() {
        for (id, kind) in [
            ("lookout_resolve", ActionKind::Resolve),
            ("lookout_note", ActionKind::AddNote),
            ("lookout_reopen", ActionKind::Reopen),
        ] {
            let p = block_actions(json!({"action_id": id, "type": "button", "value": "F-7"}));
            let r = event(parse_interaction(&interaction(&p)).unwrap());
            assert!(
                matches!(r.event, Inbound::Button { action, finding: FindingId(7), .. } if action == kind),
                "{id}"
            );
        }
    }

    #[test]
    fn the_snooze_select_carries_finding_and_choice() {
        let p = block_actions(json!({
            "action_id": "lookout_snooze", "block_id": "b1", "type": "static_select",
            "selected_option": {"text": {"type": "plain_text", "text": "4 hours"}, "value": "F-12|4h"},
            "placeholder": {"type": "plain_text", "text": "Snooze…"},
            "action_ts": "1700000050.1"
        }));
        let r = event(parse_interaction(&interaction(&p)).unwrap());
        assert!(matches!(
            r.event,
            Inbound::Button { action: ActionKind::Snooze, finding: FindingId(12), ref choice, .. }
                if choice.as_deref() == Some("4h")
        ));
        for bad in ["F-12", "F-12|", "nope|4h"] {
            let p = block_actions(json!({
                "action_id": "lookout_snooze", "type": "static_select",
                "selected_option": {"value": bad}
            }));
            assert!(
                matches!(
                    parse_interaction(&interaction(&p)),
                    Err(ParseError::Invalid { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn link_buttons_are_ignored_and_unknown_actions_refused() {
        let p = block_actions(
            json!({"action_id": "lookout_link_1", "type": "button", "url": "https://www.klaviyo.com/"}),
        );
        assert_eq!(
            parse_interaction(&interaction(&p)),
            Ok(SlackRequest::Ignored("a link button"))
        );
        let p = block_actions(
            json!({"action_id": "delete_everything", "type": "button", "value": "F-1"}),
        );
        assert_eq!(
            parse_interaction(&interaction(&p)),
            Err(ParseError::UnknownAction("delete_everything".into()))
        );
        let mut p = block_actions(json!({}));
        p["actions"] = json!([]);
        assert_eq!(
            parse_interaction(&interaction(&p)),
            Err(ParseError::Missing("actions"))
        );
    }

    #[test]
    fn a_button_falls_back_to_the_container_channel() {
        let mut p =
            block_actions(json!({"action_id": "lookout_ack", "type": "button", "value": "F-3"}));
        p.as_object_mut().unwrap().remove("channel");
        let r = event(parse_interaction(&interaction(&p)).unwrap());
        assert_eq!(r.channel().to_string(), "slack:C0001");
        p.as_object_mut().unwrap().remove("container");
        assert_eq!(
            parse_interaction(&interaction(&p)),
            Err(ParseError::Missing("channel.id"))
        );
    }

    #[test]
    fn the_note_modal_round_trips_through_a_submission() {
        let view = note_view(FindingId(12), "C0001");
        assert_eq!(view["callback_id"], NOTE_CALLBACK_ID);
        assert_eq!(view["blocks"][0]["element"]["multiline"], true);
        let meta = view["private_metadata"].as_str().unwrap();
        let p = submission(meta, Some("Paused on purpose until the sale"));
        let r = event(parse_interaction(&interaction(&p)).unwrap());
        assert_eq!(r.channel().to_string(), "slack:C0001");
        assert_eq!(
            r.into_event(),
            Inbound::NoteSubmitted {
                actor: Actor {
                    person: PersonRef::parse("slack:U0CA5").unwrap(),
                    channel: ChannelRef::parse("slack:C0001").unwrap(),
                },
                finding: FindingId(12),
                text: "Paused on purpose until the sale".into()
            }
        );
        // An emptied input is an empty note, which the handler refuses.
        let r = event(parse_interaction(&interaction(&submission(meta, None))).unwrap());
        assert!(matches!(r.event, Inbound::NoteSubmitted { ref text, .. } if text.is_empty()));
    }

    #[test]
    fn the_key_modal_carries_the_key_in_the_submission_only() {
        let d = crate::message::KeyDialog {
            client: crate::domain::ClientSlug::parse("acme").unwrap(),
            client_name: "Acme\n<!channel>".into(),
            ends_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        };
        let view = key_view(&d, "D0001");
        assert_eq!(view["callback_id"], KEY_CALLBACK_ID);
        let meta = view["private_metadata"].as_str().unwrap();
        assert!(!meta.contains("pk_"));
        let mut p = submission(meta, None);
        p["view"]["callback_id"] = json!(KEY_CALLBACK_ID);
        p["view"]["state"] = json!({"values": {"lookout_key_block": {"lookout_key_text": {
            "type": "plain_text_input", "value": "pk_abcdef0123456789"}}}});
        let r = event(parse_interaction(&interaction(&p)).unwrap());
        let Inbound::KeySubmitted {
            actor,
            client,
            ends_at,
            key,
        } = r.into_event()
        else {
            panic!("not a key submission");
        };
        assert_eq!(actor.channel.to_string(), "slack:D0001");
        assert_eq!((client, ends_at), (d.client, d.ends_at));
        assert_eq!(key.expose(), "pk_abcdef0123456789");
        assert_eq!(format!("{key:?}"), "[redacted]");
    }

    #[test]
    fn bad_modal_submissions_are_refused_and_foreign_modals_ignored() {
        for meta in [
            "",
            "not json",
            r#"{"finding":"F-x","channel":"C1"}"#,
            r#"{"finding":"F-1","channel":"<!here>"}"#,
        ] {
            assert!(
                parse_interaction(&interaction(&submission(meta, Some("x")))).is_err(),
                "{meta}"
            );
        }
        let mut p = submission(r#"{"finding":"F-1","channel":"C1"}"#, Some("x"));
        p["view"]["state"]["values"] = json!({});
        assert_eq!(
            parse_interaction(&interaction(&p)),
            Err(ParseError::Missing("view.state.values"))
        );
        p["view"]["callback_id"] = json!("someone_elses");
        assert!(matches!(
            parse_interaction(&interaction(&p)),
            Ok(SlackRequest::Ignored(_))
        ));
    }

    #[test]
    fn interaction_forms_need_a_json_payload() {
        assert_eq!(
            parse_interaction(b"foo=bar"),
            Err(ParseError::Missing("payload"))
        );
        assert!(matches!(
            parse_interaction(b"payload=%7Bnope"),
            Err(ParseError::Json(_))
        ));
        assert!(matches!(
            parse_interaction(&interaction(&json!({"type": "shortcut"}))),
            Ok(SlackRequest::Ignored(_))
        ));
    }

    #[test]
    fn the_url_check_is_answered_with_its_challenge() {
        let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        assert_eq!(
            parse_event(body),
            Ok(SlackRequest::Challenge(
                "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".into()
            ))
        );
        assert_eq!(
            parse_event(br#"{"type":"url_verification"}"#),
            Err(ParseError::Missing("challenge"))
        );
    }

    #[test]
    fn a_human_thread_reply_becomes_a_thread_reply() {
        let r = event(parse_event(&message_event(json!({}))).unwrap());
        assert_eq!(r.channel().to_string(), "slack:C0001");
        assert_eq!(
            r.into_event(),
            Inbound::ThreadReply {
                actor: Actor {
                    person: PersonRef::parse("slack:U0CA5").unwrap(),
                    channel: ChannelRef::parse("slack:C0001").unwrap(),
                },
                thread: MessageRef("1700000000.000100".into()),
                message: MessageRef("1700000100.000200".into()),
                text: "Client confirmed the pause is intentional".into()
            }
        );
    }

    #[test]
    fn other_messages_are_ignored() {
        let ignored = |extra: Value| {
            matches!(
                parse_event(&message_event(extra)),
                Ok(SlackRequest::Ignored(_))
            )
        };
        assert!(ignored(json!({"bot_id": "B0001"})));
        assert!(ignored(json!({"subtype": "message_changed"})));
        assert!(ignored(json!({"thread_ts": null})));
        assert!(ignored(json!({"thread_ts": "1700000100.000200"})));
        assert!(ignored(json!({"type": "reaction_added"})));
        assert!(matches!(
            parse_event(br#"{"type":"app_rate_limited","minute_rate_limited":1}"#),
            Ok(SlackRequest::Ignored(_))
        ));
    }

    #[test]
    fn malformed_events_are_refused() {
        assert!(matches!(parse_event(b"{"), Err(ParseError::Json(_))));
        assert!(matches!(parse_event(b"[]"), Err(ParseError::Json(_))));
        assert_eq!(
            parse_event(br#"{"type":"event_callback"}"#),
            Err(ParseError::Missing("event"))
        );
        assert_eq!(
            parse_event(&message_event(json!({"user": null}))),
            Err(ParseError::Missing("event.user"))
        );
        assert!(matches!(
            parse_event(&message_event(json!({"ts": "yesterday"}))),
            Err(ParseError::Invalid {
                field: "event.ts",
                ..
            })
        ));
        assert!(matches!(
            parse_event(&message_event(json!({"channel": 42}))),
            Err(ParseError::Json(_))
        ));
    }

    #[test]
    fn random_and_mutated_bodies_never_panic() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let seeds: Vec<Vec<u8>> = vec![
            slash("/lookout", "snooze F-12 4h"),
            interaction(&block_actions(
                json!({"action_id": "lookout_snooze", "selected_option": {"value": "F-12|4h"}}),
            )),
            interaction(&submission(
                r#"{"finding":"F-1","channel":"C1"}"#,
                Some("n"),
            )),
            message_event(json!({})),
            br#"{"type":"url_verification","challenge":"c"}"#.to_vec(),
        ];
        let mut ok = 0;
        for i in 0..4000 {
            let body: Vec<u8> = if i % 4 == 0 {
                let len = rng.random_range(0..200);
                (0..len).map(|_| rng.random()).collect()
            } else {
                let mut b = seeds[i % seeds.len()].clone();
                for _ in 0..rng.random_range(1..6) {
                    if b.is_empty() {
                        break;
                    }
                    let at = rng.random_range(0..b.len());
                    match rng.random_range(0..3) {
                        0 => b[at] = rng.random(),
                        1 => {
                            b.remove(at);
                        }
                        _ => b.truncate(at),
                    }
                }
                b
            };
            for r in [
                parse_command(&body),
                parse_interaction(&body),
                parse_event(&body),
            ] {
                ok += usize::from(r.is_ok());
            }
        }
        // Some mutations leave a valid payload: the parsers were really exercised.
        assert!(ok > 0);
    }
}
