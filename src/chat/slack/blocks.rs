//! Block Kit rendering of the neutral `Message` model, and Slack's text escaping.
//!
//! Pure functions: a `Message` becomes a list of Block Kit blocks (as JSON, the
//! shape Slack documents) plus a plain fallback text for notifications. All
//! text that may come from a client account is escaped for `mrkdwn` (`&`, `<`,
//! `>`), the `@` of `@channel`/`@here`/`@everyone` typed as words becomes a
//! full-width `＠`, and the characters `message::text` hides (controls, bidi
//! controls, zero-width characters) are dropped, so a flow name can neither
//! mention a channel, forge or hide a link, nor reorder its line. Emphasis
//! marks (`*`, `_`, `~`, `` ` ``) in plain text are left as typed: Slack has no
//! escape for them, they cannot mention or link, and Lookout's own plain text
//! uses backticks for commands. Every Slack size limit is enforced here, truncating with `…` without
//! ever cutting an escape sequence or a markup pair in half, because Slack
//! rejects the whole message (`invalid_blocks`, `msg_too_long`) otherwise.

use serde_json::{Value, json};

use crate::domain::{FindingId, Severity};
use crate::message::text::{is_broadcast_word, is_hidden, is_line_break};
use crate::message::{Accent, Action, ActionKind, Block, Message, Platform, RichText, Span};

/// Slack accepts at most this many blocks in one message.
pub const MAX_BLOCKS: usize = 50;
/// Header block text limit, in characters.
pub const MAX_HEADER_CHARS: usize = 150;
/// Section (and context element) text limit.
pub const MAX_SECTION_CHARS: usize = 3000;
/// Limit for each text in `section.fields`.
pub const MAX_FIELD_CHARS: usize = 2000;
/// Fields in one section.
pub const MAX_FIELDS_PER_SECTION: usize = 10;
/// Elements in one context block.
pub const MAX_CONTEXT_ELEMENTS: usize = 10;
/// Elements in one actions block.
pub const MAX_ACTION_ELEMENTS: usize = 25;
/// Button label limit.
pub const MAX_BUTTON_CHARS: usize = 75;
/// Select option label limit.
pub const MAX_OPTION_CHARS: usize = 75;
/// Fallback `text` limit (Slack truncates longer text; we stay under it).
pub const MAX_FALLBACK_CHARS: usize = 4000;
/// Only links into Klaviyo's web app are rendered as links.
pub const KLAVIYO_APP: &str = "https://www.klaviyo.com/";
/// Button URLs longer than this are refused by Slack.
const MAX_URL_CHARS: usize = 3000;

/// Action ids the interaction handler dispatches on.
pub mod action_ids {
    /// Acknowledge button; value is the finding id (`F-12`).
    pub const ACK: &str = "lookout_ack";
    /// Snooze select; option values are `F-12|4h`.
    pub const SNOOZE: &str = "lookout_snooze";
    /// Resolve button.
    pub const RESOLVE: &str = "lookout_resolve";
    /// Add-note button.
    pub const NOTE: &str = "lookout_note";
    /// Reopen button.
    pub const REOPEN: &str = "lookout_reopen";
    /// Prefix of link buttons (`lookout_link_1`, `lookout_link_2`, ...).
    pub const LINK_PREFIX: &str = "lookout_link_";
}

/// Snooze choices offered in the select: (value suffix, label).
pub const SNOOZE_OPTIONS: [(&str, &str); 5] = [
    ("1h", "1 hour"),
    ("4h", "4 hours"),
    ("1d", "1 day"),
    ("7d", "7 days"),
    ("until-worse", "Until it gets worse"),
];

/// What the `@` of a typed broadcast word becomes: visible, and never a
/// mention whatever Slack's `parse` mode (a zero-width character would be an
/// invisible difference a reader cannot see).
const BROADCAST_AT: char = '＠';

/// Renders a message as Block Kit blocks and a plain fallback text.
pub fn render(message: &Message) -> (Vec<Value>, String) {
    let emoji = accent_emoji(message.accent);
    let mut blocks = Vec::new();
    let mut link_counter = 0usize;
    let mut emoji_shown = false;
    for block in &message.blocks {
        // The accent emoji leads the message's first line, whatever block that is.
        let lead = blocks.is_empty().then(|| format!("{emoji} "));
        match block {
            Block::Header(h) => {
                if h.trim().is_empty() {
                    continue;
                }
                emoji_shown |= lead.is_some();
                let text = format!("{}{h}", lead.unwrap_or_default());
                let text = truncate_plain(&clean_plain(&text), MAX_HEADER_CHARS);
                blocks.push(json!({
                    "type": "header",
                    "text": {"type": "plain_text", "text": text, "emoji": true}
                }));
            }
            Block::Text(t) | Block::Context(t) => {
                // Slack rejects empty texts: an empty block is left out.
                if t.to_plain().trim().is_empty() {
                    continue;
                }
                emoji_shown |= lead.is_some();
                let text = mrkdwn_obj(mrkdwn_bounded(lead.as_deref(), t, MAX_SECTION_CHARS));
                blocks.push(if matches!(block, Block::Text(_)) {
                    json!({"type": "section", "text": text})
                } else {
                    json!({"type": "context", "elements": [text]})
                });
            }
            Block::Fields(fields) => {
                let texts: Vec<Value> = fields
                    .iter()
                    .map(|(label, value)| field_text(label, value))
                    .filter(|t| !t.trim().is_empty())
                    .map(mrkdwn_obj)
                    .collect();
                for chunk in texts.chunks(MAX_FIELDS_PER_SECTION) {
                    blocks.push(json!({"type": "section", "fields": chunk}));
                }
            }
            Block::Divider => blocks.push(json!({"type": "divider"})),
            // Files travel beside the blocks (files.completeUploadExternal); a
            // message that cannot carry them (one person only) names them.
            Block::File(a) => {
                let t = RichText::plain(format!("📎 {} ({})", a.title, a.filename));
                let text = mrkdwn_obj(mrkdwn_bounded(lead.as_deref(), &t, MAX_SECTION_CHARS));
                emoji_shown |= lead.is_some();
                blocks.push(json!({"type": "context", "elements": [text]}));
            }
            Block::Actions(actions) => {
                for elements in action_elements(actions, &mut link_counter) {
                    blocks.push(json!({"type": "actions", "elements": elements}));
                }
            }
        }
    }
    if !emoji_shown {
        // The message starts with fields, a divider or buttons: the accent still shows, on top.
        blocks.insert(
            0,
            json!({"type": "context", "elements": [mrkdwn_obj(emoji.to_owned())]}),
        );
    }
    if blocks.len() > MAX_BLOCKS {
        let hidden = blocks.len() - (MAX_BLOCKS - 1);
        blocks.truncate(MAX_BLOCKS - 1);
        blocks.push(json!({
            "type": "context",
            "elements": [mrkdwn_obj(format!("…{hidden} more items not shown"))]
        }));
    }
    (blocks, fallback_text(message))
}

/// The emoji a message's first line carries.
pub fn accent_emoji(accent: Accent) -> &'static str {
    match accent {
        Accent::Severity(Severity::Critical) => "🔴",
        Accent::Severity(Severity::Warning) => "🟠",
        Accent::Severity(Severity::Opportunity) => "🔵",
        Accent::Acknowledged => "👀",
        Accent::Snoozed => "💤",
        Accent::Resolved => "✅",
        Accent::Info => "ℹ️",
        Accent::Error => "⚠️",
    }
}

/// Escapes text for Slack `mrkdwn` (and for the fallback `text`, which Slack parses too).
pub fn escape_mrkdwn(s: &str) -> String {
    escape_atoms(s).concat()
}

/// Renders rich text as `mrkdwn`, without a length limit.
pub fn mrkdwn(text: &RichText) -> String {
    mrkdwn_bounded(None, text, usize::MAX)
}

fn mrkdwn_obj(text: String) -> Value {
    // `verbatim` stops Slack from turning bare URLs and channel names in client
    // text into links; our own `<url|label>` links still work.
    json!({"type": "mrkdwn", "text": text, "verbatim": true})
}

fn field_text(label: &str, value: &RichText) -> String {
    let label = label.replace('*', "");
    let label = label.trim();
    let mut pieces: Vec<Piece> = Vec::new();
    if !label.is_empty() {
        pieces.push(Piece::Wrapped {
            lead: Vec::new(),
            open: "*",
            inner: escape_atoms(label),
            close: "*",
            trail: Vec::new(),
        });
        pieces.push(Piece::Atoms(vec!["\n".to_owned()]));
    }
    pieces.extend(value.0.iter().map(span_piece));
    bounded(&pieces, MAX_FIELD_CHARS)
}

fn mrkdwn_bounded(prefix: Option<&str>, text: &RichText, limit: usize) -> String {
    let mut pieces: Vec<Piece> = Vec::new();
    if let Some(p) = prefix {
        pieces.push(Piece::Whole(p.to_owned(), None));
    }
    pieces.extend(text.0.iter().map(span_piece));
    bounded(&pieces, limit)
}

/// A unit of rendered mrkdwn, as the truncation sees it.
enum Piece {
    /// Characters (or escape sequences) that may be cut between any two atoms.
    Atoms(Vec<String>),
    /// Atoms between an opening and a closing mark that must stay paired,
    /// with plain atoms before and after (spaces kept outside the marks).
    Wrapped {
        /// Before the opening mark.
        lead: Vec<String>,
        /// The opening mark.
        open: &'static str,
        /// Between the marks.
        inner: Vec<String>,
        /// The closing mark.
        close: &'static str,
        /// After the closing mark.
        trail: Vec<String>,
    },
    /// Markup that is all or nothing, with what to show instead when it does not fit.
    Whole(String, Option<Vec<String>>),
}

fn span_piece(span: &Span) -> Piece {
    match span {
        Span::Plain(s) => Piece::Atoms(escape_atoms(s)),
        Span::Strong(s) => {
            // Slack bolds `*x*` only when the marks touch the text, so
            // surrounding spaces go outside the marks.
            let s = s.replace('*', "");
            let inner = s.trim();
            if inner.is_empty() {
                return Piece::Atoms(escape_atoms(&s));
            }
            let lead = &s[..s.len() - s.trim_start().len()];
            let trail = &s[s.trim_end().len()..];
            Piece::Wrapped {
                lead: escape_atoms(lead),
                open: "*",
                inner: escape_atoms(inner),
                close: "*",
                trail: escape_atoms(trail),
            }
        }
        Span::Code(s) => {
            let s: String = s
                .chars()
                .filter(|c| *c != '`')
                .map(|c| if c == '\n' { ' ' } else { c })
                .collect();
            if s.trim().is_empty() {
                Piece::Atoms(escape_atoms(&s))
            } else {
                Piece::Wrapped {
                    lead: Vec::new(),
                    open: "`",
                    inner: escape_atoms(&s),
                    close: "`",
                    trail: Vec::new(),
                }
            }
        }
        Span::Link { url, label } => match link_markup(url, label) {
            Some(markup) => Piece::Whole(markup, Some(escape_atoms(label))),
            None => Piece::Atoms(escape_atoms(label)),
        },
        Span::Mention(user) => {
            if user.platform == Platform::Slack && is_user_id(&user.id) {
                Piece::Whole(format!("<@{}>", user.id), None)
            } else {
                Piece::Atoms(escape_atoms(&format!("@{}", user.id)))
            }
        }
        // Slack channel ids are uppercase letters and digits (checked by `ChannelRef`).
        Span::Channel(c) if c.platform == Platform::Slack => {
            Piece::Whole(format!("<#{}>", c.id), None)
        }
        Span::Channel(c) => Piece::Atoms(escape_atoms(&format!("#{}", c.id))),
    }
}

/// `<url|label>` for Klaviyo deep links; `None` for anything else.
fn link_markup(url: &str, label: &str) -> Option<String> {
    if !is_klaviyo_url(url) {
        return None;
    }
    let url = url.replace('&', "&amp;");
    let label = escape_mrkdwn(&label.replace('\n', " "));
    if label.trim().is_empty() {
        Some(format!("<{url}>"))
    } else {
        Some(format!("<{url}|{label}>"))
    }
}

/// Whether a URL is a deep link into Klaviyo's web app that is safe inside `<…>`.
pub fn is_klaviyo_url(url: &str) -> bool {
    url.starts_with(KLAVIYO_APP)
        && url.chars().count() <= MAX_URL_CHARS
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '|'))
        && reqwest::Url::parse(url).is_ok()
}

/// Slack user ids (`U…`, `W…`): only these become real mentions.
pub fn is_user_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('U' | 'W'))
        && s.len() >= 3
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Joins pieces, cutting at `limit` characters (including a closing `…`).
fn bounded(pieces: &[Piece], limit: usize) -> String {
    let full = render_pieces(pieces, usize::MAX);
    if full.chars().count() <= limit {
        return full;
    }
    // One character is kept for the ellipsis.
    let mut out = render_pieces(pieces, limit.saturating_sub(1));
    out.push('…');
    out
}

/// Renders pieces into at most `limit` characters, stopping at the first piece that does not fit.
fn render_pieces(pieces: &[Piece], limit: usize) -> String {
    let mut b = Builder {
        out: String::new(),
        len: 0,
        limit,
    };
    for piece in pieces {
        let complete = match piece {
            Piece::Atoms(atoms) => b.atoms(atoms, 0),
            Piece::Wrapped {
                lead,
                open,
                inner,
                close,
                trail,
            } => {
                let (o, c) = (open.chars().count(), close.chars().count());
                if !b.atoms(lead, 0) {
                    false
                } else if b.fits(o + count(inner) + c, 0) {
                    b.push(open);
                    b.atoms(inner, 0);
                    b.push(close);
                    b.atoms(trail, 0)
                } else {
                    let first = inner.first().map_or(0, |a| a.chars().count());
                    if b.fits(o + first + c, 0) {
                        // Part of it, still closed, so the marks stay paired.
                        b.push(open);
                        b.atoms(inner, c);
                        b.push(close);
                    }
                    false
                }
            }
            Piece::Whole(markup, instead) => {
                if b.fits(markup.chars().count(), 0) {
                    b.push(markup);
                    true
                } else {
                    if let Some(atoms) = instead {
                        b.atoms(atoms, 0);
                    }
                    false
                }
            }
        };
        if !complete {
            break;
        }
    }
    b.out
}

fn count(atoms: &[String]) -> usize {
    atoms.iter().map(|a| a.chars().count()).sum()
}

struct Builder {
    out: String,
    len: usize,
    limit: usize,
}

impl Builder {
    fn fits(&self, n: usize, reserve: usize) -> bool {
        self.len + n + reserve <= self.limit
    }

    fn push(&mut self, s: &str) {
        self.out.push_str(s);
        self.len += s.chars().count();
    }

    /// Pushes atoms while they fit (keeping `reserve` free); true when all did.
    fn atoms(&mut self, atoms: &[String], reserve: usize) -> bool {
        for a in atoms {
            let n = a.chars().count();
            if !self.fits(n, reserve) {
                return false;
            }
            self.push(a);
        }
        true
    }
}

/// `s` without the characters that are never shown (line breaks kept), so
/// what follows an `@` is judged as it will read: `@`, zero-width space,
/// `here` would otherwise pass as no broadcast and then show as `@here`.
fn visible_chars(s: &str) -> Vec<char> {
    s.chars()
        .filter(|&c| !is_hidden(c) || (is_line_break(c) && c != '\r'))
        .collect()
}

/// Splits text into escaped atoms: one per visible character, never cut inside.
fn escape_atoms(s: &str) -> Vec<String> {
    let chars = visible_chars(s);
    let mut out = Vec::with_capacity(chars.len());
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '&' => out.push("&amp;".to_owned()),
            '<' => out.push("&lt;".to_owned()),
            '>' => out.push("&gt;".to_owned()),
            // An `@` ending the text is broken too: the next span may spell the word.
            '@' if i + 1 == chars.len() || is_broadcast_word(&chars[i + 1..]) => {
                out.push(BROADCAST_AT.to_string());
            }
            // `\r\n` is one break: the `\r` goes with the hidden controls.
            c if is_line_break(c) && c != '\r' => out.push("\n".to_owned()),
            '\t' => out.push(" ".to_owned()),
            c if is_hidden(c) => {}
            c => out.push(c.to_string()),
        }
    }
    out
}

/// Text for `plain_text` objects: one line, nothing hidden, broadcasts broken.
/// (`plain_text` is not parsed, so `&<>` stay as typed.)
fn clean_plain(s: &str) -> String {
    let chars = visible_chars(s);
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        match c {
            c if is_line_break(c) || c == '\t' => out.push(' '),
            '@' if is_broadcast_word(&chars[i + 1..]) => out.push(BROADCAST_AT),
            c if is_hidden(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Cuts plain text to `limit` characters, ending with `…` when cut.
fn truncate_plain(s: &str, limit: usize) -> String {
    if s.chars().count() <= limit {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(limit.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn plain_obj(text: &str, limit: usize) -> Value {
    json!({"type": "plain_text", "text": truncate_plain(&clean_plain(text), limit), "emoji": true})
}

/// Interactive elements for one `Actions` block, split into Slack-sized groups.
fn action_elements(actions: &[Action], link_counter: &mut usize) -> Vec<Vec<Value>> {
    let mut groups: Vec<Vec<Value>> = Vec::new();
    let mut current: Vec<Value> = Vec::new();
    for action in actions {
        let Some(element) = action_element(action, link_counter) else {
            continue;
        };
        // Slack rejects a block whose action ids repeat (two findings' buttons
        // in one list), so a repeat starts a new block.
        let id = element.get("action_id").cloned();
        let repeats = current.iter().any(|e| e.get("action_id") == id.as_ref());
        if current.len() == MAX_ACTION_ELEMENTS || repeats {
            groups.push(std::mem::take(&mut current));
        }
        current.push(element);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

fn action_element(action: &Action, link_counter: &mut usize) -> Option<Value> {
    match action {
        Action::Button { kind, finding } => Some(finding_element(*kind, *finding)),
        Action::Link { label, url } => {
            if !is_klaviyo_url(url) {
                tracing::debug!("dropping a link button that does not point into Klaviyo");
                return None;
            }
            *link_counter += 1;
            Some(json!({
                "type": "button",
                "action_id": format!("{}{}", action_ids::LINK_PREFIX, link_counter),
                "text": plain_obj(label, MAX_BUTTON_CHARS),
                "url": url,
            }))
        }
    }
}

fn finding_element(kind: ActionKind, finding: FindingId) -> Value {
    let value = finding.to_string();
    let button = |id: &str| {
        json!({
            "type": "button",
            "action_id": id,
            "text": plain_obj(kind.label(), MAX_BUTTON_CHARS),
            "value": value,
        })
    };
    match kind {
        ActionKind::Acknowledge => {
            let mut b = button(action_ids::ACK);
            b["style"] = json!("primary");
            b
        }
        ActionKind::Snooze => {
            let options: Vec<Value> = SNOOZE_OPTIONS
                .iter()
                .map(|(v, label)| {
                    json!({
                        "text": plain_obj(label, MAX_OPTION_CHARS),
                        "value": format!("{value}|{v}"),
                    })
                })
                .collect();
            json!({
                "type": "static_select",
                "action_id": action_ids::SNOOZE,
                "placeholder": plain_obj(kind.label(), MAX_BUTTON_CHARS),
                "options": options,
            })
        }
        ActionKind::Resolve => button(action_ids::RESOLVE),
        ActionKind::AddNote => button(action_ids::NOTE),
        ActionKind::Reopen => button(action_ids::REOPEN),
    }
}

/// The notification text: the message's words, escaped, without buttons.
fn fallback_text(message: &Message) -> String {
    let mut pieces: Vec<Piece> = vec![Piece::Whole(
        format!("{} ", accent_emoji(message.accent)),
        None,
    )];
    let mut first = true;
    let mut line = |pieces: &mut Vec<Piece>| {
        if !std::mem::take(&mut first) {
            pieces.push(Piece::Atoms(vec!["\n".to_owned()]));
        }
    };
    for block in &message.blocks {
        match block {
            Block::Header(h) => {
                line(&mut pieces);
                pieces.push(Piece::Atoms(escape_atoms(&h.replace('\n', " "))));
            }
            Block::Text(t) | Block::Context(t) => {
                line(&mut pieces);
                pieces.extend(t.0.iter().map(fallback_span));
            }
            Block::Fields(fields) => {
                for (label, value) in fields {
                    line(&mut pieces);
                    pieces.push(Piece::Atoms(escape_atoms(&format!("{label}: "))));
                    pieces.extend(value.0.iter().map(fallback_span));
                }
            }
            Block::File(a) => {
                line(&mut pieces);
                pieces.push(Piece::Atoms(escape_atoms(&a.title)));
            }
            Block::Actions(_) | Block::Divider => {}
        }
    }
    bounded(&pieces, MAX_FALLBACK_CHARS)
}

/// Spans in the fallback: words only (no bold or code marks), real mentions kept.
fn fallback_span(span: &Span) -> Piece {
    match span {
        Span::Plain(s) | Span::Strong(s) | Span::Code(s) => Piece::Atoms(escape_atoms(s)),
        Span::Link { label, .. } => Piece::Atoms(escape_atoms(label)),
        Span::Mention(_) | Span::Channel(_) => span_piece(span),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(accent: Accent, blocks: Vec<Block>) -> Message {
        Message { accent, blocks }
    }

    fn info(blocks: Vec<Block>) -> Message {
        msg(Accent::Info, blocks)
    }

    fn text_of(block: &Value) -> String {
        block["text"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    /// Every texts of the rendered output, for "no raw markup" assertions.
    fn all_texts(blocks: &[Value]) -> Vec<String> {
        let mut out = Vec::new();
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(t)) = m.get("text") {
                        out.push(t.clone());
                    }
                    m.values().for_each(|x| walk(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        blocks.iter().for_each(|b| walk(b, &mut out));
        out
    }

    /// Asserts every Slack limit on a rendered message.
    fn assert_within_limits(blocks: &[Value], fallback: &str) {
        assert!(blocks.len() <= MAX_BLOCKS, "{} blocks", blocks.len());
        assert!(chars(fallback) <= MAX_FALLBACK_CHARS);
        for b in blocks {
            match b["type"].as_str().unwrap() {
                "header" => assert!(chars(&text_of(b)) <= MAX_HEADER_CHARS),
                "section" => {
                    assert!(chars(&text_of(b)) <= MAX_SECTION_CHARS);
                    if let Some(fields) = b["fields"].as_array() {
                        assert!(fields.len() <= MAX_FIELDS_PER_SECTION);
                        for f in fields {
                            assert!(chars(f["text"].as_str().unwrap()) <= MAX_FIELD_CHARS);
                        }
                    }
                }
                "context" => {
                    let els = b["elements"].as_array().unwrap();
                    assert!(!els.is_empty() && els.len() <= MAX_CONTEXT_ELEMENTS);
                    for e in els {
                        assert!(chars(e["text"].as_str().unwrap()) <= MAX_SECTION_CHARS);
                    }
                }
                "actions" => {
                    let els = b["elements"].as_array().unwrap();
                    assert!(!els.is_empty() && els.len() <= MAX_ACTION_ELEMENTS);
                    for e in els {
                        if e["type"] == "button" {
                            assert!(chars(&text_of(e)) <= MAX_BUTTON_CHARS);
                        } else {
                            for o in e["options"].as_array().unwrap() {
                                assert!(chars(&text_of(o)) <= MAX_OPTION_CHARS);
                            }
                        }
                    }
                }
                "divider" => {}
                other => panic!("unexpected block type {other}"),
            }
        }
        // Every rendered block must also be a valid slack-morphism block.
        for b in blocks {
            let typed: slack_morphism::prelude::SlackBlock =
                serde_json::from_value(b.clone()).unwrap();
            assert_eq!(&serde_json::to_value(typed).unwrap(), b);
        }
    }

    fn card() -> Message {
        msg(
            Accent::Severity(Severity::Critical),
            vec![
                Block::Header("Flow stopped: Welcome".into()),
                Block::Text(
                    RichText::plain("The flow ")
                        .push(Span::Strong("Welcome".into()))
                        .push(Span::Plain(" stopped. ".into()))
                        .push(Span::Mention(
                            crate::message::PersonRef::parse("slack:U0ANA").unwrap(),
                        )),
                ),
                Block::Fields(vec![
                    ("Client".into(), RichText::plain("acme")),
                    ("At risk".into(), RichText::plain("$12,400 / week")),
                ]),
                Block::Divider,
                Block::Context(
                    RichText(vec![Span::Code("F-12".into())])
                        .push(Span::Plain(" · first seen 2026-03-01".into())),
                ),
                Block::Actions(vec![
                    Action::Button {
                        kind: ActionKind::Acknowledge,
                        finding: FindingId(12),
                    },
                    Action::Button {
                        kind: ActionKind::Snooze,
                        finding: FindingId(12),
                    },
                    Action::Button {
                        kind: ActionKind::Resolve,
                        finding: FindingId(12),
                    },
                    Action::Button {
                        kind: ActionKind::AddNote,
                        finding: FindingId(12),
                    },
                    Action::Button {
                        kind: ActionKind::Reopen,
                        finding: FindingId(12),
                    },
                    Action::Link {
                        label: "Open in Klaviyo".into(),
                        url: "https://www.klaviyo.com/flow/AbC/edit".into(),
                    },
                ]),
            ],
        )
    }

    #[test]
    fn a_finding_card_renders_every_block_kind() {
        let (blocks, fallback) = render(&card());
        let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "header", "section", "section", "divider", "context", "actions"
            ]
        );
        assert_eq!(
            blocks[0]["text"],
            json!({"type": "plain_text", "text": "🔴 Flow stopped: Welcome", "emoji": true})
        );
        assert_eq!(text_of(&blocks[1]), "The flow *Welcome* stopped. <@U0ANA>");
        assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
        assert_eq!(blocks[2]["fields"][1]["text"], "*At risk*\n$12,400 / week");
        assert_eq!(
            blocks[4]["elements"][0]["text"],
            "`F-12` · first seen 2026-03-01"
        );
        let els = blocks[5]["elements"].as_array().unwrap();
        assert_eq!(els.len(), 6);
        assert_eq!(els[0]["action_id"], "lookout_ack");
        assert_eq!(els[0]["value"], "F-12");
        assert_eq!(els[0]["style"], "primary");
        assert_eq!(els[1]["type"], "static_select");
        assert_eq!(els[1]["action_id"], "lookout_snooze");
        let values: Vec<&str> = els[1]["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["value"].as_str().unwrap())
            .collect();
        assert_eq!(
            values,
            [
                "F-12|1h",
                "F-12|4h",
                "F-12|1d",
                "F-12|7d",
                "F-12|until-worse"
            ]
        );
        assert_eq!(els[2]["action_id"], "lookout_resolve");
        assert!(
            els[2].get("style").is_none(),
            "resolve keeps the default style"
        );
        assert_eq!(els[3]["action_id"], "lookout_note");
        assert_eq!(els[4]["action_id"], "lookout_reopen");
        assert_eq!(els[5]["action_id"], "lookout_link_1");
        assert_eq!(els[5]["url"], "https://www.klaviyo.com/flow/AbC/edit");
        assert_eq!(els[5]["text"]["text"], "Open in Klaviyo");
        assert!(
            fallback.starts_with("🔴 Flow stopped: Welcome\nThe flow Welcome stopped. <@U0ANA>")
        );
        assert!(fallback.contains("At risk: $12,400 / week"));
        assert!(
            !fallback.contains("Acknowledge"),
            "buttons stay out of the fallback"
        );
        assert_within_limits(&blocks, &fallback);
    }

    #[test]
    fn each_accent_has_its_emoji() {
        let cases = [
            (Accent::Severity(Severity::Critical), "🔴"),
            (Accent::Severity(Severity::Warning), "🟠"),
            (Accent::Severity(Severity::Opportunity), "🔵"),
            (Accent::Acknowledged, "👀"),
            (Accent::Snoozed, "💤"),
            (Accent::Resolved, "✅"),
            (Accent::Info, "ℹ️"),
            (Accent::Error, "⚠️"),
        ];
        for (accent, emoji) in cases {
            let (blocks, fallback) = render(&Message::text(accent, "hi"));
            assert_eq!(text_of(&blocks[0]), format!("{emoji} hi"));
            assert_eq!(fallback, format!("{emoji} hi"));
        }
    }

    #[test]
    fn without_text_the_emoji_gets_its_own_context_block() {
        let (blocks, _) = render(&msg(
            Accent::Resolved,
            vec![
                Block::Divider,
                Block::Fields(vec![("a".into(), RichText::plain("b"))]),
            ],
        ));
        assert_eq!(blocks[0]["type"], "context");
        assert_eq!(blocks[0]["elements"][0]["text"], "✅");
        assert_eq!(blocks.len(), 3);
        // Text after fields does not take the emoji: it belongs to the first line.
        let (blocks, _) = render(&msg(
            Accent::Snoozed,
            vec![
                Block::Header(" ".into()),
                Block::Fields(vec![("a".into(), RichText::plain("b"))]),
                Block::Text(RichText::plain("later")),
            ],
        ));
        assert_eq!(blocks[0]["elements"][0]["text"], "💤");
        assert_eq!(text_of(&blocks[2]), "later");
        assert_eq!(blocks.len(), 3, "the blank header is left out");
    }

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let evil = "<!channel> <https://evil|click> @here & @Everyone *x* `y`";
        let m = info(vec![
            Block::Header(evil.into()),
            Block::Text(RichText::plain(evil).push(Span::Strong(evil.into()))),
            Block::Fields(vec![(evil.into(), RichText::plain(evil))]),
            Block::Context(RichText(vec![Span::Code(evil.into())])),
            Block::Actions(vec![Action::Link {
                label: evil.into(),
                url: "https://www.klaviyo.com/x".into(),
            }]),
        ]);
        let (blocks, fallback) = render(&m);
        let section = text_of(&blocks[1]);
        assert!(
            section
                .starts_with("&lt;!channel&gt; &lt;https://evil|click&gt; ＠here &amp; ＠Everyone")
        );
        let mrkdwn_texts: Vec<String> = all_texts(&blocks[1..4])
            .into_iter()
            .chain([fallback.clone()])
            .collect();
        for t in &mrkdwn_texts {
            assert!(!t.contains("<!"), "{t}");
            assert!(!t.contains("<https://evil"), "{t}");
            assert!(!t.contains("@here"), "{t}");
            assert!(!t.contains("@Everyone"), "{t}");
            assert!(!t.contains("& "), "{t}");
        }
        // plain_text is shown as typed (Slack does not parse it), broadcasts still broken.
        let header = text_of(&blocks[0]);
        assert!(header.contains("＠here") && !header.contains("@here"));
        let button = &blocks[4]["elements"][0]["text"];
        assert_eq!(button["type"], "plain_text");
        assert!(!button["text"].as_str().unwrap().contains("@here"));
        // `*` and backticks inside bold and code are stripped, so marks stay paired.
        assert!(section.contains("*&lt;!channel&gt;"));
        assert!(!section.contains("**"));
        assert_within_limits(&blocks, &fallback);
    }

    #[test]
    fn links_only_for_klaviyo_and_mentions_only_for_user_ids() {
        let t = RichText(vec![
            Span::Link {
                url: "https://www.klaviyo.com/flow/1?a=1&b=2".into(),
                label: "open <it>".into(),
            },
            Span::Plain(" ".into()),
            Span::Link {
                url: "https://evil.example/klaviyo".into(),
                label: "click".into(),
            },
            Span::Plain(" ".into()),
            Span::Link {
                url: "https://www.klaviyo.com/x|y>".into(),
                label: "forged".into(),
            },
            Span::Plain(" ".into()),
            Span::Mention(crate::message::PersonRef::parse("slack:U0ABC12").unwrap()),
            Span::Plain(" ".into()),
            Span::Mention(crate::message::PersonRef::parse("slack:W123").unwrap()),
            Span::Plain(" ".into()),
            Span::Mention(crate::message::PersonRef::console("ana")),
            Span::Plain(" ".into()),
            Span::Mention(crate::message::PersonRef::console("here")),
            Span::Plain(" ".into()),
            Span::Mention(crate::message::PersonRef::parse("discord:1").unwrap()),
        ]);
        assert_eq!(
            mrkdwn(&t),
            "<https://www.klaviyo.com/flow/1?a=1&amp;b=2|open &lt;it&gt;> click forged \
             <@U0ABC12> <@W123> @ana ＠here @1"
        );
    }

    #[test]
    fn non_klaviyo_link_buttons_are_dropped() {
        let (blocks, _) = render(&info(vec![
            Block::Text(RichText::plain("x")),
            Block::Actions(vec![
                Action::Link {
                    label: "evil".into(),
                    url: "https://evil.example/".into(),
                },
                Action::Link {
                    label: "ok".into(),
                    url: "https://www.klaviyo.com/a".into(),
                },
            ]),
        ]));
        let els = blocks[1]["elements"].as_array().unwrap();
        assert_eq!(els.len(), 1);
        assert_eq!(els[0]["text"]["text"], "ok");
        // Only links need a url; an actions block of only bad links disappears.
        let (blocks, _) = render(&info(vec![Block::Actions(vec![Action::Link {
            label: "evil".into(),
            url: "javascript:alert(1)".into(),
        }])]));
        assert!(blocks.iter().all(|b| b["type"] != "actions"));
    }

    #[test]
    fn strong_and_code_strip_their_own_marks() {
        let t = RichText(vec![
            Span::Strong(" a*b ".into()),
            Span::Code("x`y\nz".into()),
            Span::Strong("***".into()),
            Span::Code("``".into()),
        ]);
        assert_eq!(mrkdwn(&t), " *ab* `xy z`");
    }

    #[test]
    fn hidden_characters_cannot_smuggle_a_broadcast() {
        let t = RichText::plain("@\u{200B}here @\u{202E}channel @\u{FEFF}everyone");
        assert_eq!(mrkdwn(&t), "＠here ＠channel ＠everyone");
        assert_eq!(clean_plain("@\u{2060}here"), "＠here");
        // Across spans: an `@` that ends one span.
        let t = RichText(vec![Span::Plain("x@".into()), Span::Plain("here".into())]);
        assert_eq!(mrkdwn(&t), "x＠here");
    }

    #[test]
    fn control_and_bidi_characters_are_removed() {
        let t = RichText::plain("a\u{1b}[31mb\u{202E}c\u{0}d\te\nf");
        assert_eq!(mrkdwn(&t), "a[31mbcd e\nf");
    }

    #[test]
    fn header_is_capped_at_150_chars() {
        let (blocks, fallback) = render(&info(vec![Block::Header("h".repeat(400))]));
        let h = text_of(&blocks[0]);
        assert_eq!(chars(&h), MAX_HEADER_CHARS);
        assert!(h.ends_with('…'));
        assert_within_limits(&blocks, &fallback);
        // Exactly at the limit: not cut.
        let exact = "h".repeat(MAX_HEADER_CHARS - 3);
        let (blocks, _) = render(&info(vec![Block::Header(exact.clone())]));
        assert_eq!(text_of(&blocks[0]), format!("ℹ️ {exact}"));
    }

    #[test]
    fn section_text_is_capped_without_cutting_an_escape_or_markup() {
        let long = RichText(vec![
            Span::Plain("&".repeat(2000)),
            Span::Strong("bold".repeat(300)),
            Span::Link {
                url: "https://www.klaviyo.com/a".into(),
                label: "l".into(),
            },
        ]);
        let (blocks, fallback) = render(&info(vec![Block::Text(long)]));
        let t = text_of(&blocks[0]);
        assert!(chars(&t) <= MAX_SECTION_CHARS);
        assert!(t.ends_with('…'));
        let body = t.trim_end_matches('…').trim_start_matches("ℹ️ ");
        assert!(
            body.split("&amp;").all(|rest| !rest.contains('&')),
            "cut escape"
        );
        assert_eq!(body.matches('*').count() % 2, 0, "unpaired bold mark");
        assert_within_limits(&blocks, &fallback);

        // A link that does not fit is shown as its label, never half a link.
        let t = RichText(vec![
            Span::Plain("x".repeat(MAX_SECTION_CHARS - 10)),
            Span::Link {
                url: format!("https://www.klaviyo.com/{}", "p".repeat(100)),
                label: "label".into(),
            },
            Span::Plain("y".repeat(100)),
        ]);
        let (blocks, fallback) = render(&info(vec![Block::Text(t)]));
        let s = text_of(&blocks[0]);
        assert!(!s.contains('<') && s.contains("label") && s.ends_with('…'));
        assert_within_limits(&blocks, &fallback);
    }

    #[test]
    fn fields_split_into_sections_of_ten_and_cap_each_text() {
        let fields: Vec<(String, RichText)> = (0..23)
            .map(|i| (format!("k{i}"), RichText::plain("<".repeat(3000))))
            .collect();
        let (blocks, fallback) = render(&info(vec![
            Block::Text(RichText::plain("t")),
            Block::Fields(fields),
        ]));
        let counts: Vec<usize> = blocks[1..]
            .iter()
            .map(|b| b["fields"].as_array().unwrap().len())
            .collect();
        assert_eq!(counts, [10, 10, 3]);
        let f = blocks[1]["fields"][0]["text"].as_str().unwrap();
        assert!(f.starts_with("*k0*\n&lt;") && f.ends_with("&lt;…"));
        assert_within_limits(&blocks, &fallback);
    }

    #[test]
    fn many_blocks_end_in_a_more_items_note() {
        let blocks_in: Vec<Block> = (0..120)
            .map(|i| Block::Text(RichText::plain(format!("line {i}"))))
            .collect();
        let (blocks, fallback) = render(&info(blocks_in));
        assert_eq!(blocks.len(), MAX_BLOCKS);
        assert_eq!(text_of(&blocks[48]), "line 48");
        assert_eq!(blocks[49]["type"], "context");
        assert_eq!(
            blocks[49]["elements"][0]["text"],
            "…71 more items not shown"
        );
        assert_within_limits(&blocks, &fallback);
        // Exactly 50 blocks: nothing hidden.
        let (blocks, _) = render(&info((0..50).map(|_| Block::Divider).collect()));
        assert_eq!(blocks.len(), MAX_BLOCKS);
    }

    #[test]
    fn actions_split_at_25_and_on_repeated_action_ids() {
        let links: Vec<Action> = (0..30)
            .map(|i| Action::Link {
                label: format!("{i}{}", "L".repeat(200)),
                url: format!("https://www.klaviyo.com/{i}"),
            })
            .collect();
        let (blocks, fallback) = render(&info(vec![
            Block::Text(RichText::plain("t")),
            Block::Actions(links),
        ]));
        let sizes: Vec<usize> = blocks[1..]
            .iter()
            .map(|b| b["elements"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [25, 5]);
        assert_eq!(blocks[2]["elements"][4]["action_id"], "lookout_link_30");
        assert_within_limits(&blocks, &fallback);

        // Two findings' buttons in one list: the second set goes to a new block.
        let two: Vec<Action> = [1, 2]
            .iter()
            .flat_map(|f| {
                [ActionKind::Acknowledge, ActionKind::Snooze].map(|kind| Action::Button {
                    kind,
                    finding: FindingId(*f),
                })
            })
            .collect();
        let (blocks, fallback) = render(&info(vec![Block::Actions(two)]));
        let actions: Vec<&Value> = blocks.iter().filter(|b| b["type"] == "actions").collect();
        assert_eq!(actions.len(), 2);
        assert_eq!(actions[1]["elements"][0]["value"], "F-2");
        assert_within_limits(&blocks, &fallback);
    }

    #[test]
    fn contexts_are_single_capped_elements() {
        let spans: Vec<Span> = (0..40)
            .map(|i| Span::Code(format!("F-{i}{}", "9".repeat(100))))
            .collect();
        let (blocks, fallback) = render(&info(vec![Block::Context(RichText(spans))]));
        assert_eq!(blocks[0]["elements"].as_array().unwrap().len(), 1);
        let t = blocks[0]["elements"][0]["text"].as_str().unwrap();
        assert!(t.ends_with("`…"), "code closed before the cut: {t}");
        assert_within_limits(&blocks, &fallback);
    }

    #[test]
    fn fallback_is_capped_at_4000_chars() {
        let m = info(
            (0..40)
                .map(|_| Block::Text(RichText::plain(">".repeat(2000))))
                .collect(),
        );
        let (blocks, fallback) = render(&m);
        assert_eq!(chars(&fallback), MAX_FALLBACK_CHARS);
        assert!(fallback.ends_with("&gt;…"));
        assert_within_limits(&blocks, &fallback);
    }

    #[test]
    fn empty_text_blocks_are_skipped_not_sent_empty() {
        let (blocks, _) = render(&info(vec![
            Block::Header("h".into()),
            Block::Text(RichText::default()),
            Block::Context(RichText::plain("  ")),
            Block::Fields(vec![]),
            Block::Actions(vec![]),
        ]));
        assert_eq!(blocks.len(), 1);
    }

    #[test]
    fn user_ids_are_recognised_strictly() {
        for ok in ["U123", "W0ABC", "UAB"] {
            assert!(is_user_id(ok), "{ok}");
        }
        for bad in ["U1", "u123", "C123", "U12 3", "", "U-12", "@U123"] {
            assert!(!is_user_id(bad), "{bad}");
        }
    }

    #[test]
    fn channel_links_are_clickable_only_on_slack() {
        use crate::message::ChannelRef;
        let t = RichText(vec![
            Span::Channel(ChannelRef::parse("slack:C0ACME").unwrap()),
            Span::Plain(" ".into()),
            Span::Channel(ChannelRef::parse("discord:42").unwrap()),
        ]);
        assert_eq!(mrkdwn(&t), "<#C0ACME> #42");
    }
}
