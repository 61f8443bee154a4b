//! Discord interactions parsed into neutral `Inbound` events: pure functions.
//!
//! One JSON shape arrives, over HTTP (already signature-checked by `verify`)
//! or over the gateway (serenity's `Interaction`, serialized back to the same
//! JSON, so both modes run this one parser): the `PING` handshake, slash
//! commands, clicks on our buttons and snooze select, the "Add note" modal's
//! submission and autocomplete while a person types. A command's options are
//! flattened into the text the command parser reads, in the order the
//! command declares them; channel and user options become `discord:<id>`.
//! The actor is the member's (or, in a DM, the user's) id and the channel, or
//! the thread's parent channel when the interaction happened in a thread.
//! Anything malformed is a `ParseError`, never a panic: these bytes come from
//! the network.

use serde_json::{Map, Value};

use super::render::{self, NOTE_INPUT_ID};
use crate::commands::spec::{UMBRELLA, spec};
use crate::domain::FindingId;
use crate::message::{ActionKind, Actor, ChannelRef, Inbound, PersonRef, Platform};

/// Options read from one command; Discord allows 25.
const MAX_OPTIONS: usize = 25;
/// Longest string option Discord sends (its limit is 6,000).
const MAX_OPTION_CHARS: usize = 6000;
/// Longest modal text accepted (Discord's text input maximum is 4,000).
const MAX_NOTE_CHARS: usize = 4000;
/// Longest interaction token accepted; Discord's are a few hundred characters.
const MAX_TOKEN_CHARS: usize = 1000;

/// Why a verified Discord payload could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or not an object.
    #[error("the Discord interaction is not the expected JSON: {0}")]
    Json(String),
    /// A required field is absent.
    #[error(
        "the Discord interaction has no `{0}`; is the Interactions Endpoint URL pointing at the right path?"
    )]
    Missing(&'static str),
    /// A field is present but not in the shape Discord documents.
    #[error("the Discord interaction's `{field}` is invalid: {reason}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An interaction type Lookout does not handle.
    #[error("Discord interaction type {0} is not one Lookout handles")]
    UnknownType(u64),
    /// A control Lookout did not render was used.
    #[error("unknown component `{0}`: the message was not rendered by this version of Lookout")]
    UnknownAction(String),
    /// A shape Lookout does not register (user or message commands, subcommands).
    #[error("Lookout does not handle {0}")]
    Unsupported(&'static str),
}

/// Which kind of interaction an event came from; it decides the answers allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A slash command.
    Command,
    /// A button or select on a message.
    Component,
    /// A submitted modal.
    ModalSubmit,
    /// An argument being typed.
    Autocomplete,
}

/// An interaction to answer: its id and token, and the neutral event.
#[derive(Clone, PartialEq, Eq)]
pub struct Received {
    /// The interaction id (for the gateway's callback).
    pub id: u64,
    /// The interaction token: answers and follow-ups for 15 minutes.
    pub token: String,
    /// What kind of interaction it was.
    pub kind: Kind,
    /// The guild it happened in; `None` in a direct message.
    pub guild_id: Option<String>,
    /// The neutral event.
    pub event: Inbound,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token lets anyone answer as the app for 15 minutes: never shown.
        f.debug_struct("Received")
            .field("id", &self.id)
            .field("token", &"[redacted]")
            .field("kind", &self.kind)
            .field("guild_id", &self.guild_id)
            .field("event", &self.event)
            .finish()
    }
}

/// What an interaction asks of Lookout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Discord's endpoint check: answer `{"type": 1}`.
    Ping,
    /// Something a person did.
    Event(Box<Received>),
}

/// Parses a raw interaction body.
pub fn parse(body: &[u8]) -> Result<Parsed, ParseError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    parse_value(&v)
}

/// Parses an interaction already decoded as JSON (the gateway's path).
pub fn parse_value(v: &Value) -> Result<Parsed, ParseError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ParseError::Json("not a JSON object".into()))?;
    let ty = obj
        .get("type")
        .and_then(Value::as_u64)
        .ok_or(ParseError::Missing("type"))?;
    if ty == 1 {
        return Ok(Parsed::Ping);
    }
    if !(2..=5).contains(&ty) {
        return Err(ParseError::UnknownType(ty));
    }
    let id = snowflake(obj.get("id"), "id")?
        .parse::<u64>()
        .map_err(|_| invalid("id", "not a number"))?;
    let token = obj
        .get("token")
        .and_then(Value::as_str)
        .ok_or(ParseError::Missing("token"))?;
    if !valid_token(token) {
        return Err(invalid("token", "not URL-safe text"));
    }
    let guild_id = match obj.get("guild_id") {
        None | Some(Value::Null) => None,
        g => Some(snowflake(g, "guild_id")?.to_owned()),
    };
    let actor = Actor {
        person: person(obj)?,
        channel: channel(obj)?,
    };
    let data = obj
        .get("data")
        .and_then(Value::as_object)
        .ok_or(ParseError::Missing("data"))?;
    let (kind, event) = match ty {
        2 => (Kind::Command, command(data, actor)?),
        3 => (Kind::Component, component(data, actor)?),
        4 => (Kind::Autocomplete, autocomplete(data, actor)?),
        _ => (Kind::ModalSubmit, modal(data, actor)?),
    };
    Ok(Parsed::Event(Box::new(Received {
        id,
        token: token.to_owned(),
        kind,
        guild_id,
        event,
    })))
}

/// Whether an interaction token is safe to put in a URL path.
pub fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_CHARS
        && !token.starts_with('.')
        && token.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'=')
        })
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ParseError {
    ParseError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn snowflake<'a>(v: Option<&'a Value>, field: &'static str) -> Result<&'a str, ParseError> {
    let s = v
        .and_then(Value::as_str)
        .ok_or(ParseError::Missing(field))?;
    super::parse_id(s)
        .map(|_| s)
        .ok_or_else(|| invalid(field, "not a Discord id"))
}

/// The member's user in a guild, the user in a direct message.
fn person(obj: &Map<String, Value>) -> Result<PersonRef, ParseError> {
    let user = obj
        .get("member")
        .and_then(|m| m.get("user"))
        .or_else(|| obj.get("user"))
        .ok_or(ParseError::Missing("member.user"))?;
    let id = snowflake(user.get("id"), "user.id")?;
    PersonRef::new(Platform::Discord, id).map_err(|e| invalid("user.id", e.to_string()))
}

/// The channel acted in; for a thread, its parent channel.
fn channel(obj: &Map<String, Value>) -> Result<ChannelRef, ParseError> {
    let partial = obj.get("channel").filter(|c| c.is_object());
    let id = match obj.get("channel_id") {
        Some(v) if !v.is_null() => snowflake(Some(v), "channel_id")?,
        _ => snowflake(partial.and_then(|c| c.get("id")), "channel_id")?,
    };
    // Public (11), private (12) and announcement (10) threads.
    let thread_parent = partial
        .filter(|c| matches!(c.get("type").and_then(Value::as_u64), Some(10..=12)))
        .and_then(|c| c.get("parent_id"))
        .filter(|p| !p.is_null());
    let id = match thread_parent {
        Some(p) => snowflake(Some(p), "channel.parent_id")?,
        None => id,
    };
    ChannelRef::new(Platform::Discord, id).map_err(|e| invalid("channel_id", e.to_string()))
}

/// A command's name and options, with `/lookout <sub>` unwrapped.
fn command_parts(data: &Map<String, Value>) -> Result<(String, Vec<&Value>), ParseError> {
    match data.get("type").and_then(Value::as_u64) {
        None | Some(1) => {}
        Some(_) => return Err(ParseError::Unsupported("user and message commands")),
    }
    let name = data
        .get("name")
        .and_then(Value::as_str)
        .ok_or(ParseError::Missing("data.name"))?;
    check_name(name, "data.name")?;
    let options = options_of(data.get("options"), "data.options")?;
    let is_sub = |o: &Value| matches!(o.get("type").and_then(Value::as_u64), Some(1 | 2));
    if let [only] = options.as_slice()
        && is_sub(only)
        && name == UMBRELLA
    {
        let sub = only
            .get("name")
            .and_then(Value::as_str)
            .ok_or(ParseError::Missing("subcommand name"))?;
        check_name(sub, "subcommand name")?;
        let inner = options_of(only.get("options"), "subcommand options")?;
        if inner.iter().any(|o| is_sub(o)) {
            return Err(ParseError::Unsupported("nested subcommands"));
        }
        return Ok((sub.to_owned(), inner));
    }
    if options.iter().any(|o| is_sub(o)) {
        return Err(ParseError::Unsupported("subcommands"));
    }
    Ok((name.to_owned(), options))
}

fn check_name(name: &str, field: &'static str) -> Result<(), ParseError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(invalid(field, "not a command name"))
    }
}

fn options_of<'a>(v: Option<&'a Value>, field: &'static str) -> Result<Vec<&'a Value>, ParseError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) if a.len() <= MAX_OPTIONS => {
            if a.iter()
                .all(|o| o.get("name").and_then(Value::as_str).is_some())
            {
                Ok(a.iter().collect())
            } else {
                Err(invalid(field, "an option has no name"))
            }
        }
        Some(Value::Array(_)) => Err(invalid(field, "more than 25 options")),
        Some(_) => Err(invalid(field, "not a list")),
    }
}

fn option_name(o: &Value) -> &str {
    o.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// The options in the order the command declares its arguments; any the
/// declaration does not know follow in the order given.
fn ordered<'a>(name: &str, options: Vec<&'a Value>) -> Vec<&'a Value> {
    let Some(spec) = spec(name) else {
        return options;
    };
    let mut out: Vec<&Value> = Vec::with_capacity(options.len());
    for arg in &spec.args {
        if let Some(o) = options.iter().find(|o| option_name(o) == arg.name) {
            out.push(o);
        }
    }
    for o in options {
        if !spec.args.iter().any(|a| a.name == option_name(o)) {
            out.push(o);
        }
    }
    out
}

/// An option's value as command text.
fn option_text(o: &Value) -> Result<Option<String>, ParseError> {
    let value = o.get("value");
    let text = match o.get("type").and_then(Value::as_u64) {
        Some(3) => {
            let s = value
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("option value", "not a string"))?;
            if s.chars().count() > MAX_OPTION_CHARS {
                return Err(invalid("option value", "longer than 6000 characters"));
            }
            clean(s)
        }
        Some(4) => value
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("option value", "not an integer"))?
            .to_string(),
        Some(10) => value
            .and_then(Value::as_f64)
            .filter(|f| f.is_finite())
            .ok_or_else(|| invalid("option value", "not a number"))?
            .to_string(),
        Some(5) => value
            .and_then(Value::as_bool)
            .ok_or_else(|| invalid("option value", "not a boolean"))?
            .to_string(),
        // User, channel, role, mentionable: an id, written as a reference.
        Some(6..=9) => format!("discord:{}", snowflake(value, "option value")?),
        Some(11) => return Err(ParseError::Unsupported("attachment options")),
        _ => {
            return Err(invalid(
                "option type",
                "not an option type Lookout registers",
            ));
        }
    };
    Ok((!text.is_empty()).then_some(text))
}

/// Single-line text: controls become spaces, ends trimmed.
fn clean(s: &str) -> String {
    // Bidi and zero-width characters go (they disguise text); controls become spaces.
    s.chars()
        .filter(|c| {
            !crate::message::text::is_bidi_control(*c) && !crate::message::text::is_zero_width(*c)
        })
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

fn command(data: &Map<String, Value>, actor: Actor) -> Result<Inbound, ParseError> {
    let (name, options) = command_parts(data)?;
    let mut words = Vec::new();
    for o in ordered(&name, options) {
        if let Some(t) = option_text(o)? {
            words.push(t);
        }
    }
    Ok(Inbound::Command {
        actor,
        name,
        text: words.join(" "),
    })
}

fn autocomplete(data: &Map<String, Value>, actor: Actor) -> Result<Inbound, ParseError> {
    let (command, options) = command_parts(data)?;
    let focused = options
        .iter()
        .find(|o| o.get("focused").and_then(Value::as_bool) == Some(true))
        .ok_or(ParseError::Missing("focused option"))?;
    let arg = option_name(focused);
    check_name(arg, "focused option name")?;
    // What is typed so far may be partial: an integer option arrives as text.
    let typed = match focused.get("value") {
        Some(Value::String(s)) if s.chars().count() <= MAX_OPTION_CHARS => clean(s),
        Some(Value::Number(n)) => n.to_string(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(invalid("focused option value", "not text")),
    };
    Ok(Inbound::Autocomplete {
        actor,
        command,
        arg: arg.to_owned(),
        typed,
    })
}

fn component(data: &Map<String, Value>, actor: Actor) -> Result<Inbound, ParseError> {
    let custom_id = data
        .get("custom_id")
        .and_then(Value::as_str)
        .ok_or(ParseError::Missing("data.custom_id"))?;
    let (action, finding) = render::parse_custom_id(custom_id)
        .ok_or_else(|| ParseError::UnknownAction(render::plain_label(custom_id, 100)))?;
    let choice = match data.get("component_type").and_then(Value::as_u64) {
        Some(2) => None,
        Some(3) => {
            if action != ActionKind::Snooze {
                return Err(ParseError::UnknownAction(render::plain_label(
                    custom_id, 100,
                )));
            }
            match data.get("values") {
                Some(Value::Array(values)) => match values.as_slice() {
                    [] => None,
                    [Value::String(v)] => Some(select_value(v)?),
                    _ => return Err(invalid("data.values", "not one text value")),
                },
                _ => return Err(ParseError::Missing("data.values")),
            }
        }
        Some(_) => return Err(ParseError::Unsupported("this component type")),
        None => return Err(ParseError::Missing("data.component_type")),
    };
    Ok(Inbound::Button {
        actor,
        action,
        finding,
        choice,
        // Discord opens a modal in the answer to the click itself: no handle needed.
        trigger: None,
    })
}

fn select_value(v: &str) -> Result<String, ParseError> {
    let ok = !v.is_empty()
        && v.len() <= render::MAX_OPTION_TEXT
        && v.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(v.to_owned())
    } else {
        Err(invalid("data.values", "not a value Lookout offers"))
    }
}

fn modal(data: &Map<String, Value>, actor: Actor) -> Result<Inbound, ParseError> {
    let custom_id = data
        .get("custom_id")
        .and_then(Value::as_str)
        .ok_or(ParseError::Missing("data.custom_id"))?;
    if let Some((client, ends_at)) = render::parse_key_modal_id(custom_id) {
        let key = data
            .get("components")
            .and_then(|c| find_input(c, 0))
            .ok_or(ParseError::Missing("the key's text input"))?;
        if key.chars().count() > 200 {
            return Err(invalid("key", "longer than 200 characters"));
        }
        return Ok(Inbound::KeySubmitted {
            actor,
            client,
            ends_at,
            key: crate::config::Secret::new(key.trim()),
        });
    }
    let finding: FindingId = render::parse_note_modal_id(custom_id)
        .ok_or_else(|| ParseError::UnknownAction(render::plain_label(custom_id, 100)))?;
    let text = data
        .get("components")
        .and_then(|c| find_input(c, 0))
        .ok_or(ParseError::Missing("the note's text input"))?;
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(invalid("note", "longer than 4000 characters"));
    }
    // Line breaks are kept: a note may have several lines.
    let text: String = text
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect();
    Ok(Inbound::NoteSubmitted {
        actor,
        finding,
        text: text.trim().to_owned(),
    })
}

/// The value of the note's text input: inside action rows (type 1) or,
/// in newer modals, labels (type 18); at most three levels deep.
fn find_input(v: &Value, depth: usize) -> Option<&str> {
    if depth > 3 {
        return None;
    }
    match v {
        Value::Array(items) => items.iter().find_map(|i| find_input(i, depth + 1)),
        Value::Object(o) => {
            if o.get("custom_id").and_then(Value::as_str) == Some(NOTE_INPUT_ID) {
                return o.get("value").and_then(Value::as_str);
            }
            o.get("components")
                .or_else(|| o.get("component"))
                .and_then(|c| find_input(c, depth + 1))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base(ty: u64, data: Value) -> Value {
        json!({
            "id": "1100000000000000001",
            "application_id": "900",
            "type": ty,
            "token": "aW50ZXJhY3Rpb24.token_x-y",
            "version": 1,
            "guild_id": "800",
            "channel_id": "700",
            "channel": {"id": "700", "type": 0},
            "member": {"user": {"id": "600", "username": "ana"}, "roles": []},
            "data": data,
        })
    }

    fn event(v: &Value) -> Received {
        match parse_value(v) {
            Ok(Parsed::Event(r)) => *r,
            other => panic!("{other:?}"),
        }
    }

    fn actor() -> Actor {
        Actor {
            person: PersonRef::parse("discord:600").unwrap(),
            channel: ChannelRef::parse("discord:700").unwrap(),
        }
    }

    #[test]
    fn ping_is_ping() {
        assert_eq!(parse(br#"{"type":1,"id":"1"}"#), Ok(Parsed::Ping));
    }

    #[test]
    fn slash_command_options_follow_the_declaration_order() {
        // Given out of order, with a channel and a user option.
        let v = base(
            2,
            json!({"id": "5", "name": "route", "type": 1, "options": [
                {"name": "owner", "type": 6, "value": "601"},
                {"name": "client", "type": 3, "value": " acme\n"},
                {"name": "channel", "type": 7, "value": "702"},
            ]}),
        );
        let r = event(&v);
        assert_eq!(r.kind, Kind::Command);
        assert_eq!(r.id, 1_100_000_000_000_000_001);
        assert_eq!(r.guild_id.as_deref(), Some("800"));
        assert_eq!(
            r.event,
            Inbound::Command {
                actor: actor(),
                name: "route".into(),
                text: "acme discord:702 discord:601".into(),
            }
        );
        assert!(!format!("{r:?}").contains("token_x"));
    }

    #[test]
    fn umbrella_subcommands_unwrap_and_integers_read() {
        let v = base(
            2,
            json!({"name": "lookout", "options": [{"name": "renewal-report", "type": 1, "options": [
                {"name": "days", "type": 4, "value": 30},
                {"name": "client", "type": 3, "value": "acme"},
            ]}]}),
        );
        match event(&v).event {
            Inbound::Command { name, text, .. } => {
                assert_eq!(name, "renewal-report");
                assert_eq!(text, "acme 30");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_thread_acts_for_its_parent_channel_and_a_dm_for_its_user() {
        let mut v = base(2, json!({"name": "notes", "options": []}));
        v["channel_id"] = json!("990");
        v["channel"] = json!({"id": "990", "type": 11, "parent_id": "700"});
        assert_eq!(event(&v).event.actor().channel, actor().channel);
        let mut dm = base(2, json!({"name": "help"}));
        dm.as_object_mut().unwrap().remove("member");
        dm.as_object_mut().unwrap().remove("guild_id");
        dm["user"] = json!({"id": "600"});
        let r = event(&dm);
        assert_eq!(r.event.actor().person, actor().person);
        assert_eq!(r.guild_id, None);
    }

    #[test]
    fn buttons_and_the_snooze_select() {
        let click = base(
            3,
            json!({"custom_id": "lookout:ack:F-12", "component_type": 2}),
        );
        let r = event(&click);
        assert_eq!(r.kind, Kind::Component);
        assert_eq!(
            r.event,
            Inbound::Button {
                actor: actor(),
                action: ActionKind::Acknowledge,
                finding: FindingId(12),
                choice: None,
                trigger: None,
            }
        );
        let select = base(
            3,
            json!({"custom_id": "lookout:snooze:F-12", "component_type": 3, "values": ["4h"]}),
        );
        match event(&select).event {
            Inbound::Button { action, choice, .. } => {
                assert_eq!(action, ActionKind::Snooze);
                assert_eq!(choice.as_deref(), Some("4h"));
            }
            other => panic!("{other:?}"),
        }
        let foreign = base(3, json!({"custom_id": "other-bot:x", "component_type": 2}));
        assert!(matches!(
            parse_value(&foreign),
            Err(ParseError::UnknownAction(_))
        ));
        let bad_value = base(
            3,
            json!({"custom_id": "lookout:snooze:F-12", "component_type": 3, "values": ["4h\n"]}),
        );
        assert!(parse_value(&bad_value).is_err());
    }

    #[test]
    fn modal_submissions_in_rows_or_labels() {
        for components in [
            json!([{"type": 1, "components": [{"type": 4, "custom_id": "note", "value": " told client\nMonday "}]}]),
            json!([{"type": 18, "component": {"type": 4, "custom_id": "note", "value": "told client\nMonday"}}]),
        ] {
            let v = base(
                5,
                json!({"custom_id": "lookout:notemodal:F-3", "components": components}),
            );
            let r = event(&v);
            assert_eq!(r.kind, Kind::ModalSubmit);
            assert_eq!(
                r.event,
                Inbound::NoteSubmitted {
                    actor: actor(),
                    finding: FindingId(3),
                    text: "told client\nMonday".into()
                }
            );
        }
        let missing = base(
            5,
            json!({"custom_id": "lookout:notemodal:F-3", "components": []}),
        );
        assert_eq!(
            parse_value(&missing),
            Err(ParseError::Missing("the note's text input"))
        );
    }

    #[test]
    fn autocomplete_names_the_focused_argument() {
        let v = base(
            4,
            json!({"name": "findings", "options": [
                {"name": "severity", "type": 3, "value": "critical"},
                {"name": "client", "type": 3, "value": "ac", "focused": true},
            ]}),
        );
        let r = event(&v);
        assert_eq!(r.kind, Kind::Autocomplete);
        assert_eq!(
            r.event,
            Inbound::Autocomplete {
                actor: actor(),
                command: "findings".into(),
                arg: "client".into(),
                typed: "ac".into(),
            }
        );
    }

    #[test]
    fn malformed_and_unknown_shapes_are_errors() {
        let cases: Vec<Value> = vec![
            json!([]),
            json!({}),
            json!({"type": 9}),
            json!({"type": "2"}),
            {
                let mut v = base(2, json!({"name": "scan"}));
                v["token"] = json!("../../channels/1/messages");
                v
            },
            {
                let mut v = base(2, json!({"name": "scan"}));
                v["member"]["user"]["id"] = json!("0");
                v
            },
            {
                let mut v = base(2, json!({"name": "scan"}));
                v["channel_id"] = json!(700);
                v
            },
            base(2, json!({"name": "Scan"})),
            base(2, json!({"name": "scan", "type": 2})),
            base(
                2,
                json!({"name": "scan", "options": [{"name": "client", "type": 3, "value": 5}]}),
            ),
            base(
                2,
                json!({"name": "scan", "options": [{"name": "x", "type": 1, "options": []}]}),
            ),
            base(2, json!({"name": "scan", "options": "acme"})),
            base(
                2,
                json!({"name": "route", "options": [{"name": "channel", "type": 7, "value": "#general"}]}),
            ),
            base(
                4,
                json!({"name": "scan", "options": [{"name": "client", "type": 3, "value": "a"}]}),
            ),
            base(3, json!({"custom_id": "lookout:ack:F-1"})),
            base(
                3,
                json!({"custom_id": "lookout:ack:F-1", "component_type": 3, "values": ["1h"]}),
            ),
        ];
        for c in cases {
            assert!(parse_value(&c).is_err(), "{c}");
        }
        assert!(matches!(parse(b"{not json"), Err(ParseError::Json(_))));
        assert!(matches!(parse(&[0xff, 0xfe]), Err(ParseError::Json(_))));
    }

    #[test]
    fn thousands_of_random_and_mutated_bodies_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        let seeds: Vec<Vec<u8>> = [
            base(2, json!({"name": "route", "options": [{"name": "owner", "type": 6, "value": "601"}, {"name": "client", "type": 3, "value": "acme"}]})),
            base(3, json!({"custom_id": "lookout:snooze:F-12", "component_type": 3, "values": ["4h"]})),
            base(4, json!({"name": "scan", "options": [{"name": "client", "type": 3, "value": "a", "focused": true}]})),
            base(5, json!({"custom_id": "lookout:notemodal:F-3", "components": [{"type": 1, "components": [{"type": 4, "custom_id": "note", "value": "x"}]}]})),
        ]
        .iter()
        .map(|v| serde_json::to_vec(v).unwrap())
        .collect();
        let specials = b"{}[]\":,0123456789-.eEtrufalsn \\u";
        let mut ok = 0;
        for i in 0..4000 {
            let body: Vec<u8> = if i % 4 == 0 {
                let n = rng.random_range(0..200);
                (0..n).map(|_| rng.random()).collect()
            } else {
                let mut b = seeds[rng.random_range(0..seeds.len())].clone();
                for _ in 0..rng.random_range(1..8) {
                    if b.is_empty() {
                        break;
                    }
                    let at = rng.random_range(0..b.len());
                    match rng.random_range(0..4) {
                        0 => b[at] = specials[rng.random_range(0..specials.len())],
                        1 => {
                            b.remove(at);
                        }
                        2 => b.insert(at, specials[rng.random_range(0..specials.len())]),
                        _ => b.truncate(at.max(1)),
                    }
                }
                b
            };
            if parse(&body).is_ok() {
                ok += 1;
            }
        }
        // Some mutations keep the body valid: the parser is not just refusing everything.
        assert!(ok > 0);
        // And JSON values of the right shape but wrong types everywhere.
        for seed in &seeds {
            let v: Value = serde_json::from_slice(seed).unwrap();
            for path in [
                "/type",
                "/id",
                "/token",
                "/member",
                "/data",
                "/data/options",
                "/data/custom_id",
                "/channel",
            ] {
                for replacement in [
                    json!(null),
                    json!(1e300),
                    json!("x"),
                    json!([]),
                    json!({}),
                    json!(-1),
                ] {
                    let mut m = v.clone();
                    if let Some(slot) = m.pointer_mut(path) {
                        *slot = replacement;
                    }
                    let _ = parse_value(&m);
                }
            }
        }
    }
}
