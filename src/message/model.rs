//! The platform-neutral message model every adapter renders.
//!
//! Handlers and routing build `Message`s; adapters turn them into Block Kit,
//! Discord embeds or console text. Every `Span::Plain` is escaped by the adapter
//! (it may hold client-provided text such as a flow name), so no text from a
//! client account can mention `@channel` or forge a link.

use serde::{Deserialize, Serialize};

use super::{ChannelRef, PersonRef};
use crate::domain::{FindingId, Severity};

/// A piece of inline text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    /// Plain text; always escaped by the adapter.
    Plain(String),
    /// Bold plain text; escaped too.
    Strong(String),
    /// Monospace text, e.g. a finding id or a command.
    Code(String),
    /// A link Lookout built itself (deep links into Klaviyo only).
    Link {
        /// Target URL.
        url: String,
        /// Visible label (escaped).
        label: String,
    },
    /// A mention of a person; adapters render it only on the person's own platform.
    Mention(PersonRef),
    /// A link to a channel (clickable on its own platform, its id elsewhere).
    Channel(ChannelRef),
}

/// A run of inline spans.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RichText(pub Vec<Span>);

impl RichText {
    /// Rich text of one plain span.
    pub fn plain(s: impl Into<String>) -> Self {
        Self(vec![Span::Plain(s.into())])
    }

    /// Appends a span, builder style.
    pub fn push(mut self, span: Span) -> Self {
        self.0.push(span);
        self
    }

    /// The text without any markup, for logs and fallbacks (not escaped).
    pub fn to_plain(&self) -> String {
        self.0
            .iter()
            .map(|s| match s {
                Span::Plain(t) | Span::Strong(t) | Span::Code(t) => t.clone(),
                Span::Link { label, .. } => label.clone(),
                Span::Mention(u) => format!("@{}", u.id),
                Span::Channel(c) => format!("#{}", c.id),
            })
            .collect()
    }
}

/// What a button does when pressed; carried in the button's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Acknowledge the finding.
    Acknowledge,
    /// Snooze it (the adapter offers durations).
    Snooze,
    /// Resolve it.
    Resolve,
    /// Add an internal note.
    AddNote,
    /// Reopen a resolved finding.
    Reopen,
}

impl ActionKind {
    /// Label shown on the button.
    pub fn label(self) -> &'static str {
        match self {
            ActionKind::Acknowledge => "Acknowledge",
            ActionKind::Snooze => "Snooze",
            ActionKind::Resolve => "Resolve",
            ActionKind::AddNote => "Add note",
            ActionKind::Reopen => "Reopen",
        }
    }
}

/// An interactive element under a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A button that acts on a finding.
    Button {
        /// What it does.
        kind: ActionKind,
        /// Which finding.
        finding: FindingId,
    },
    /// A link button, e.g. "Open in Klaviyo".
    Link {
        /// Label.
        label: String,
        /// Target URL.
        url: String,
    },
}

/// A block of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Block {
    /// A heading line (plain, escaped).
    Header(String),
    /// A paragraph.
    Text(RichText),
    /// Label/value pairs shown side by side.
    Fields(Vec<(String, RichText)>),
    /// Small grey text: ids, times, who did what.
    Context(RichText),
    /// Buttons and links.
    Actions(Vec<Action>),
    /// A horizontal rule.
    Divider,
    /// A file that goes with the message: a chart shown inline, a document to download.
    File(Attachment),
}

/// What kind of file an attachment is; decides how platforms show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Media {
    /// A PNG image, shown inline (a chart).
    Png,
    /// A Markdown document, offered for download.
    Markdown,
}

impl Media {
    /// The MIME type sent with the file.
    pub fn mime(self) -> &'static str {
        match self {
            Media::Png => "image/png",
            Media::Markdown => "text/markdown",
        }
    }

    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Media::Png => "png",
            Media::Markdown => "md",
        }
    }
}

/// A file carried by a message. Its bytes travel with the message through
/// the outbox; platforms that take files apart from messages (Slack) upload
/// them first, and the outbox keeps the platform's id in `uploaded` and drops
/// the bytes, so a retry shares the same upload instead of a second one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// File name: lowercase letters, digits, `-`, `.` only (see `Attachment::new`).
    pub filename: String,
    /// A title shown with the file (escaped like plain text).
    pub title: String,
    /// What it is.
    pub media: Media,
    /// The content; empty once uploaded ahead of the post.
    #[serde(with = "base64_bytes", default)]
    pub bytes: Vec<u8>,
    /// The platform's id for the file once uploaded ahead of the post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded: Option<String>,
}

impl std::fmt::Debug for Attachment {
    // Bytes would flood logs and test failures: show their size only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("filename", &self.filename)
            .field("title", &self.title)
            .field("media", &self.media)
            .field("bytes", &self.bytes.len())
            .field("uploaded", &self.uploaded)
            .finish()
    }
}

impl Attachment {
    /// A file named from `stem` (made safe: anything but letters, digits, `-`
    /// and `.` becomes `-`, so a client's name cannot make a path) and `media`.
    pub fn new(stem: &str, title: impl Into<String>, media: Media, bytes: Vec<u8>) -> Self {
        let mut safe: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        safe = safe.trim_matches(|c| c == '-' || c == '.').to_owned();
        safe.truncate(80);
        if safe.is_empty() {
            safe = "file".into();
        }
        Self {
            filename: format!("{safe}.{}", media.extension()),
            title: title.into(),
            media,
            bytes,
            uploaded: None,
        }
    }
}

/// Bytes as base64 in JSON: a chart is tens of kilobytes, and a JSON array of
/// numbers would be four times larger in every outbox row.
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// The colour or emoji a message carries, following its finding's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Accent {
    /// Neutral information.
    Info,
    /// A finding of this severity that is open.
    Severity(Severity),
    /// Acknowledged: someone is on it.
    Acknowledged,
    /// Snoozed.
    Snoozed,
    /// Resolved.
    Resolved,
    /// Something went wrong (errors shown to the person who typed a command).
    Error,
}

/// A chat message in the neutral model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Colour or emoji.
    pub accent: Accent,
    /// Content, in order.
    pub blocks: Vec<Block>,
}

impl Message {
    /// A message of one plain paragraph.
    pub fn text(accent: Accent, text: impl Into<String>) -> Self {
        Self {
            accent,
            blocks: vec![Block::Text(RichText::plain(text))],
        }
    }

    /// All text without markup, for logs, notifications and tests.
    pub fn to_plain(&self) -> String {
        let mut out = Vec::new();
        for b in &self.blocks {
            match b {
                Block::Header(h) => out.push(h.clone()),
                Block::Text(t) | Block::Context(t) => out.push(t.to_plain()),
                Block::Fields(fs) => {
                    for (k, v) in fs {
                        out.push(format!("{k}: {}", v.to_plain()));
                    }
                }
                Block::Actions(actions) => {
                    let labels: Vec<String> = actions
                        .iter()
                        .map(|a| match a {
                            Action::Button { kind, .. } => format!("[{}]", kind.label()),
                            Action::Link { label, .. } => format!("[{label}]"),
                        })
                        .collect();
                    out.push(labels.join(" "));
                }
                Block::Divider => {}
                Block::File(a) => out.push(format!("📎 {} ({})", a.title, a.filename)),
            }
        }
        out.join("\n")
    }

    /// The files the message carries, in order.
    pub fn files(&self) -> impl Iterator<Item = &Attachment> {
        self.blocks.iter().filter_map(|b| match b {
            Block::File(a) => Some(a),
            _ => None,
        })
    }

    /// The files, to change (the outbox records uploads in them).
    pub fn files_mut(&mut self) -> impl Iterator<Item = &mut Attachment> {
        self.blocks.iter_mut().filter_map(|b| match b {
            Block::File(a) => Some(a),
            _ => None,
        })
    }

    /// Whether it carries a file not uploaded yet.
    pub fn has_unstaged_files(&self) -> bool {
        self.files().any(|a| a.uploaded.is_none())
    }

    /// Whether its files were uploaded ahead of the post.
    pub fn has_staged_files(&self) -> bool {
        self.files().any(|a| a.uploaded.is_some())
    }

    /// The message without its files, with a line per file saying where to get
    /// it instead: for places files cannot go (a message only one person sees).
    pub fn without_files(&self, note: &str) -> Message {
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for b in &self.blocks {
            match b {
                Block::File(a) => blocks.push(Block::Context(RichText::plain(format!(
                    "📎 {} ({}): {note}",
                    a.title, a.filename
                )))),
                other => blocks.push(other.clone()),
            }
        }
        Message {
            accent: self.accent,
            blocks,
        }
    }
}

/// Who sees a command's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Everyone in the channel.
    InChannel,
    /// Only the person who ran the command.
    Ephemeral,
}
