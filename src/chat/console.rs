//! The console chat adapter: Lookout's messages as plain terminal text.
//!
//! Used by the demo, local runs and tests. Every post, reply, edit and
//! ephemeral message is printed as a block headed by its channel and message
//! number, and recorded in a transcript tests can inspect. Text that may come
//! from a client account is stripped of escape sequences and control
//! characters first, so a flow name can never clear or recolour the terminal.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::domain::Severity;
use crate::message::text::{is_hidden, is_line_break};
use crate::message::{
    Accent, Action, Block, ChannelRef, ChatAdapter, ChatError, Message, MessageRef, PersonRef,
    Platform, RichText, Span,
};

/// What kind of call produced a transcript entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleEventKind {
    /// A new top-level message.
    Post,
    /// A new message in a thread.
    Reply,
    /// A posted message replaced in place.
    Update,
    /// A message shown to one person only.
    Ephemeral,
}

/// One adapter call, as recorded in the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleEvent {
    /// Post, reply, update or ephemeral.
    pub kind: ConsoleEventKind,
    /// Where it went.
    pub channel: ChannelRef,
    /// The message's number (for an update, the message edited).
    pub message_ref: MessageRef,
    /// The thread it belongs to, if any.
    pub thread: Option<MessageRef>,
    /// Who alone sees it (ephemeral messages only).
    pub user: Option<PersonRef>,
    /// The message as given.
    pub message: Message,
    /// The message as rendered, without the block heading.
    pub text: String,
}

/// A chat adapter that prints to a terminal or any writer.
pub struct ConsoleChat {
    inner: Mutex<Inner>,
}

struct Inner {
    writer: Box<dyn Write + Send>,
    /// Last message number handed out; refs are "1", "2", ...
    counter: u64,
    /// Posted messages that can be edited or replied to, by ref.
    posted: HashMap<String, Posted>,
    transcript: Vec<ConsoleEvent>,
    /// Where files (charts, documents) are written; see `with_files_dir`.
    files_dir: std::path::PathBuf,
}

#[derive(Clone)]
struct Posted {
    channel: ChannelRef,
    thread: Option<MessageRef>,
}

impl ConsoleChat {
    /// Prints to stdout.
    pub fn stdout() -> Self {
        Self::with_writer(Box::new(std::io::stdout()))
    }

    /// Prints to any writer (tests use a Vec<u8> or io::sink()).
    pub fn with_writer(w: Box<dyn Write + Send>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                writer: w,
                counter: 0,
                posted: HashMap::new(),
                transcript: Vec::new(),
                files_dir: std::env::temp_dir().join("lookout-files"),
            }),
        }
    }

    /// Writes the files messages carry under `dir` (the data dir's `files/`)
    /// and prints their paths; a terminal cannot show a chart.
    pub fn with_files_dir(self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.lock().files_dir = dir.into();
        self
    }

    /// Every call recorded in order, for tests and the demo's summary.
    pub fn transcript(&self) -> Vec<ConsoleEvent> {
        self.lock().transcript.clone()
    }

    /// Carries on from another console: numbering continues after its last
    /// message and its messages can be edited and replied to here; its
    /// transcript is not copied. The demo replays its history into a silent
    /// console, then goes live on the terminal with the same message numbers.
    pub fn carry_on_from(&self, earlier: &ConsoleChat) {
        let (counter, posted): (u64, Vec<(String, Posted)>) = {
            let e = earlier.lock();
            (
                e.counter,
                e.posted
                    .iter()
                    .map(|(r, p)| (r.clone(), p.clone()))
                    .collect(),
            )
        };
        let mut inner = self.lock();
        inner.counter = inner.counter.max(counter);
        inner.posted.extend(posted);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while printing leaves the state consistent enough to keep printing.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Writes each file of a posted message as `<msg>-<filename>`; returns
    /// the path of each by file name. Names are made safe by `Attachment::new`,
    /// and are checked again here since the bytes could come from anywhere.
    fn save_files(
        &self,
        r: &MessageRef,
        message: &Message,
    ) -> Result<HashMap<String, String>, ChatError> {
        let mut saved = HashMap::new();
        for a in message.files() {
            let safe = !a.filename.is_empty()
                && !a.filename.starts_with('.')
                && a.filename
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !safe {
                return Err(ChatError::Rejected(format!(
                    "refusing to write a file named {:?}",
                    a.filename
                )));
            }
            let path = self.files_dir.join(format!("{}-{}", r.0, a.filename));
            std::fs::create_dir_all(&self.files_dir)
                .and_then(|()| std::fs::write(&path, &a.bytes))
                .map_err(|e| {
                    ChatError::Unavailable(format!("could not save {}: {e}", path.display()))
                })?;
            saved.insert(a.filename.clone(), path.display().to_string());
        }
        Ok(saved)
    }

    fn next_ref(&mut self) -> MessageRef {
        self.counter += 1;
        MessageRef(self.counter.to_string())
    }

    fn write_block(&mut self, heading: &str, body: &str, indent: &str) -> Result<(), ChatError> {
        let mut out = String::with_capacity(heading.len() + body.len() + 8);
        out.push_str(heading);
        out.push('\n');
        for line in body.lines() {
            out.push_str(indent);
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        self.writer
            .write_all(out.as_bytes())
            .and_then(|()| self.writer.flush())
            .map_err(|e| ChatError::Unavailable(format!("could not write to the console: {e}")))
    }
}

fn channel_label(channel: &ChannelRef) -> String {
    format!("#{}", clean(&channel.id, false))
}

fn ref_label(r: &MessageRef) -> String {
    clean(&r.0, false)
}

#[async_trait]
impl ChatAdapter for ConsoleChat {
    fn platform(&self) -> Platform {
        Platform::Console
    }

    async fn post(
        &self,
        channel: &ChannelRef,
        message: &Message,
        thread: Option<&MessageRef>,
    ) -> Result<MessageRef, ChatError> {
        let mut inner = self.lock();
        if let Some(parent) = thread {
            match inner.posted.get(&parent.0) {
                None => {
                    return Err(ChatError::Rejected(format!(
                        "no console message {} to reply to; post the parent first",
                        ref_label(parent)
                    )));
                }
                Some(p) if p.channel != *channel => {
                    return Err(ChatError::Rejected(format!(
                        "message {} is in {}, not {}",
                        ref_label(parent),
                        channel_label(&p.channel),
                        channel_label(channel)
                    )));
                }
                Some(_) => {}
            }
        }
        let r = inner.next_ref();
        let saved = inner.save_files(&r, message)?;
        let text = render_with(message, &saved);
        let (kind, heading, indent) = match thread {
            None => (
                ConsoleEventKind::Post,
                format!("── {} · msg {} ──", channel_label(channel), r.0),
                "",
            ),
            Some(parent) => (
                ConsoleEventKind::Reply,
                format!("   ↳ thread of msg {} · msg {}", ref_label(parent), r.0),
                "     ",
            ),
        };
        inner.write_block(&heading, &text, indent)?;
        tracing::debug!(channel = %channel, message_ref = %r.0, "console post");
        inner.posted.insert(
            r.0.clone(),
            Posted {
                channel: channel.clone(),
                thread: thread.cloned(),
            },
        );
        inner.transcript.push(ConsoleEvent {
            kind,
            channel: channel.clone(),
            message_ref: r.clone(),
            thread: thread.cloned(),
            user: None,
            message: message.clone(),
            text,
        });
        Ok(r)
    }

    async fn update(
        &self,
        channel: &ChannelRef,
        target: &MessageRef,
        message: &Message,
    ) -> Result<(), ChatError> {
        let mut inner = self.lock();
        let thread = match inner.posted.get(&target.0) {
            None => {
                return Err(ChatError::Rejected(format!(
                    "no console message {} to edit; post it first",
                    ref_label(target)
                )));
            }
            Some(p) if p.channel != *channel => {
                return Err(ChatError::Rejected(format!(
                    "message {} is in {}, not {}",
                    ref_label(target),
                    channel_label(&p.channel),
                    channel_label(channel)
                )));
            }
            Some(p) => p.thread.clone(),
        };
        let text = render(message);
        let heading = format!(
            "── {} · msg {} (edited) ──",
            channel_label(channel),
            ref_label(target)
        );
        inner.write_block(&heading, &text, "")?;
        tracing::debug!(channel = %channel, message_ref = %target.0, "console update");
        inner.transcript.push(ConsoleEvent {
            kind: ConsoleEventKind::Update,
            channel: channel.clone(),
            message_ref: target.clone(),
            thread,
            user: None,
            message: message.clone(),
            text,
        });
        Ok(())
    }

    async fn ephemeral(
        &self,
        channel: &ChannelRef,
        user: &PersonRef,
        message: &Message,
    ) -> Result<(), ChatError> {
        let mut inner = self.lock();
        // Numbered for the transcript, but not editable: platforms cannot edit ephemerals.
        let r = inner.next_ref();
        let text = render(message);
        let heading = format!(
            "── {} · only @{} sees this ──",
            channel_label(channel),
            clean(&user.id, false)
        );
        inner.write_block(&heading, &text, "")?;
        tracing::debug!(channel = %channel, user = %user, "console ephemeral");
        inner.transcript.push(ConsoleEvent {
            kind: ConsoleEventKind::Ephemeral,
            channel: channel.clone(),
            message_ref: r,
            thread: None,
            user: Some(user.clone()),
            message: message.clone(),
            text,
        });
        Ok(())
    }
}

/// `#client-acme` and `@ana` typed at the console, as `console:` references.
pub fn decode_mentions(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            if let Some(name) = w.strip_prefix('#').filter(|n| !n.is_empty()) {
                ChannelRef::console(name).to_string()
            } else if let Some(name) = w.strip_prefix('@').filter(|n| !n.is_empty()) {
                PersonRef::console(name).to_string()
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The emoji a message's first line carries.
fn accent_emoji(accent: Accent) -> &'static str {
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

/// Renders a message as it would look in chat, as plain terminal text.
pub fn render(message: &Message) -> String {
    render_with(message, &HashMap::new())
}

/// `render`, with the paths files were saved at (by file name).
fn render_with(message: &Message, saved: &HashMap<String, String>) -> String {
    let mut lines: Vec<String> = Vec::new();
    for block in &message.blocks {
        match block {
            Block::Header(h) => lines.push(clean_text(h, false)),
            Block::Text(t) => lines.extend(render_rich(t).split('\n').map(str::to_owned)),
            Block::Fields(fields) => {
                for (label, value) in fields {
                    // A value's newlines would break the `label: value` shape.
                    let value = render_rich(value).replace('\n', " ");
                    lines.push(format!("{}: {value}", clean_text(label, false)));
                }
            }
            Block::Context(t) => {
                lines.extend(render_rich(t).split('\n').map(|l| format!("  · {l}")));
            }
            Block::Actions(actions) => {
                let parts: Vec<String> = actions.iter().map(render_action).collect();
                lines.push(parts.join(" "));
            }
            Block::Divider => lines.push("─".repeat(24)),
            Block::File(a) => lines.push(match saved.get(&a.filename) {
                Some(path) => format!("📎 {}: {}", clean_text(&a.title, false), clean(path, false)),
                None => format!(
                    "📎 {} ({})",
                    clean_text(&a.title, false),
                    clean(&a.filename, false)
                ),
            }),
        }
    }
    let emoji = accent_emoji(message.accent);
    match lines.first_mut() {
        Some(first) => *first = format!("{emoji} {first}"),
        None => lines.push(emoji.to_owned()),
    }
    lines.join("\n")
}

fn render_action(action: &Action) -> String {
    match action {
        Action::Button { kind, .. } => format!("[{}]", kind.label()),
        Action::Link { label, url } => {
            format!("[{} ↗ {}]", clean_text(label, false), clean(url, false))
        }
    }
}

fn render_rich(text: &RichText) -> String {
    let mut out = String::new();
    for span in &text.0 {
        match span {
            Span::Plain(s) | Span::Strong(s) => push_text(&mut out, &clean_text(s, true)),
            Span::Code(s) => {
                out.push('`');
                out.push_str(&clean(s, false));
                out.push('`');
            }
            Span::Link { url, label } => {
                out.push_str(&clean_text(label, false));
                out.push_str(" ↗ ");
                out.push_str(&clean(url, false));
            }
            Span::Mention(user) => {
                out.push('@');
                out.push_str(&clean(&user.id, false));
            }
            Span::Channel(c) => {
                out.push('#');
                out.push_str(&clean(&c.id, false));
            }
        }
    }
    out
}

/// Appends cleaned text; a `://` that only the two together spell (`:` +
/// `//`, or `:/` + `/`) gets its colon written `[:]` too.
fn push_text(out: &mut String, cleaned: &str) {
    let boundary = out.len();
    out.push_str(cleaned);
    let mut from = boundary.saturating_sub(2);
    while !out.is_char_boundary(from) {
        from -= 1;
    }
    while let Some(i) = out[from..]
        .find("://")
        .map(|i| i + from)
        .filter(|i| *i < boundary)
    {
        out.replace_range(i..i + 1, "[:]");
    }
}

/// Cleans text that may come from a client account: terminal controls go, an
/// `@` that starts a word becomes a full-width `＠` so text can never look
/// like a real mention (real mentions are `Span::Mention`), and `://` is
/// written `[:]//` so a terminal never offers a client's URL as a link
/// (Lookout's own links are `Span::Link`, printed as they are).
fn clean_text(s: &str, keep_newlines: bool) -> String {
    let cleaned = clean(s, keep_newlines).replace("://", "[:]//");
    let mut out = String::with_capacity(cleaned.len());
    let mut prev: Option<char> = None;
    for c in cleaned.chars() {
        if c == '@' && !prev.is_some_and(char::is_alphanumeric) {
            out.push('＠');
        } else {
            out.push(c);
        }
        prev = Some(c);
    }
    out
}

/// Where the escape-sequence stripper is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EscState {
    /// Ordinary text.
    Text,
    /// Just after ESC.
    Escape,
    /// Inside a CSI sequence (`ESC [` ... final byte).
    Csi,
    /// Inside a string sequence (OSC, DCS, SOS, PM, APC) until BEL or ST.
    Str,
    /// ESC seen inside a string sequence: `ESC \` ends it.
    StrEscape,
}

/// Strips ANSI escape sequences and the characters `message::text` hides
/// (controls, bidi controls, zero-width characters); line breaks are kept as
/// `\n` when asked, otherwise turned into spaces; tabs become spaces.
fn clean(s: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut state = EscState::Text;
    for c in s.chars() {
        state = match state {
            EscState::Text => match c {
                '\u{1b}' => EscState::Escape,
                '\u{9b}' => EscState::Csi,
                '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => EscState::Str,
                // `\r\n` is one break: the `\r` goes with the hidden controls.
                c if is_line_break(c) && c != '\r' => {
                    out.push(if keep_newlines { '\n' } else { ' ' });
                    EscState::Text
                }
                '\t' => {
                    out.push(' ');
                    EscState::Text
                }
                c if is_hidden(c) => EscState::Text,
                c => {
                    out.push(c);
                    EscState::Text
                }
            },
            EscState::Escape => match c {
                '[' => EscState::Csi,
                ']' | 'P' | 'X' | '^' | '_' => EscState::Str,
                '\u{1b}' => EscState::Escape,
                // Any other character ends a two-character sequence; drop it too.
                _ => EscState::Text,
            },
            // Parameter and intermediate bytes continue; a final byte (or anything
            // unexpected, so a broken sequence cannot swallow the rest) ends it.
            EscState::Csi => match c {
                '\u{20}'..='\u{3f}' => EscState::Csi,
                _ => EscState::Text,
            },
            EscState::Str => match c {
                '\u{7}' | '\u{9c}' => EscState::Text,
                '\u{1b}' => EscState::StrEscape,
                _ => EscState::Str,
            },
            EscState::StrEscape => match c {
                '\\' => EscState::Text,
                '\u{1b}' => EscState::StrEscape,
                _ => EscState::Str,
            },
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::FindingId;
    use crate::message::ActionKind;

    /// A writer tests can read back after handing it to the adapter.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("pipe closed"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn chan() -> ChannelRef {
        ChannelRef::console("client-acme")
    }

    fn finding_message(flow: &str) -> Message {
        Message {
            accent: Accent::Severity(Severity::Critical),
            blocks: vec![
                Block::Header(format!("Flow stopped: {flow}")),
                Block::Text(
                    RichText::plain("The flow ")
                        .push(Span::Strong(flow.to_owned()))
                        .push(Span::Plain(" has sent nothing for 3 days. ".to_owned()))
                        .push(Span::Mention(PersonRef::console("ana"))),
                ),
                Block::Fields(vec![
                    ("Client".to_owned(), RichText::plain("acme")),
                    ("At risk".to_owned(), RichText::plain("$12,400 / week")),
                ]),
                Block::Divider,
                Block::Context(
                    RichText(vec![Span::Code("F-12".to_owned())])
                        .push(Span::Plain(" · first seen 2026-03-01".to_owned())),
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
                    Action::Link {
                        label: "Open in Klaviyo".to_owned(),
                        url: "https://www.klaviyo.com/flow/AbC123/edit".to_owned(),
                    },
                ]),
            ],
        }
    }

    #[test]
    fn renders_every_block_kind() {
        let text = render(&finding_message("Welcome series"));
        let want = "🔴 Flow stopped: Welcome series\n\
                    The flow Welcome series has sent nothing for 3 days. @ana\n\
                    Client: acme\n\
                    At risk: $12,400 / week\n\
                    ────────────────────────\n  \
                    · `F-12` · first seen 2026-03-01\n\
                    [Acknowledge] [Snooze] [Resolve] [Add note] [Open in Klaviyo ↗ https://www.klaviyo.com/flow/AbC123/edit]";
        assert_eq!(text, want);
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
            assert_eq!(render(&Message::text(accent, "hi")), format!("{emoji} hi"));
        }
        let empty = Message {
            accent: Accent::Resolved,
            blocks: vec![],
        };
        assert_eq!(render(&empty), "✅");
    }

    #[test]
    fn hostile_text_cannot_drive_the_terminal_or_mention() {
        let flow = "\x1b[2JWelcome\x1b]0;pwned\x07 @channel\u{9b}31m\r\u{202E}x";
        let text = render(&finding_message(flow));
        assert!(!text.contains('\x1b'), "{text:?}");
        assert!(!text.contains("[2J"), "{text:?}");
        assert!(!text.contains("pwned"), "{text:?}");
        assert!(!text.contains("31m"), "{text:?}");
        assert!(!text.contains('\r') && !text.contains('\u{202E}'));
        assert!(!text.contains("@channel"), "{text:?}");
        assert!(
            text.contains("Flow stopped: Welcome ＠channelx\n"),
            "{text:?}"
        );
        // The real mention still renders as one.
        assert!(text.contains("@ana"));
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'));
    }

    #[test]
    fn clean_keeps_ordinary_text_and_handles_broken_sequences() {
        assert_eq!(
            clean("plain text, ünïcode 漢字 🙂", true),
            "plain text, ünïcode 漢字 🙂"
        );
        assert_eq!(clean("a\nb\tc", true), "a\nb c");
        assert_eq!(clean("a\nb", false), "a b");
        assert_eq!(clean("red\x1b[31;1mtext\x1b[0m", false), "redtext");
        // An unterminated CSI ends at the first unexpected character.
        assert_eq!(clean("x\x1b[12;Hello", false), "xello");
        assert_eq!(
            clean("x\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", false),
            "xlink"
        );
        assert_eq!(clean("trailing\x1b", false), "trailing");
        assert_eq!(
            clean_text("mail me: ana@acme.com", false),
            "mail me: ana@acme.com"
        );
        assert_eq!(clean_text("@here now", false), "＠here now");
    }

    #[test]
    fn a_url_split_across_spans_is_defanged_too() {
        let t = RichText(vec![
            Span::Plain("see https:".into()),
            Span::Strong("//evil.example".into()),
        ]);
        assert_eq!(render_rich(&t), "see https[:]//evil.example");
        // Split after the first slash, and twice over (proptest found it).
        let t = RichText(vec![
            Span::Plain("see https:/".into()),
            Span::Strong("/evil.example".into()),
        ]);
        assert_eq!(render_rich(&t), "see https[:]//evil.example");
        let t = RichText(vec![
            Span::Plain("//http:/".into()),
            Span::Plain("//http:/".into()),
        ]);
        assert_eq!(render_rich(&t), "//http[:]///http:/");
    }

    #[test]
    fn newlines_in_labels_and_fields_stay_on_one_line() {
        let m = Message {
            accent: Accent::Info,
            blocks: vec![
                Block::Header("two\nlines".to_owned()),
                Block::Fields(vec![("a\nb".to_owned(), RichText::plain("c\nd"))]),
            ],
        };
        assert_eq!(render(&m), "ℹ️ two lines\na b: c d");
    }

    #[tokio::test]
    async fn posts_replies_and_edits_are_printed_and_recorded_in_order() {
        let out = Shared::default();
        let chat = ConsoleChat::with_writer(Box::new(out.clone()));
        let first = chat
            .post(&chan(), &finding_message("Welcome"), None)
            .await
            .unwrap();
        assert_eq!(first, MessageRef("1".to_owned()));
        let reply = chat
            .post(
                &chan(),
                &Message::text(Accent::Info, "note added"),
                Some(&first),
            )
            .await
            .unwrap();
        assert_eq!(reply, MessageRef("2".to_owned()));
        chat.update(
            &chan(),
            &first,
            &Message::text(Accent::Acknowledged, "Ana is on it"),
        )
        .await
        .unwrap();
        chat.ephemeral(
            &chan(),
            &PersonRef::console("ana"),
            &Message::text(Accent::Error, "try /help"),
        )
        .await
        .unwrap();

        let events = chat.transcript();
        let kinds: Vec<ConsoleEventKind> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                ConsoleEventKind::Post,
                ConsoleEventKind::Reply,
                ConsoleEventKind::Update,
                ConsoleEventKind::Ephemeral
            ]
        );
        assert_eq!(events[1].thread, Some(first.clone()));
        assert_eq!(events[2].message_ref, first);
        assert_eq!(events[2].text, "👀 Ana is on it");
        assert_eq!(events[3].user, Some(PersonRef::console("ana")));

        let printed = out.text();
        let reply_heading = "   ↳ thread of msg 1 · msg 2\n     ℹ️ note added\n";
        let positions = [
            printed.find("── #client-acme · msg 1 ──\n🔴 Flow stopped: Welcome\n"),
            printed.find(reply_heading),
            printed.find("── #client-acme · msg 1 (edited) ──\n👀 Ana is on it\n"),
            printed.find("── #client-acme · only @ana sees this ──\n⚠️ try /help\n"),
        ];
        assert!(positions.iter().all(Option::is_some), "{printed}");
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{printed}");
    }

    #[tokio::test]
    async fn unknown_or_foreign_refs_are_rejected() {
        let chat = ConsoleChat::with_writer(Box::new(std::io::sink()));
        let m = Message::text(Accent::Info, "x");
        let missing = MessageRef("99".to_owned());
        assert!(matches!(
            chat.update(&chan(), &missing, &m).await,
            Err(ChatError::Rejected(_))
        ));
        assert!(matches!(
            chat.post(&chan(), &m, Some(&missing)).await,
            Err(ChatError::Rejected(_))
        ));
        let r = chat.post(&chan(), &m, None).await.unwrap();
        let other = ChannelRef::console("client-other");
        assert!(matches!(
            chat.update(&other, &r, &m).await,
            Err(ChatError::Rejected(_))
        ));
        // Ephemeral messages cannot be edited, as on real platforms.
        chat.ephemeral(&chan(), &PersonRef::console("ana"), &m)
            .await
            .unwrap();
        let eph = chat.transcript()[1].message_ref.clone();
        assert!(chat.update(&chan(), &eph, &m).await.is_err());
        assert_eq!(chat.transcript().len(), 2, "failed calls are not recorded");
    }

    #[tokio::test]
    async fn a_broken_writer_is_reported_as_unavailable() {
        let chat = ConsoleChat::with_writer(Box::new(Broken));
        let res = chat
            .post(&chan(), &Message::text(Accent::Info, "x"), None)
            .await;
        assert!(matches!(res, Err(ChatError::Unavailable(_))));
        assert!(chat.transcript().is_empty());
        assert_eq!(chat.platform(), Platform::Console);
    }

    #[test]
    fn console_mentions_become_references() {
        assert_eq!(
            decode_mentions("acme #acme-alerts @ana"),
            "acme console:acme-alerts console:ana"
        );
        assert_eq!(decode_mentions("F-1 4h"), "F-1 4h");
    }
}
