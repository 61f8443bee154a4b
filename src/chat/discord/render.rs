//! Discord rendering of the neutral `Message` model: embeds, components, mention safety.
//!
//! Pure functions. A `Message` becomes a list of embeds (the accent is the
//! embed colour), message components (finding buttons, the snooze select,
//! link buttons into Klaviyo), a `content` line that carries the mentions (a
//! mention inside an embed shows but never notifies) and `allowed_mentions`
//! limited to exactly those people. Text that may come from a client account
//! is escaped for Discord markdown, and `@` and `://` are broken with a
//! zero-width space, so a flow name cannot ping `@everyone`, a role or a
//! user, forge a masked link or even show a clickable bare URL. Every Discord
//! size limit is enforced here, cutting only between whole escapes, mentions
//! and markup pairs, because Discord refuses the whole message (50035 Invalid
//! Form Body) when one limit is exceeded; `check_limits` re-checks a payload.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::domain::{FindingId, Severity};
use crate::message::text::{is_hidden, is_line_break};
use crate::message::{
    Accent, Action, ActionKind, Block, Choice, Message, PersonRef, Platform, RichText, Span,
};

/// Embed title limit.
pub const MAX_TITLE: usize = 256;
/// Embed description limit.
pub const MAX_DESCRIPTION: usize = 4096;
/// Fields in one embed.
pub const MAX_FIELDS: usize = 25;
/// Field name limit.
pub const MAX_FIELD_NAME: usize = 256;
/// Field value limit.
pub const MAX_FIELD_VALUE: usize = 1024;
/// Footer text limit.
pub const MAX_FOOTER: usize = 2048;
/// Characters in all embeds of one message (titles, descriptions, fields, footers).
pub const MAX_EMBEDS_TOTAL: usize = 6000;
/// Embeds in one message.
pub const MAX_EMBEDS: usize = 10;
/// Message `content` limit.
pub const MAX_CONTENT: usize = 2000;
/// Action rows in one message.
pub const MAX_ROWS: usize = 5;
/// Buttons in one action row.
pub const MAX_BUTTONS_PER_ROW: usize = 5;
/// `custom_id` limit of components and modals.
pub const MAX_CUSTOM_ID: usize = 100;
/// Button label limit.
pub const MAX_LABEL: usize = 80;
/// Options in one select.
pub const MAX_SELECT_OPTIONS: usize = 25;
/// Select option label, value and description limit; autocomplete choice name and value limit.
pub const MAX_OPTION_TEXT: usize = 100;
/// Link button URL limit.
pub const MAX_URL: usize = 512;
/// Users listed in `allowed_mentions.users`.
pub const MAX_ALLOWED_USERS: usize = 100;
/// Autocomplete choices in one answer.
pub const MAX_CHOICES: usize = 25;
/// Modal title limit.
pub const MAX_MODAL_TITLE: usize = 45;
/// Longest note the "Add note" modal accepts (the `/note` command's limit).
pub const NOTE_MAX_CHARS: u32 = 2000;
/// Only links into Klaviyo's web app are rendered as links.
pub const KLAVIYO_APP: &str = "https://www.klaviyo.com/";
/// First part of every `custom_id` Lookout renders.
pub const CUSTOM_ID_PREFIX: &str = "lookout";
/// `custom_id` of the text input inside the "Add note" modal.
pub const NOTE_INPUT_ID: &str = "note";
/// Verb of the "Add note" modal's `custom_id` (`lookout:notemodal:F-12`).
const NOTE_MODAL_VERB: &str = "notemodal";

/// Snooze choices offered in the select: (value, label).
pub const SNOOZE_OPTIONS: [(&str, &str); 5] = [
    ("1h", "1 hour"),
    ("4h", "4 hours"),
    ("1d", "1 day"),
    ("7d", "7 days"),
    ("until-worse", "Until it gets worse"),
];

/// Room kept in the 6,000-character budget for the "not shown" note and the key tag.
const RESERVE: usize = 120;
/// Shorter than this, a cut paragraph is left out rather than shown as a stub.
const MIN_CUT: usize = 24;
const ZWSP: char = '\u{200B}';
const ELLIPSIS: &str = "…";

/// Discord counts limits in UTF-16 code units in its clients; counting them
/// here is never less than counting code points, so both readings hold.
pub fn len16(s: &str) -> usize {
    s.encode_utf16().count()
}

/// A message rendered for Discord.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The mentions, so that they notify (mentions inside embeds never do).
    pub content: String,
    /// Embeds, all in the accent colour.
    pub embeds: Vec<Value>,
    /// Action rows.
    pub components: Vec<Value>,
    /// Discord user ids mentioned by `Span::Mention`, in order, without repeats.
    pub mentioned: Vec<String>,
    /// Files sent with the message (`render_with_files` only): (file name, title).
    pub attachments: Vec<(String, String)>,
}

impl Rendered {
    /// `allowed_mentions` that lets exactly the mentioned users be pinged.
    pub fn allowed_mentions(&self) -> Value {
        let users: Vec<&String> = self.mentioned.iter().take(MAX_ALLOWED_USERS).collect();
        json!({"parse": [], "users": users, "replied_user": false})
    }

    /// The JSON body of a create-message or edit-message request (also the
    /// `data` of an interaction answer).
    pub fn payload(&self) -> Value {
        let mut body = json!({
            "content": self.content,
            "embeds": self.embeds,
            "components": self.components,
            "allowed_mentions": self.allowed_mentions(),
        });
        if !self.attachments.is_empty() {
            // Ids match the `files[n]` parts of the multipart request.
            body["attachments"] = self
                .attachments
                .iter()
                .enumerate()
                .map(|(i, (name, title))| {
                    json!({"id": i, "filename": name, "description": plain_label(title, MAX_ATTACHMENT_DESCRIPTION)})
                })
                .collect();
        }
        body
    }
}

/// The embed colour of an accent.
pub fn accent_colour(accent: Accent) -> u32 {
    match accent {
        Accent::Severity(Severity::Critical) => 0xE0_1E_5A,
        Accent::Severity(Severity::Warning) => 0xF2_8C_28,
        Accent::Severity(Severity::Opportunity) => 0x3B_88_C3,
        Accent::Acknowledged => 0xF1_C4_0F,
        Accent::Snoozed => 0x95_A5_A6,
        Accent::Resolved => 0x2E_CC_71,
        Accent::Info => 0x58_65_F2,
        Accent::Error => 0x99_2D_22,
    }
}

/// Longest attachment description Discord accepts.
const MAX_ATTACHMENT_DESCRIPTION: usize = 1024;

/// Renders a message; `tag` (from an idempotency key) goes at the end of the
/// last embed's footer, where `find_posted` looks for it. Files are named in
/// a line each: this rendering goes where files cannot (interaction answers,
/// edits); `render_with_files` is for a post that uploads them.
pub fn render(message: &Message, tag: Option<&str>) -> Rendered {
    render_inner(message, tag, false)
}

/// `render` for a post sent with its files: they are listed as attachments,
/// and the first image is shown in the first embed (`attachment://name`).
pub fn render_with_files(message: &Message, tag: Option<&str>) -> Rendered {
    render_inner(message, tag, true)
}

fn render_inner(message: &Message, tag: Option<&str>, with_files: bool) -> Rendered {
    let mut attachments = Vec::new();
    let mut image: Option<String> = None;
    let mut mentioned = Vec::new();
    let mut packer = Packer::new(accent_colour(message.accent));
    let total = message.blocks.len();
    for (i, block) in message.blocks.iter().enumerate() {
        if packer.full {
            packer.dropped = total - i;
            break;
        }
        match block {
            Block::Header(h) => {
                let mut atoms = Vec::new();
                escape_into(h, false, &mut atoms);
                packer.add_title(&atoms);
            }
            Block::Text(t) => {
                let pieces = pieces(t, true, &mut mentioned);
                packer.add_para(&pieces, false);
            }
            Block::Context(t) => {
                if packer.current().fields.is_empty() || has_discord_mention(t) {
                    let mut pieces = vec![Piece::Atom("-# ".to_owned())];
                    pieces.extend(self::pieces(t, false, &mut mentioned));
                    packer.add_para(&pieces, true);
                } else {
                    packer.add_footer(&footer_text(t));
                }
            }
            Block::Fields(fields) => {
                for (label, value) in fields {
                    let mut name = Vec::new();
                    escape_into(label, false, &mut name);
                    let value = pieces(value, true, &mut mentioned);
                    packer.add_field(&name, &value);
                }
            }
            Block::Divider => packer.split = true,
            Block::Actions(_) => {}
            Block::File(a) if with_files => {
                if image.is_none() && a.media == crate::message::Media::Png {
                    image = Some(a.filename.clone());
                }
                attachments.push((a.filename.clone(), a.title.clone()));
            }
            Block::File(a) => {
                let t = RichText::plain(format!("📎 {} ({})", a.title, a.filename));
                let mut pieces = vec![Piece::Atom("-# ".to_owned())];
                pieces.extend(self::pieces(&t, false, &mut mentioned));
                packer.add_para(&pieces, true);
            }
        }
    }
    let mut embeds = packer.finish(tag);
    if let Some(name) = image {
        let shown = json!({"url": format!("attachment://{name}")});
        match embeds.first_mut() {
            Some(first) => first["image"] = shown,
            None => embeds.push(json!({"color": accent_colour(message.accent), "image": shown})),
        }
    }
    let content = mention_line(&mentioned);
    Rendered {
        content,
        embeds,
        components: components(message),
        mentioned,
        attachments,
    }
}

/// `<@a> <@b>` for the mentioned users, within the content limit.
fn mention_line(ids: &[String]) -> String {
    let mut out = String::new();
    for id in ids.iter().take(MAX_ALLOWED_USERS) {
        let m = format!("<@{id}>");
        if len16(&out) + len16(&m) + 1 > MAX_CONTENT {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&m);
    }
    out
}

fn has_discord_mention(t: &RichText) -> bool {
    t.0.iter()
        .any(|s| matches!(s, Span::Mention(p) if discord_user(p).is_some()))
}

/// The id of a person Discord can mention, if the person is on Discord.
fn discord_user(p: &PersonRef) -> Option<&str> {
    let ok = p.platform == Platform::Discord
        && !p.id.is_empty()
        && p.id.len() <= 20
        && p.id.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(p.id.as_str())
}

/// Footer text: footers show no markdown, so spans are written out plainly
/// (still with `@` and `://` broken, as a footer can be copied into chat).
fn footer_text(t: &RichText) -> String {
    let mut out = String::new();
    for span in &t.0 {
        let raw = match span {
            Span::Plain(s) | Span::Strong(s) | Span::Code(s) => s.clone(),
            Span::Link { label, .. } => label.clone(),
            Span::Mention(p) => format!("@{}", p.id),
            Span::Channel(c) => format!("#{}", c.id),
        };
        for c in raw.chars() {
            push_plain_char(&mut out, c);
        }
    }
    defuse(&out)
}

/// A plain char for single-line text with no markdown: controls dropped, breaks as spaces.
fn push_plain_char(out: &mut String, c: char) {
    match c {
        c if is_line_break(c) || c == '\t' => out.push(' '),
        c if is_hidden(c) => {}
        c => out.push(c),
    }
}

/// Breaks `@` and `://` with a zero-width space in text that is not escaped.
fn defuse(s: &str) -> String {
    s.replace('@', "@\u{200B}").replace("://", ":\u{200B}//")
}

/// Clean single-line text for places that render no markdown (button and
/// option labels, modal titles): controls dropped, cut to `max`.
pub fn plain_label(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars() {
        push_plain_char(&mut out, c);
    }
    clip(out.trim(), max)
}

/// `s` cut to at most `max` UTF-16 units, with an ellipsis when cut.
pub fn clip(s: &str, max: usize) -> String {
    if len16(s) <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    for c in s.chars() {
        if len16(&out) + c.len_utf16() + 1 > max {
            break;
        }
        out.push(c);
    }
    out.push_str(ELLIPSIS);
    out
}

/// Escapes text for Discord markdown, one atom per source character, so a
/// cut never splits an escape.
pub fn escape_markdown(s: &str) -> String {
    let mut atoms = Vec::new();
    escape_into(s, true, &mut atoms);
    atoms.concat()
}

fn escape_into(s: &str, multiline: bool, out: &mut Vec<String>) {
    // Hidden characters go first, so `:`, zero-width space, `//` is seen as
    // the `://` it will read as once the zero-width space is gone.
    let chars: Vec<char> = s
        .chars()
        .filter(|&c| !is_hidden(c) || is_line_break(c))
        .collect();
    for (i, &c) in chars.iter().enumerate() {
        let atom = match c {
            // `\r\n` is one break: the `\r` is dropped.
            '\r' if multiline => continue,
            c if multiline && is_line_break(c) => "\n".to_owned(),
            c if is_line_break(c) || c == '\t' => " ".to_owned(),
            // Controls, bidi controls and zero-width characters (a client's
            // own zero-width space must not pass for one of ours).
            c if is_hidden(c) => continue,
            // A zero-width space after `@` breaks @everyone, @here and any
            // text a client could shape into a ping.
            '@' => format!("@{ZWSP}"),
            // Discord links bare http(s):// URLs: breaking `://` keeps a
            // client's text from becoming a clickable link.
            ':' if chars.get(i + 1) == Some(&'/') && chars.get(i + 2) == Some(&'/') => {
                format!(":{ZWSP}")
            }
            // Markdown and mention syntax: `<@1>`, `<@&1>`, `<#1>`, `<t:1>`,
            // `[label](url)`, headers, quotes, spoilers, code, emphasis.
            '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<' | '>' | '#' => {
                format!("\\{c}")
            }
            c => c.to_string(),
        };
        out.push(atom);
    }
}

/// A piece of rendered inline text that is never cut in half.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// An escaped character, a mention or a whole link.
    Atom(String),
    /// Markup around atoms (`**bold**`, `` `code` ``): cut inside, closed again.
    Wrapped {
        open: &'static str,
        inner: Vec<String>,
        close: &'static str,
    },
}

impl Piece {
    fn len(&self) -> usize {
        match self {
            Piece::Atom(a) => len16(a),
            Piece::Wrapped { open, inner, close } => {
                len16(open) + len16(close) + inner.iter().map(|a| len16(a)).sum::<usize>()
            }
        }
    }
}

fn pieces(t: &RichText, multiline: bool, mentioned: &mut Vec<String>) -> Vec<Piece> {
    let mut out = Vec::new();
    for span in &t.0 {
        match span {
            Span::Plain(s) => {
                let mut atoms = Vec::new();
                escape_into(s, multiline, &mut atoms);
                out.extend(atoms.into_iter().map(Piece::Atom));
            }
            Span::Strong(s) => {
                let mut inner = Vec::new();
                escape_into(s, multiline, &mut inner);
                if inner.iter().any(|a| !a.trim().is_empty()) {
                    out.push(Piece::Wrapped {
                        open: "**",
                        inner,
                        close: "**",
                    });
                }
            }
            Span::Code(s) => {
                // Nothing is escaped inside a code span; a backtick would end
                // it, so it becomes a look-alike.
                let inner: Vec<String> = s
                    .chars()
                    .filter_map(|c| match c {
                        '`' => Some('ˋ'.to_string()),
                        c if is_line_break(c) || c == '\t' => Some(" ".to_owned()),
                        c if is_hidden(c) => None,
                        c => Some(c.to_string()),
                    })
                    .collect();
                if inner.iter().any(|a| !a.trim().is_empty()) {
                    out.push(Piece::Wrapped {
                        open: "`",
                        inner,
                        close: "`",
                    });
                }
            }
            Span::Link { url, label } => {
                let mut atoms = Vec::new();
                escape_into(label, false, &mut atoms);
                let label = atoms.concat();
                match safe_link(url) {
                    Some(url) if !label.trim().is_empty() && len16(&label) <= 200 => {
                        out.push(Piece::Atom(format!("[{label}]({url})")));
                    }
                    _ => out.extend(atoms.into_iter().map(Piece::Atom)),
                }
            }
            Span::Mention(p) => match discord_user(p) {
                Some(id) => {
                    if !mentioned.iter().any(|m| m == id) {
                        mentioned.push(id.to_owned());
                    }
                    out.push(Piece::Atom(format!("<@{id}>")));
                }
                None => {
                    let mut atoms = Vec::new();
                    escape_into(&format!("@{}", p.id), false, &mut atoms);
                    out.extend(atoms.into_iter().map(Piece::Atom));
                }
            },
            // A channel link never pings anyone; ids are digits, checked by `ChannelRef`.
            Span::Channel(c) if c.platform == Platform::Discord => {
                out.push(Piece::Atom(format!("<#{}>", c.id)));
            }
            Span::Channel(c) => {
                let mut atoms = Vec::new();
                escape_into(&format!("#{}", c.id), false, &mut atoms);
                out.extend(atoms.into_iter().map(Piece::Atom));
            }
        }
    }
    // A `:` ending one span and `//` starting the next would read as `://`
    // together (a clickable bare URL): the colon is broken there too.
    let joins: Vec<usize> = out
        .windows(3)
        .enumerate()
        .filter(|(_, w)| {
            matches!(w, [Piece::Atom(a), Piece::Atom(b), Piece::Atom(c)]
                if a == ":" && b == "/" && c == "/")
        })
        .map(|(i, _)| i)
        .collect();
    for i in joins {
        out[i] = Piece::Atom(format!(":{ZWSP}"));
    }
    out
}

fn pieces_len(pieces: &[Piece]) -> usize {
    pieces.iter().map(Piece::len).sum()
}

/// Joins pieces within `limit` UTF-16 units; when they do not fit, cuts
/// between atoms, closes any open markup and ends with `…`.
fn join_bounded(pieces: &[Piece], limit: usize) -> String {
    let mut out = String::new();
    if pieces_len(pieces) <= limit {
        for p in pieces {
            push_piece(&mut out, p);
        }
        return out;
    }
    let budget = limit.saturating_sub(len16(ELLIPSIS));
    let mut used = 0;
    for p in pieces {
        let len = p.len();
        if used + len <= budget {
            push_piece(&mut out, p);
            used += len;
            continue;
        }
        if let Piece::Wrapped { open, inner, close } = p {
            let frame = len16(open) + len16(close);
            let mut taken = Vec::new();
            let mut inner_used = 0;
            for a in inner {
                if used + frame + inner_used + len16(a) > budget {
                    break;
                }
                inner_used += len16(a);
                taken.push(a.as_str());
            }
            if !taken.is_empty() {
                out.push_str(open);
                out.extend(taken);
                out.push_str(close);
            }
        }
        break;
    }
    out.push_str(ELLIPSIS);
    out
}

fn push_piece(out: &mut String, p: &Piece) {
    match p {
        Piece::Atom(a) => out.push_str(a),
        Piece::Wrapped { open, inner, close } => {
            out.push_str(open);
            out.extend(inner.iter().map(String::as_str));
            out.push_str(close);
        }
    }
}

/// The URL to link to, if it points into Klaviyo's web app; `(`, `)` are
/// encoded so it cannot end a markdown link early.
pub fn safe_link(url: &str) -> Option<String> {
    if !url.starts_with(KLAVIYO_APP) || len16(url) > MAX_URL {
        return None;
    }
    let parsed = reqwest::Url::parse(url).ok()?;
    let ok = parsed.scheme() == "https"
        && parsed.host_str() == Some("www.klaviyo.com")
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.port().is_none();
    if !ok {
        return None;
    }
    let s = parsed.as_str().replace('(', "%28").replace(')', "%29");
    (s.starts_with(KLAVIYO_APP) && len16(&s) <= MAX_URL && !s.contains(['<', '>', ' ']))
        .then_some(s)
}

/// One embed being filled.
#[derive(Debug, Default)]
struct Draft {
    title: Option<String>,
    description: String,
    fields: Vec<(String, String)>,
    footer: Vec<String>,
}

impl Draft {
    fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_empty()
            && self.fields.is_empty()
            && self.footer.is_empty()
    }
}

/// Packs blocks into embeds within the per-embed and per-message limits.
struct Packer {
    colour: u32,
    drafts: Vec<Draft>,
    /// UTF-16 units used across all embeds.
    used: usize,
    /// No more content fits; later blocks are counted in `dropped`.
    full: bool,
    /// Blocks left out, for the note at the end.
    dropped: usize,
    /// A divider asked for the next content to start a new embed.
    split: bool,
}

impl Packer {
    fn new(colour: u32) -> Self {
        Self {
            colour,
            drafts: vec![Draft::default()],
            used: 0,
            full: false,
            dropped: 0,
            split: false,
        }
    }

    fn budget_left(&self) -> usize {
        (MAX_EMBEDS_TOTAL - RESERVE).saturating_sub(self.used)
    }

    fn current(&self) -> &Draft {
        // Invariant: `drafts` starts with one draft and only grows.
        &self.drafts[self.drafts.len() - 1]
    }

    fn current_mut(&mut self) -> &mut Draft {
        let last = self.drafts.len() - 1;
        &mut self.drafts[last]
    }

    /// Starts a new embed if one more is allowed.
    fn next_embed(&mut self) -> bool {
        if self.drafts.len() >= MAX_EMBEDS {
            return false;
        }
        self.drafts.push(Draft::default());
        self.split = false;
        true
    }

    /// Honours a pending divider before new content.
    fn take_split(&mut self) {
        if self.split && !self.current().is_empty() {
            self.next_embed();
        }
        self.split = false;
    }

    fn add_title(&mut self, atoms: &[String]) {
        if atoms.iter().all(|a| a.trim().is_empty()) {
            return;
        }
        self.take_split();
        let fresh = self.current().is_empty() || self.next_embed();
        if !fresh {
            // Out of embeds: the heading becomes a bold line.
            let pieces = vec![Piece::Wrapped {
                open: "**",
                inner: atoms.to_vec(),
                close: "**",
            }];
            self.add_para(&pieces, false);
            return;
        }
        let pieces: Vec<Piece> = atoms.iter().cloned().map(Piece::Atom).collect();
        let limit = MAX_TITLE.min(self.budget_left());
        if limit < MIN_CUT.min(pieces_len(&pieces)) {
            self.full = true;
            return;
        }
        let title = join_bounded(&pieces, limit);
        self.used += len16(&title);
        self.current_mut().title = Some(title);
    }

    /// Adds a paragraph to the description; `tight` (context lines) joins with
    /// one line break instead of a blank line.
    fn add_para(&mut self, pieces: &[Piece], tight: bool) {
        let want = pieces_len(pieces);
        if want == 0
            || pieces
                .iter()
                .all(|p| matches!(p, Piece::Atom(a) if a.trim().is_empty()))
        {
            return;
        }
        self.take_split();
        // A description shows above the fields: text after fields needs a new embed.
        if (!self.current().fields.is_empty() || !self.current().footer.is_empty())
            && !self.next_embed()
        {
            self.full = true;
            return;
        }
        let sep = |d: &Draft| {
            if d.description.is_empty() {
                0
            } else if tight {
                1
            } else {
                2
            }
        };
        let room = |p: &Packer| {
            let d = p.current();
            MAX_DESCRIPTION
                .saturating_sub(len16(&d.description) + sep(d))
                .min(p.budget_left().saturating_sub(sep(d)))
        };
        // Too long for what is left of this description but whole in a fresh
        // embed: start one rather than cut.
        if want > room(self)
            && !self.current().description.is_empty()
            && want <= MAX_DESCRIPTION.min(self.budget_left())
        {
            self.next_embed();
        }
        let limit = room(self);
        if want > limit {
            self.full = true;
            if limit < MIN_CUT {
                return;
            }
        }
        let text = join_bounded(pieces, limit);
        let s = sep(self.current());
        self.used += s + len16(&text);
        let d = self.current_mut();
        match s {
            0 => {}
            1 => d.description.push('\n'),
            _ => d.description.push_str("\n\n"),
        }
        d.description.push_str(&text);
    }

    fn add_field(&mut self, name: &[String], value: &[Piece]) {
        self.take_split();
        if (self.current().fields.len() >= MAX_FIELDS || !self.current().footer.is_empty())
            && !self.next_embed()
        {
            self.full = true;
            return;
        }
        let name_pieces: Vec<Piece> = name.iter().cloned().map(Piece::Atom).collect();
        let mut name = join_bounded(&name_pieces, MAX_FIELD_NAME);
        if name.trim().is_empty() {
            name = ZWSP.to_string();
        }
        let mut value_text = join_bounded(value, MAX_FIELD_VALUE);
        if value_text.trim().is_empty() {
            value_text = ZWSP.to_string();
        }
        let need = len16(&name) + len16(&value_text);
        if need > self.budget_left() {
            self.full = true;
            return;
        }
        self.used += need;
        self.current_mut().fields.push((name, value_text));
    }

    fn add_footer(&mut self, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        let current = self
            .current()
            .footer
            .iter()
            .map(|f| len16(f) + 3)
            .sum::<usize>();
        let limit = (MAX_FOOTER - RESERVE)
            .saturating_sub(current)
            .min(self.budget_left().saturating_sub(3));
        if limit < MIN_CUT.min(len16(text)) {
            self.full = true;
            return;
        }
        let t = clip(text, limit);
        self.used += len16(&t)
            + if self.current().footer.is_empty() {
                0
            } else {
                3
            };
        self.current_mut().footer.push(t);
    }

    fn finish(mut self, tag: Option<&str>) -> Vec<Value> {
        while self.drafts.len() > 1 && self.current().is_empty() {
            self.drafts.pop();
        }
        let mut tail = Vec::new();
        if self.dropped > 0 {
            tail.push(format!(
                "…{} more not shown (too long for one Discord message)",
                self.dropped
            ));
        }
        if let Some(tag) = tag {
            tail.push(format!("ref {}", clip(tag, 24)));
        }
        let colour = self.colour;
        let current = self.current_mut();
        current.footer.extend(tail);
        if current.is_empty() {
            // An embed needs some content; a zero-width space keeps the accent bar.
            current.description.push(ZWSP);
        }
        self.drafts
            .into_iter()
            .map(|d| {
                let mut e = serde_json::Map::new();
                e.insert("type".into(), json!("rich"));
                e.insert("color".into(), json!(colour));
                if let Some(t) = d.title {
                    e.insert("title".into(), json!(t));
                }
                if !d.description.is_empty() {
                    e.insert("description".into(), json!(d.description));
                }
                if !d.fields.is_empty() {
                    let fields: Vec<Value> = d
                        .fields
                        .into_iter()
                        .map(|(n, v)| json!({"name": n, "value": v, "inline": true}))
                        .collect();
                    e.insert("fields".into(), json!(fields));
                }
                if !d.footer.is_empty() {
                    e.insert("footer".into(), json!({"text": d.footer.join(" · ")}));
                }
                Value::Object(e)
            })
            .collect()
    }
}

/// The `custom_id` of a finding's button or select, e.g. `lookout:ack:F-12`.
pub fn custom_id(kind: ActionKind, finding: FindingId) -> String {
    format!("{CUSTOM_ID_PREFIX}:{}:{finding}", verb(kind))
}

fn verb(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Acknowledge => "ack",
        ActionKind::Snooze => "snooze",
        ActionKind::Resolve => "resolve",
        ActionKind::AddNote => "note",
        ActionKind::Reopen => "reopen",
    }
}

/// The control and finding of a `custom_id` Lookout rendered.
pub fn parse_custom_id(id: &str) -> Option<(ActionKind, FindingId)> {
    let mut parts = id.splitn(3, ':');
    if parts.next()? != CUSTOM_ID_PREFIX {
        return None;
    }
    let kind = match parts.next()? {
        "ack" => ActionKind::Acknowledge,
        "snooze" => ActionKind::Snooze,
        "resolve" => ActionKind::Resolve,
        "note" => ActionKind::AddNote,
        "reopen" => ActionKind::Reopen,
        _ => return None,
    };
    let finding = parts.next()?;
    finding
        .starts_with("F-")
        .then(|| FindingId::parse(finding).ok())
        .flatten()
        .map(|f| (kind, f))
}

/// The `custom_id` of the "Add note" modal for a finding.
pub fn note_modal_id(finding: FindingId) -> String {
    format!("{CUSTOM_ID_PREFIX}:{NOTE_MODAL_VERB}:{finding}")
}

/// The finding of an "Add note" modal's `custom_id`.
pub fn parse_note_modal_id(id: &str) -> Option<FindingId> {
    let rest = id.strip_prefix(&format!("{CUSTOM_ID_PREFIX}:{NOTE_MODAL_VERB}:"))?;
    rest.starts_with("F-")
        .then(|| FindingId::parse(rest).ok())
        .flatten()
}

/// The verb of the private-key modal's `custom_id`.
const KEY_MODAL_VERB: &str = "keymodal";

/// The `custom_id` of the private-key modal: the client and the end, never the key.
pub fn key_modal_id(d: &crate::message::KeyDialog) -> String {
    format!(
        "{CUSTOM_ID_PREFIX}:{KEY_MODAL_VERB}:{}:{}",
        d.client,
        d.ends_at.timestamp()
    )
}

/// The client and end of a private-key modal's `custom_id`.
pub fn parse_key_modal_id(
    id: &str,
) -> Option<(crate::domain::ClientSlug, chrono::DateTime<chrono::Utc>)> {
    let rest = id.strip_prefix(&format!("{CUSTOM_ID_PREFIX}:{KEY_MODAL_VERB}:"))?;
    let (client, ends) = rest.rsplit_once(':')?;
    let client = crate::domain::ClientSlug::parse(client).ok()?;
    let ends = chrono::DateTime::from_timestamp(ends.parse().ok()?, 0)?;
    Some((client, ends))
}

/// The private "Connect by private key" modal (the `data` of a type 9 answer):
/// the key reaches Lookout in the submission only, never in a message.
pub fn key_modal(d: &crate::message::KeyDialog) -> Value {
    json!({
        "custom_id": key_modal_id(d),
        "title": plain_label(&format!("Connect {}", d.client), MAX_MODAL_TITLE),
        "components": [{
            "type": 1,
            "components": [{
                "type": 4,
                "custom_id": "key",
                "style": 1,
                "label": plain_label(&format!("Read-only private key, until {}", d.ends_at.format("%Y-%m-%d")), 45),
                "placeholder": "pk_...",
                "min_length": 10,
                "max_length": 200,
                "required": true,
            }],
        }],
    })
}

/// The "Add note" modal for a finding (the `data` of a type 9 answer).
pub fn note_modal(finding: FindingId) -> Value {
    json!({
        "custom_id": note_modal_id(finding),
        "title": plain_label(&format!("Add a note to {finding}"), MAX_MODAL_TITLE),
        "components": [{
            "type": 1,
            "components": [{
                "type": 4,
                "custom_id": NOTE_INPUT_ID,
                "style": 2,
                "label": "Note (only your team sees it)",
                "placeholder": "What happened, who is on it, what is next",
                "min_length": 1,
                "max_length": NOTE_MAX_CHARS,
                "required": true,
            }],
        }],
    })
}

/// Autocomplete suggestions (the `data` of a type 8 answer), at most 25,
/// each name and value within 100 characters; empty ones are left out.
pub fn choices(list: &[Choice]) -> Value {
    let out: Vec<Value> = list
        .iter()
        .filter_map(|c| {
            let value = plain_label(&c.value, MAX_OPTION_TEXT);
            let name = plain_label(&c.label, MAX_OPTION_TEXT);
            // A cut value would fill in something else than offered.
            if value.is_empty() || len16(c.value.trim()) > MAX_OPTION_TEXT {
                return None;
            }
            let name = if name.is_empty() { value.clone() } else { name };
            Some(json!({"name": name, "value": value}))
        })
        .take(MAX_CHOICES)
        .collect();
    json!({ "choices": out })
}

/// Action rows for every `Block::Actions`: each block's buttons (five a row),
/// then its snooze select on a row of its own; at most five rows.
pub fn components(message: &Message) -> Vec<Value> {
    let mut rows: Vec<Vec<Value>> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for block in &message.blocks {
        let Block::Actions(actions) = block else {
            continue;
        };
        let mut buttons = Vec::new();
        let mut selects = Vec::new();
        for action in actions {
            match action {
                Action::Button {
                    kind: ActionKind::Snooze,
                    finding,
                } => {
                    let id = custom_id(ActionKind::Snooze, *finding);
                    // Discord refuses a message whose custom_ids repeat.
                    if seen.insert(id.clone()) {
                        selects.push(snooze_select(id, *finding));
                    }
                }
                Action::Button { kind, finding } => {
                    let id = custom_id(*kind, *finding);
                    if seen.insert(id.clone()) {
                        buttons.push(json!({
                            "type": 2,
                            "style": button_style(*kind),
                            "label": kind.label(),
                            "custom_id": id,
                        }));
                    }
                }
                Action::Link { label, url } => {
                    let label = plain_label(label, MAX_LABEL);
                    if let Some(url) = safe_link(url).filter(|_| !label.is_empty()) {
                        buttons.push(json!({"type": 2, "style": 5, "label": label, "url": url}));
                    }
                }
            }
        }
        for chunk in buttons.chunks(MAX_BUTTONS_PER_ROW) {
            rows.push(chunk.to_vec());
        }
        rows.extend(selects.into_iter().map(|s| vec![s]));
    }
    if rows.len() > MAX_ROWS {
        tracing::debug!(
            rows = rows.len(),
            "a message had more controls than Discord shows; the rest are left out"
        );
    }
    rows.into_iter()
        .take(MAX_ROWS)
        .map(|r| json!({"type": 1, "components": r}))
        .collect()
}

fn button_style(kind: ActionKind) -> u8 {
    match kind {
        ActionKind::Acknowledge => 1,
        ActionKind::Resolve => 3,
        ActionKind::Snooze | ActionKind::AddNote | ActionKind::Reopen => 2,
    }
}

fn snooze_select(id: String, finding: FindingId) -> Value {
    let options: Vec<Value> = SNOOZE_OPTIONS
        .iter()
        .map(|(value, label)| json!({"label": format!("Snooze {label}"), "value": value}))
        .collect();
    json!({
        "type": 3,
        "custom_id": id,
        "placeholder": plain_label(&format!("Snooze {finding}…"), 150),
        "min_values": 1,
        "max_values": 1,
        "options": options,
    })
}

/// Checks a create/edit-message payload against Discord's limits; the error
/// names the first limit exceeded. Used by tests and the fake Discord.
pub fn check_limits(payload: &Value) -> Result<(), String> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(len16);
    if text(payload, "content").unwrap_or(0) > MAX_CONTENT {
        return Err("content over 2000".into());
    }
    let empty = Vec::new();
    let embeds = payload
        .get("embeds")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    if embeds.len() > MAX_EMBEDS {
        return Err(format!("{} embeds", embeds.len()));
    }
    let mut total = 0;
    for (i, e) in embeds.iter().enumerate() {
        let title = text(e, "title").unwrap_or(0);
        let desc = text(e, "description").unwrap_or(0);
        let footer = e.get("footer").and_then(|f| text(f, "text")).unwrap_or(0);
        if title > MAX_TITLE {
            return Err(format!("embed {i}: title {title}"));
        }
        if desc > MAX_DESCRIPTION {
            return Err(format!("embed {i}: description {desc}"));
        }
        if footer > MAX_FOOTER {
            return Err(format!("embed {i}: footer {footer}"));
        }
        let fields = e.get("fields").and_then(Value::as_array).unwrap_or(&empty);
        if fields.len() > MAX_FIELDS {
            return Err(format!("embed {i}: {} fields", fields.len()));
        }
        let mut size = title + desc + footer;
        for f in fields {
            let (n, v) = (text(f, "name").unwrap_or(0), text(f, "value").unwrap_or(0));
            if n == 0 || n > MAX_FIELD_NAME || v == 0 || v > MAX_FIELD_VALUE {
                return Err(format!("embed {i}: field name {n} value {v}"));
            }
            size += n + v;
        }
        if size == 0 && e.get("fields").is_none() {
            return Err(format!("embed {i} is empty"));
        }
        total += size;
    }
    if total > MAX_EMBEDS_TOTAL {
        return Err(format!("embeds total {total}"));
    }
    let rows = payload
        .get("components")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    if rows.len() > MAX_ROWS {
        return Err(format!("{} action rows", rows.len()));
    }
    let mut ids = HashSet::new();
    for row in rows {
        let items = row
            .get("components")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        if row.get("type").and_then(Value::as_u64) != Some(1) || items.is_empty() {
            return Err("an action row is empty or not type 1".into());
        }
        let selects = items
            .iter()
            .filter(|c| c.get("type").and_then(Value::as_u64) == Some(3))
            .count();
        if items.len() > MAX_BUTTONS_PER_ROW || (selects > 0 && items.len() > 1) {
            return Err("too many components in a row".into());
        }
        for c in items {
            check_component(c, &mut ids)?;
        }
    }
    let users = payload
        .pointer("/allowed_mentions/users")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if users > MAX_ALLOWED_USERS {
        return Err(format!("{users} allowed users"));
    }
    Ok(())
}

fn check_component(c: &Value, ids: &mut HashSet<String>) -> Result<(), String> {
    let text = |key: &str| c.get(key).and_then(Value::as_str);
    if let Some(id) = text("custom_id") {
        if id.is_empty() || len16(id) > MAX_CUSTOM_ID {
            return Err(format!("custom_id length {}", len16(id)));
        }
        if !ids.insert(id.to_owned()) {
            return Err(format!("custom_id {id} repeats"));
        }
    }
    match c.get("type").and_then(Value::as_u64) {
        Some(2) => {
            let label = text("label").map_or(0, len16);
            if label == 0 || label > MAX_LABEL {
                return Err(format!("button label {label}"));
            }
            match (text("url"), text("custom_id")) {
                (Some(u), None) if len16(u) <= MAX_URL => Ok(()),
                (None, Some(_)) => Ok(()),
                _ => Err("a button needs a custom_id or a URL within 512".into()),
            }
        }
        Some(3) => {
            let options = c.get("options").and_then(Value::as_array);
            let n = options.map_or(0, Vec::len);
            if n == 0 || n > MAX_SELECT_OPTIONS || text("custom_id").is_none() {
                return Err(format!("select with {n} options"));
            }
            for o in options.into_iter().flatten() {
                let l = o.get("label").and_then(Value::as_str).map_or(0, len16);
                let v = o.get("value").and_then(Value::as_str).map_or(0, len16);
                if l == 0 || l > MAX_OPTION_TEXT || v == 0 || v > MAX_OPTION_TEXT {
                    return Err("select option label or value length".into());
                }
            }
            Ok(())
        }
        other => Err(format!("unexpected component type {other:?}")),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_key_modal_id_round_trips_without_the_key() {
        let d = crate::message::KeyDialog {
            client: crate::domain::ClientSlug::parse("cedar-co").unwrap(),
            client_name: "Cedar & Co".into(),
            ends_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        };
        let id = key_modal_id(&d);
        assert!(id.len() <= 100, "{id}");
        assert_eq!(parse_key_modal_id(&id), Some((d.client.clone(), d.ends_at)));
        assert_eq!(parse_key_modal_id("lookout:keymodal:Not A Slug:1"), None);
        assert_eq!(parse_key_modal_id("lookout:notemodal:F-1"), None);
        let m = key_modal(&d);
        assert_eq!(m["components"][0]["components"][0]["style"], 1);
    }

    use super::*;

    fn msg(blocks: Vec<Block>) -> Message {
        Message {
            accent: Accent::Severity(Severity::Critical),
            blocks,
        }
    }

    fn discord(id: &str) -> PersonRef {
        PersonRef::new(Platform::Discord, id).unwrap()
    }

    fn all_text(r: &Rendered) -> String {
        serde_json::to_string(&r.embeds).unwrap()
    }

    /// A finding card shaped like `routing::cards::finding_card`.
    fn card() -> Message {
        let f = FindingId(12);
        msg(vec![
            Block::Header("Welcome flow stopped".into()),
            Block::Text(
                RichText::default()
                    .push(Span::Mention(discord("4242")))
                    .push(Span::Plain(" The flow has sent nothing for 3 days.".into())),
            ),
            Block::Fields(vec![
                ("Client".into(), RichText::plain("Acme")),
                ("Severity".into(), RichText::plain("critical")),
            ]),
            Block::Context(RichText(vec![
                Span::Code("F-12".into()),
                Span::Plain(" · flows.stopped · detected 09:00".into()),
            ])),
            Block::Actions(vec![
                Action::Button {
                    kind: ActionKind::Acknowledge,
                    finding: f,
                },
                Action::Button {
                    kind: ActionKind::Snooze,
                    finding: f,
                },
                Action::Button {
                    kind: ActionKind::Resolve,
                    finding: f,
                },
                Action::Button {
                    kind: ActionKind::AddNote,
                    finding: f,
                },
                Action::Link {
                    label: "Open in Klaviyo".into(),
                    url: "https://www.klaviyo.com/flow/AbC123/edit".into(),
                },
            ]),
        ])
    }

    #[test]
    fn a_finding_card_is_one_embed_with_buttons_a_select_and_a_ping() {
        let r = render(&card(), Some("k1tag"));
        assert_eq!(r.embeds.len(), 1, "{:#}", json!(r.embeds));
        let e = &r.embeds[0];
        assert_eq!(e["title"], "Welcome flow stopped");
        assert_eq!(e["color"], 0xE0_1E_5A);
        assert!(
            e["description"]
                .as_str()
                .unwrap()
                .starts_with("<@4242> The flow")
        );
        assert_eq!(e["fields"][0]["name"], "Client");
        let footer = e["footer"]["text"].as_str().unwrap();
        assert!(
            footer.contains("F-12") && footer.ends_with("ref k1tag"),
            "{footer}"
        );
        // Only the mentioned user may be pinged, and only through `content`.
        assert_eq!(r.content, "<@4242>");
        assert_eq!(
            r.allowed_mentions(),
            json!({"parse": [], "users": ["4242"], "replied_user": false})
        );
        // Buttons on one row, the snooze select on the next.
        assert_eq!(r.components.len(), 2);
        let row0 = r.components[0]["components"].as_array().unwrap();
        let ids: Vec<&str> = row0
            .iter()
            .filter_map(|b| b["custom_id"].as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "lookout:ack:F-12",
                "lookout:resolve:F-12",
                "lookout:note:F-12"
            ]
        );
        assert_eq!(row0[3]["style"], 5);
        assert_eq!(row0[3]["url"], "https://www.klaviyo.com/flow/AbC123/edit");
        let select = &r.components[1]["components"][0];
        assert_eq!(select["type"], 3);
        assert_eq!(select["custom_id"], "lookout:snooze:F-12");
        let values: Vec<&str> = select["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["value"].as_str().unwrap())
            .collect();
        assert_eq!(values, ["1h", "4h", "1d", "7d", "until-worse"]);
        assert_eq!(check_limits(&r.payload()), Ok(()));
    }

    #[test]
    fn client_text_cannot_ping_or_link() {
        let hostile = "@everyone @here <@&1> <@2> <#3> [x](https://evil) https://evil.example/login **b** `c` ||s|| # H > q <t:1:R> \\";
        let m = msg(vec![
            Block::Header(hostile.into()),
            Block::Text(RichText::plain(hostile).push(Span::Strong(hostile.into()))),
            Block::Fields(vec![(hostile.into(), RichText::plain(hostile))]),
            Block::Context(RichText::plain(hostile)),
            Block::Actions(vec![Action::Link {
                label: hostile.into(),
                url: "https://www.klaviyo.com/flow/1".into(),
            }]),
        ]);
        let r = render(&m, None);
        assert!(r.mentioned.is_empty());
        assert_eq!(r.content, "");
        assert_eq!(r.allowed_mentions()["parse"], json!([]));
        for e in &r.embeds {
            // Footers render neither markdown nor mentions: only `@` and `://` matter there.
            if let Some(t) = e.pointer("/footer/text").and_then(Value::as_str) {
                assert!(!t.contains("@everyone") && !t.contains("@here"), "{t}");
                assert!(!t.contains("https://"), "{t}");
            }
            let texts = [
                e["title"].as_str(),
                e["description"].as_str(),
                e.pointer("/fields/0/name").and_then(Value::as_str),
                e.pointer("/fields/0/value").and_then(Value::as_str),
            ];
            for t in texts.into_iter().flatten() {
                assert!(!t.contains("@everyone") && !t.contains("@here"), "{t}");
                assert!(!t.contains("https://"), "{t}");
                // Every `<`, `[` and `]` is escaped, so no mention or masked link parses.
                let b = t.as_bytes();
                for (i, ch) in b.iter().enumerate() {
                    if matches!(ch, b'<' | b'[' | b']') {
                        assert!(
                            i > 0 && b[i - 1] == b'\\',
                            "unescaped {} in {t}",
                            *ch as char
                        );
                    }
                }
            }
        }
        let label = r.components[0]["components"][0]["label"].as_str().unwrap();
        assert!(len16(label) <= MAX_LABEL);
        assert_eq!(check_limits(&r.payload()), Ok(()));
    }

    #[test]
    fn mentions_render_only_for_discord_people() {
        let t = RichText::default()
            .push(Span::Mention(
                PersonRef::new(Platform::Slack, "U0ANA").unwrap(),
            ))
            .push(Span::Plain(" ".into()))
            .push(Span::Mention(PersonRef::console("everyone")))
            .push(Span::Plain(" ".into()))
            .push(Span::Mention(discord("77")))
            .push(Span::Mention(discord("77")));
        let r = render(&msg(vec![Block::Text(t)]), None);
        let d = r.embeds[0]["description"].as_str().unwrap();
        assert_eq!(d, "@\u{200B}U0ANA @\u{200B}everyone <@77><@77>");
        assert_eq!(r.mentioned, ["77"]);
        assert_eq!(r.content, "<@77>");
    }

    #[test]
    fn links_go_only_to_klaviyo() {
        assert_eq!(
            safe_link("https://www.klaviyo.com/flow/1/edit?x=(y)").as_deref(),
            Some("https://www.klaviyo.com/flow/1/edit?x=%28y%29")
        );
        for bad in [
            "https://evil.example/",
            "http://www.klaviyo.com/flow",
            "https://www.klaviyo.com.evil.example/",
            "https://www.klaviyo.com@evil.example/",
            "https://user@www.klaviyo.com/x",
            "https://www.klaviyo.com:444/x",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_link(bad), None, "{bad}");
        }
        let long = format!("https://www.klaviyo.com/{}", "a".repeat(600));
        assert_eq!(safe_link(&long), None);
        let t = RichText::default().push(Span::Link {
            url: "https://evil.example/".into(),
            label: "Open".into(),
        });
        let r = render(&msg(vec![Block::Text(t)]), None);
        assert_eq!(r.embeds[0]["description"], "Open");
        let t = RichText::default().push(Span::Link {
            url: "https://www.klaviyo.com/flow/1".into(),
            label: "Open [now]".into(),
        });
        let r = render(&msg(vec![Block::Text(t)]), None);
        assert_eq!(
            r.embeds[0]["description"],
            "[Open \\[now\\]](https://www.klaviyo.com/flow/1)"
        );
    }

    #[test]
    fn five_hundred_long_blocks_stay_within_every_limit() {
        let long = "x".repeat(3000);
        let mut blocks = Vec::new();
        for i in 0..500 {
            blocks.push(match i % 6 {
                0 => Block::Header(format!("{i} {long}")),
                1 => Block::Text(RichText::plain(&long).push(Span::Strong(long.clone()))),
                2 => Block::Fields(vec![(long.clone(), RichText::plain(&long)); 30]),
                3 => Block::Context(RichText::plain(&long)),
                4 => Block::Divider,
                _ => Block::Actions(
                    (1..=30)
                        .flat_map(|n| {
                            [
                                Action::Button {
                                    kind: ActionKind::Acknowledge,
                                    finding: FindingId(n),
                                },
                                Action::Button {
                                    kind: ActionKind::Snooze,
                                    finding: FindingId(n),
                                },
                                Action::Link {
                                    label: long.clone(),
                                    url: format!("https://www.klaviyo.com/{long}"),
                                },
                            ]
                        })
                        .collect(),
                ),
            });
        }
        let r = render(&msg(blocks), Some("abcdef123456"));
        assert_eq!(check_limits(&r.payload()), Ok(()));
        let footer = r.embeds.last().unwrap()["footer"]["text"].as_str().unwrap();
        assert!(footer.contains("more not shown"), "{footer}");
        assert!(footer.ends_with("ref abcdef123456"), "{footer}");
        assert_eq!(r.components.len(), MAX_ROWS);
    }

    #[test]
    fn many_short_texts_spill_into_more_embeds_then_stop() {
        let blocks: Vec<Block> = (0..400)
            .map(|i| Block::Text(RichText::plain(format!("line {i} {}", "y".repeat(40)))))
            .collect();
        let r = render(&msg(blocks), None);
        assert!(r.embeds.len() >= 2);
        assert_eq!(check_limits(&r.payload()), Ok(()));
        let text = all_text(&r);
        assert!(text.contains("line 0 ") && !text.contains("line 399 "));
        assert!(text.contains("more not shown"));
    }

    #[test]
    fn cuts_never_split_escapes_or_leave_markup_open() {
        let pieces = pieces(
            &RichText::default()
                .push(Span::Plain("a*b".into()))
                .push(Span::Strong("c_d_e_f".into())),
            true,
            &mut Vec::new(),
        );
        for limit in 0..20 {
            let s = join_bounded(&pieces, limit);
            assert!(len16(&s) <= limit.max(1), "{limit}: {s}");
            assert_eq!(s.matches("**").count() % 2, 0, "{limit}: {s}");
            assert!(!s.contains("\\…"), "{limit}: {s}");
        }
        assert_eq!(join_bounded(&pieces, 100), "a\\*b**c\\_d\\_e\\_f**");
    }

    #[test]
    fn custom_ids_round_trip_and_refuse_others() {
        for kind in [
            ActionKind::Acknowledge,
            ActionKind::Snooze,
            ActionKind::Resolve,
            ActionKind::AddNote,
            ActionKind::Reopen,
        ] {
            let id = custom_id(kind, FindingId(i64::MAX));
            assert!(len16(&id) <= MAX_CUSTOM_ID);
            assert_eq!(parse_custom_id(&id), Some((kind, FindingId(i64::MAX))));
        }
        for bad in [
            "",
            "lookout",
            "lookout:ack",
            "lookout:ack:12",
            "lookout:ack:F-0",
            "other:ack:F-1",
            "lookout:nuke:F-1",
            "lookout:ack:F-1:x",
        ] {
            assert_eq!(parse_custom_id(bad), None, "{bad}");
        }
        assert_eq!(
            parse_note_modal_id(&note_modal_id(FindingId(9))),
            Some(FindingId(9))
        );
        assert_eq!(parse_note_modal_id("lookout:notemodal:9"), None);
    }

    #[test]
    fn modal_and_choices_fit_discord() {
        let m = note_modal(FindingId(i64::MAX));
        assert!(len16(m["title"].as_str().unwrap()) <= MAX_MODAL_TITLE);
        assert!(len16(m["custom_id"].as_str().unwrap()) <= MAX_CUSTOM_ID);
        let many: Vec<Choice> = (0..40)
            .map(|i| Choice {
                label: format!("{i} {}", "n".repeat(300)),
                value: format!("client-{i}"),
            })
            .chain([Choice {
                label: "too long".into(),
                value: "v".repeat(101),
            }])
            .collect();
        let c = choices(&many);
        let list = c["choices"].as_array().unwrap();
        assert_eq!(list.len(), MAX_CHOICES);
        for ch in list {
            assert!(len16(ch["name"].as_str().unwrap()) <= MAX_OPTION_TEXT);
            assert!(len16(ch["value"].as_str().unwrap()) <= MAX_OPTION_TEXT);
        }
    }

    #[test]
    fn an_empty_message_still_has_an_embed() {
        let r = render(&msg(vec![]), None);
        assert_eq!(r.embeds.len(), 1);
        assert_eq!(check_limits(&r.payload()), Ok(()));
        let only_buttons = msg(vec![Block::Actions(vec![Action::Button {
            kind: ActionKind::Acknowledge,
            finding: FindingId(1),
        }])]);
        let r = render(&only_buttons, None);
        assert_eq!(r.embeds.len(), 1);
        assert_eq!(r.components.len(), 1);
    }

    #[test]
    fn repeated_controls_are_rendered_once() {
        let a = Action::Button {
            kind: ActionKind::Acknowledge,
            finding: FindingId(1),
        };
        let r = render(
            &msg(vec![
                Block::Actions(vec![a.clone(), a.clone()]),
                Block::Actions(vec![a]),
            ]),
            None,
        );
        assert_eq!(r.components.len(), 1);
        assert_eq!(check_limits(&r.payload()), Ok(()));
    }

    #[test]
    fn check_limits_catches_what_discord_refuses() {
        assert!(check_limits(&json!({"embeds": [{"title": "t".repeat(257)}]})).is_err());
        assert!(check_limits(&json!({"content": "c".repeat(2001)})).is_err());
        let big = json!({"description": "d".repeat(4000)});
        assert!(check_limits(&json!({"embeds": [big, big]})).is_err());
        let row = json!({"type": 1, "components": [
            {"type": 2, "style": 1, "label": "a", "custom_id": "x"},
            {"type": 2, "style": 1, "label": "b", "custom_id": "x"}
        ]});
        assert!(check_limits(&json!({"components": [row]})).is_err());
    }

    #[test]
    fn random_messages_always_fit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let alphabet: Vec<char> = "ab @*_~`|<>[]()#\\:/\n\t\u{202E}é😀".chars().collect();
        let text = |rng: &mut rand_chacha::ChaCha8Rng, max: usize| -> String {
            let n = rng.random_range(0..max);
            (0..n)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect()
        };
        for _ in 0..300 {
            let mut blocks = Vec::new();
            for _ in 0..rng.random_range(0..40) {
                let t = text(&mut rng, 2500);
                blocks.push(match rng.random_range(0..6) {
                    0 => Block::Header(t),
                    1 => Block::Text(RichText::plain(t).push(Span::Code(text(&mut rng, 50)))),
                    2 => Block::Fields(vec![(text(&mut rng, 300), RichText::plain(t)); 3]),
                    3 => Block::Context(RichText::plain(t)),
                    4 => Block::Divider,
                    _ => Block::Text(RichText::default().push(Span::Strong(t))),
                });
            }
            let r = render(&msg(blocks), Some("tag"));
            assert_eq!(check_limits(&r.payload()), Ok(()));
            assert!(!all_text(&r).contains("@everyone"));
        }
    }

    #[test]
    fn channel_links_are_clickable_only_on_discord() {
        use crate::message::ChannelRef;
        let m = Message {
            accent: Accent::Info,
            blocks: vec![Block::Text(RichText(vec![
                Span::Channel(ChannelRef::parse("discord:42").unwrap()),
                Span::Plain(" ".into()),
                Span::Channel(ChannelRef::parse("slack:C0ACME").unwrap()),
            ]))],
        };
        let payload = render(&m, None).payload().to_string();
        // The other platform's channel is text, with `#` escaped from markdown.
        assert!(payload.contains(r#"<#42> \\#C0ACME"#), "{payload}");
    }

    #[test]
    fn hidden_characters_cannot_smuggle_a_url_or_a_mention() {
        for s in [
            "https:\u{200B}//evil.example",
            "https:\u{202E}//evil.example",
            "https\u{FEFF}://e.x",
        ] {
            let out = escape_markdown(s);
            assert!(!out.contains("://"), "{out:?}");
            assert!(out.contains(":\u{200B}//"), "{out:?}");
        }
        assert_eq!(escape_markdown("@\u{200D}here"), "@\u{200B}here");
        assert_eq!(escape_markdown("a\u{061C}b\u{2060}c"), "abc");
    }

    #[test]
    fn a_url_split_across_spans_is_broken_too() {
        let t = RichText(vec![
            Span::Plain("see https:".into()),
            Span::Plain("//evil.example".into()),
        ]);
        let joined: String = pieces(&t, true, &mut Vec::new())
            .iter()
            .map(|p| {
                let mut s = String::new();
                push_piece(&mut s, p);
                s
            })
            .collect();
        assert_eq!(joined, "see https:\u{200B}//evil.example");
    }
}
