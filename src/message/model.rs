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
            }
        }
        out.join("\n")
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
