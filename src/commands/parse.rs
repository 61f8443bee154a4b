//! Text to `Command`: the only place typed chat input becomes typed values.
//!
//! Parsing is driven by the declarations in `commands/`: each argument's kind
//! selects a parser, and the parsed values are then mapped onto the typed
//! `Command`. Every failure is a `ParseError` whose message is one line telling
//! the person what to type instead. No input, however hostile, panics.

use chrono::{Duration, NaiveDate};

use crate::commands::spec::{self, ArgKind, ArgSpec, CommandSpec, UMBRELLA};
use crate::commands::{ArgValue, Command, MonthSpec, SnoozeSpec};
use crate::domain::{ClientSlug, DomainError, FindingId, Severity};
use crate::message::{ChannelRef, PersonRef};

/// The longest text argument (a note or a reason) accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 2_000;

/// The longest snooze given as a length; "no snooze forever".
pub const MAX_SNOOZE_DAYS: i64 = 30;

/// The longest look-back a `days` argument accepts.
pub const MAX_DAYS: u32 = 365;

/// Shown for a snooze argument that is missing or not understood.
const SNOOZE_HINT: &str = "1h, 4h, 1d, 7d, a date (2026-12-01) or until-worse";

/// Why a line could not become a `Command`. Each message is one line saying what to type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing was typed.
    #[error("Type a command, e.g. `/findings` or `/scan acme`. Type /help for the list.")]
    Empty,
    /// The command name is not declared.
    #[error(
        "Unknown command `/{name}`. {}Type /help for the list.",
        .suggestion.as_ref().map(|s| format!("Did you mean `/{s}`? ")).unwrap_or_default()
    )]
    UnknownCommand {
        /// What was typed (cleaned for display).
        name: String,
        /// A declared command within two edits, if any.
        suggestion: Option<String>,
    },
    /// A required argument is missing.
    #[error("`/{command}` needs <{arg}>: {hint}. Usage: {usage}")]
    MissingArgument {
        /// The command.
        command: String,
        /// The missing argument's name.
        arg: String,
        /// What the argument accepts.
        hint: String,
        /// The usage line.
        usage: String,
    },
    /// An argument was given but is not valid.
    #[error("`/{command}` can't use that as <{arg}>: {detail}. Usage: {usage}")]
    BadArgument {
        /// The command.
        command: String,
        /// The argument's name.
        arg: String,
        /// What was wrong and what to use instead.
        detail: String,
        /// The usage line.
        usage: String,
    },
    /// More was typed than the command takes.
    #[error("`/{command}` does not take `{extra}`. Usage: {usage}")]
    TooManyArguments {
        /// The command.
        command: String,
        /// The first unexpected word (cleaned for display).
        extra: String,
        /// The usage line.
        usage: String,
    },
    /// The command is declared but has no handler yet.
    #[error("`/{command}` is not available yet. Type /help for the commands you can use now.")]
    NotYetAvailable {
        /// The command.
        command: String,
    },
}

impl ParseError {
    /// An unknown-command error for `name`, with a suggestion when one is close.
    pub fn unknown(name: &str) -> Self {
        ParseError::UnknownCommand {
            name: shown(name),
            suggestion: spec::suggest(name).map(str::to_owned),
        }
    }
}

/// Whether a declared command has a handler today.
pub fn is_available(name: &str) -> bool {
    super::handler(name).is_some()
}

/// Parses one line typed in chat or the console: "/scan acme", "scan acme",
/// "/lookout scan acme" (umbrella form), with surrounding whitespace.
pub fn parse_line(line: &str) -> Result<Command, ParseError> {
    let (name, rest) = split_name(line);
    parse_parts(name, rest)
}

/// Parses a slash command that arrives as name + text (Slack/Discord), e.g. ("snooze", "F-12 4h").
pub fn parse_parts(name: &str, text: &str) -> Result<Command, ParseError> {
    let (name, rest) = resolve(name, text);
    if name.is_empty() {
        return Err(ParseError::Empty);
    }
    parse_declared(&name, rest)
}

/// The command a slash command names, normalized, and its argument text:
/// `/lookout scan acme` is `scan` with `acme`, and `/lookout` alone is `help`
/// (the first word after the umbrella is the command). Empty for no name.
pub fn resolve<'a>(name: &str, text: &'a str) -> (String, &'a str) {
    let name = normalize_name(name);
    if name != UMBRELLA {
        return (name, text);
    }
    let (inner, rest) = split_name(text);
    let inner = normalize_name(inner);
    if inner.is_empty() {
        return ("help".to_owned(), "");
    }
    (inner, rest)
}

/// Splits a line into its first word (without a leading slash) and the rest.
fn split_name(line: &str) -> (&str, &str) {
    let line = line.trim_start();
    let line = line.strip_prefix('/').unwrap_or(line).trim_start();
    match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, ""),
    }
}

/// Command names are matched case-insensitively and without a slash.
fn normalize_name(name: &str) -> String {
    name.trim().trim_start_matches('/').to_lowercase()
}

/// Parses the arguments of a command known by its normalized name.
fn parse_declared(name: &str, text: &str) -> Result<Command, ParseError> {
    let Some(spec) = spec::spec(name) else {
        return Err(ParseError::unknown(name));
    };
    let values = parse_args(spec, text)?;
    to_command(spec, values)
}

/// Why one word did not parse as an argument kind.
enum ArgFail {
    /// Not valid; the text says why and what to use.
    Detail(String),
    /// `/help <name>` with a name that is not a command.
    UnknownCommand(String),
}

/// One whitespace-separated word and where it starts in the argument text.
struct Token<'a> {
    start: usize,
    word: &'a str,
}

fn tokenize(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push(Token {
                    start: s,
                    word: &text[s..i],
                });
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Token {
            start: s,
            word: &text[s..],
        });
    }
    out
}

/// Fills the declared arguments from the text: required ones by position,
/// then optional ones by whichever still-free argument the word fits best, so
/// `/findings critical` means a severity, not a client named "critical".
fn parse_args(spec: &CommandSpec, text: &str) -> Result<Vec<Option<ArgValue>>, ParseError> {
    let tokens = tokenize(text);
    let mut values: Vec<Option<ArgValue>> = vec![None; spec.args.len()];
    let mut next = 0;

    for (i, arg) in spec.args.iter().enumerate().filter(|(_, a)| a.required) {
        if arg.kind == ArgKind::Text {
            let rest = tokens.get(next).map(|t| &text[t.start..]).unwrap_or("");
            let value = parse_text(spec, arg, rest)?;
            if value.is_empty() {
                return Err(missing(spec, arg));
            }
            values[i] = Some(ArgValue::Text(value));
            next = tokens.len();
            break;
        }
        let Some(token) = tokens.get(next) else {
            return Err(missing(spec, arg));
        };
        values[i] = Some(parse_value(arg.kind, token.word).map_err(|f| bad(spec, arg, f))?);
        next += 1;
    }

    while let Some(token) = tokens.get(next) {
        let free: Vec<usize> = (0..spec.args.len())
            .filter(|&i| values[i].is_none() && !spec.args[i].required)
            .collect();
        let Some(&first_free) = free.first() else {
            return Err(ParseError::TooManyArguments {
                command: spec.name.clone(),
                extra: shown(token.word),
                usage: spec.usage(),
            });
        };
        let mut best: Option<(u8, usize, ArgValue)> = None;
        for &i in &free {
            let kind = spec.args[i].kind;
            if kind == ArgKind::Text {
                continue;
            }
            if let Ok(v) = parse_value(kind, token.word) {
                let rank = specificity(kind);
                if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
                    best = Some((rank, i, v));
                }
            }
        }
        if let Some((_, i, v)) = best {
            values[i] = Some(v);
            next += 1;
            continue;
        }
        if let Some(&t) = free.iter().find(|&&i| spec.args[i].kind == ArgKind::Text) {
            let value = parse_text(spec, &spec.args[t], &text[token.start..])?;
            if !value.is_empty() {
                values[t] = Some(ArgValue::Text(value));
            }
            break;
        }
        let arg = &spec.args[first_free];
        return Err(match parse_value(arg.kind, token.word) {
            Err(f) => bad(spec, arg, f),
            // Unreachable in practice (it failed above), but stay total.
            Ok(_) => ParseError::TooManyArguments {
                command: spec.name.clone(),
                extra: shown(token.word),
                usage: spec.usage(),
            },
        });
    }
    Ok(values)
}

/// Higher means a word that fits this kind is less likely to be meant as another.
fn specificity(kind: ArgKind) -> u8 {
    match kind {
        ArgKind::Finding | ArgKind::Snooze => 5,
        ArgKind::Severity | ArgKind::Days | ArgKind::Channel | ArgKind::User | ArgKind::Month => 4,
        ArgKind::Command => 3,
        ArgKind::Client => 2,
        ArgKind::Word => 1,
        ArgKind::Text => 0,
    }
}

fn missing(spec: &CommandSpec, arg: &ArgSpec) -> ParseError {
    let hint = match arg.kind {
        ArgKind::Client => "a client's short name, e.g. acme".to_owned(),
        ArgKind::Finding => "the finding's id shown on its message, e.g. F-12".to_owned(),
        ArgKind::Severity => "critical, warning or opportunity".to_owned(),
        ArgKind::Snooze => SNOOZE_HINT.to_owned(),
        ArgKind::Command => "a command name, e.g. snooze".to_owned(),
        ArgKind::Days => format!("a number of days from 1 to {MAX_DAYS}, e.g. 90"),
        ArgKind::Channel => "a channel, e.g. #client-acme".to_owned(),
        ArgKind::User => "a person, e.g. @ana".to_owned(),
        ArgKind::Word => "one word, e.g. east or @ana".to_owned(),
        ArgKind::Month => MONTH_HINT.to_owned(),
        ArgKind::Text => {
            let d = arg.description.trim_end_matches('.');
            let mut chars = d.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => "some text".to_owned(),
            }
        }
    };
    ParseError::MissingArgument {
        command: spec.name.clone(),
        arg: arg.name.clone(),
        hint,
        usage: spec.usage(),
    }
}

fn bad(spec: &CommandSpec, arg: &ArgSpec, fail: ArgFail) -> ParseError {
    match fail {
        ArgFail::Detail(detail) => ParseError::BadArgument {
            command: spec.name.clone(),
            arg: arg.name.clone(),
            detail,
            usage: spec.usage(),
        },
        ArgFail::UnknownCommand(name) => ParseError::unknown(&name),
    }
}

/// Cleans a user's word for echoing back in an error: no control characters,
/// no backticks (they would break the code span), at most 40 characters.
fn shown(word: &str) -> String {
    let clean: String = word
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c) && *c != '`')
        // Words come from splitting on whitespace, but names passed in directly may not.
        .filter(|c| !c.is_whitespace() || *c == ' ')
        .collect();
    if clean.chars().count() > 40 {
        let cut: String = clean.chars().take(39).collect();
        format!("{cut}…")
    } else {
        clean
    }
}

/// Characters that reorder or hide text on display (used to disguise text):
/// the same rules every adapter applies.
fn is_bidi_control(c: char) -> bool {
    crate::message::text::is_bidi_control(c) || crate::message::text::is_zero_width(c)
}

fn domain_detail(e: DomainError) -> ArgFail {
    ArgFail::Detail(e.to_string())
}

/// The parser for each argument kind except `Text`, which needs the whole rest.
fn parse_value(kind: ArgKind, word: &str) -> Result<ArgValue, ArgFail> {
    match kind {
        ArgKind::Client => ClientSlug::parse(word)
            .map(ArgValue::Client)
            .map_err(|_| domain_detail(DomainError::BadSlug(shown(word)))),
        ArgKind::Finding => FindingId::parse(word)
            .map(ArgValue::Finding)
            .map_err(|_| domain_detail(DomainError::BadFindingId(shown(word)))),
        ArgKind::Severity => word
            .parse::<Severity>()
            .map(ArgValue::Severity)
            .map_err(|_| domain_detail(DomainError::BadSeverity(shown(word)))),
        ArgKind::Snooze => parse_snooze(word)
            .map(ArgValue::Snooze)
            .map_err(ArgFail::Detail),
        ArgKind::Days => parse_days(word)
            .map(ArgValue::Days)
            .map_err(ArgFail::Detail),
        ArgKind::Command => {
            let name = normalize_name(word);
            if name == UMBRELLA || spec::spec(&name).is_some() {
                Ok(ArgValue::Command(name))
            } else {
                Err(ArgFail::UnknownCommand(name))
            }
        }
        // Adapters decode their platform's mention syntax into `platform:id`
        // before the text reaches the parser.
        ArgKind::Channel => ChannelRef::parse(word)
            .map(ArgValue::Channel)
            .map_err(|e| ArgFail::Detail(e.to_string())),
        ArgKind::User => PersonRef::parse(word)
            .map(ArgValue::User)
            .map_err(|e| ArgFail::Detail(e.to_string())),
        ArgKind::Word => {
            let ok = !word.is_empty()
                && word.chars().count() <= 64
                && word
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '@' | '#'));
            if ok {
                Ok(ArgValue::Text(word.to_owned()))
            } else {
                Err(ArgFail::Detail(format!(
                    "`{}` is not one word: use a pod name or a person, e.g. east or @ana",
                    shown(word)
                )))
            }
        }
        ArgKind::Month => parse_month(word)
            .map(ArgValue::Month)
            .map_err(ArgFail::Detail),
        // Text is taken from the rest of the line by `parse_args`; a single word is still text.
        ArgKind::Text => Ok(ArgValue::Text(clean_text(word))),
    }
}

/// How a month may be written.
const MONTH_HINT: &str = "a month, e.g. 2026-10, october or oct";

/// Parses a month: `YYYY-MM`, a month's English name or its first three letters.
fn parse_month(word: &str) -> Result<MonthSpec, String> {
    const NAMES: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let lower = word.to_lowercase();
    if let Some((y, m)) = lower.split_once('-')
        && y.len() == 4
        && let (Ok(year), Ok(month)) = (y.parse::<i32>(), m.parse::<u32>())
    {
        return if (1..=12).contains(&month) && (2000..=2100).contains(&year) {
            Ok(MonthSpec {
                year: Some(year),
                month,
            })
        } else {
            Err(format!(
                "`{}` is not a real month: use {MONTH_HINT}",
                shown(word)
            ))
        };
    }
    NAMES
        .iter()
        .position(|n| lower.len() >= 3 && n.starts_with(&lower))
        .map(|i| MonthSpec {
            year: None,
            month: i as u32 + 1,
        })
        .ok_or_else(|| format!("`{}` is not a month: use {MONTH_HINT}", shown(word)))
}

/// Parses a snooze: `30m`, `4h`, `1d`, `1w` (up to 30 days), `YYYY-MM-DD` or `until-worse`.
fn parse_snooze(word: &str) -> Result<SnoozeSpec, String> {
    let lower = word.to_lowercase();
    let w = shown(word);
    if lower == "until-worse" {
        return Ok(SnoozeSpec::UntilWorse);
    }
    if matches!(
        lower.as_str(),
        "forever" | "never" | "always" | "indefinitely"
    ) {
        return Err(format!(
            "every snooze ends, so `{w}` is not allowed: use up to 30d or until-worse"
        ));
    }
    if is_date_shape(&lower) {
        return NaiveDate::parse_from_str(&lower, "%Y-%m-%d")
            .map(SnoozeSpec::UntilDate)
            .map_err(|_| format!("`{w}` is not a real date: use YYYY-MM-DD, e.g. 2026-12-01"));
    }
    if lower.starts_with('-') {
        return Err(format!("`{w}` is negative: use {SNOOZE_HINT}"));
    }
    let not_length = || format!("`{w}` is not a snooze length: use {SNOOZE_HINT}");
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(not_length)?;
    let (number, unit) = lower.split_at(digits_end);
    if number.is_empty() {
        return Err(not_length());
    }
    let minutes_per_unit: u64 = match unit {
        "m" | "min" | "mins" => 1,
        "h" | "hr" | "hrs" => 60,
        "d" | "day" | "days" => 60 * 24,
        "w" | "wk" | "week" | "weeks" => 60 * 24 * 7,
        _ => return Err(not_length()),
    };
    let too_long = || {
        format!(
            "`{w}` is longer than {MAX_SNOOZE_DAYS} days: every snooze ends, so use up to 30d or until-worse"
        )
    };
    // A number too big for u64 is certainly longer than 30 days.
    let n: u64 = number.parse().map_err(|_| too_long())?;
    let minutes = n.checked_mul(minutes_per_unit).ok_or_else(too_long)?;
    if minutes == 0 {
        return Err(format!("`{w}` is no time at all: use {SNOOZE_HINT}"));
    }
    let max_minutes = MAX_SNOOZE_DAYS as u64 * 24 * 60;
    if minutes > max_minutes {
        return Err(too_long());
    }
    // Bounded by max_minutes above, so the conversion cannot fail.
    let minutes = i64::try_from(minutes).map_err(|_| too_long())?;
    Ok(SnoozeSpec::For(Duration::minutes(minutes)))
}

/// `dddd-dd-dd`: chrono alone would also accept signs and short years.
fn is_date_shape(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// Parses a number of days, `90` or `90d`, from 1 to 365.
fn parse_days(word: &str) -> Result<u32, String> {
    let lower = word.to_lowercase();
    let digits = lower.strip_suffix('d').unwrap_or(&lower);
    match digits.parse::<u32>() {
        Ok(n) if (1..=MAX_DAYS).contains(&n) && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!(
            "`{}` is not a number of days: use 1 to {MAX_DAYS}, e.g. 90",
            shown(word)
        )),
    }
}

/// Cleans free text: control characters go (newlines stay, tabs become spaces),
/// as do characters that reorder text; one pair of surrounding quotes is dropped.
fn clean_text(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter_map(|c| match c {
            '\n' => Some('\n'),
            '\t' => Some(' '),
            c if c.is_control() || is_bidi_control(c) => None,
            c => Some(c),
        })
        .collect();
    let trimmed = cleaned.trim();
    for (open, close) in [('"', '"'), ('\'', '\''), ('“', '”'), ('‘', '’')] {
        if let Some(inner) = trimmed
            .strip_prefix(open)
            .and_then(|t| t.strip_suffix(close))
        {
            return inner.trim().to_owned();
        }
    }
    trimmed.to_owned()
}

/// Cleans and length-checks a text argument.
fn parse_text(spec: &CommandSpec, arg: &ArgSpec, raw: &str) -> Result<String, ParseError> {
    let text = clean_text(raw);
    let n = text.chars().count();
    if n > MAX_TEXT_CHARS {
        return Err(ParseError::BadArgument {
            command: spec.name.clone(),
            arg: arg.name.clone(),
            detail: format!("it is {n} characters long; keep it to {MAX_TEXT_CHARS}"),
            usage: spec.usage(),
        });
    }
    Ok(text)
}

/// Maps declared, parsed values onto a `Command`, refusing commands that are
/// declared but have no handler yet.
fn to_command(spec: &CommandSpec, values: Vec<Option<ArgValue>>) -> Result<Command, ParseError> {
    if !is_available(&spec.name) {
        return Err(ParseError::NotYetAvailable {
            command: spec.name.clone(),
        });
    }
    let mut command = Command::new(spec.name.clone());
    for (arg, value) in spec.args.iter().zip(values) {
        if let Some(v) = value {
            command = command.arg(&arg.name, v);
        }
    }
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn snooze(s: &str) -> Result<SnoozeSpec, String> {
        parse_snooze(s)
    }

    /// Examples are written as people type them at the console; its adapter
    /// turns `#name` and `@name` into `console:` references before parsing.
    fn console_syntax(line: &str) -> String {
        line.split(' ')
            .map(|w| match w.chars().next() {
                Some('#' | '@') if w.len() > 1 => format!("console:{}", &w[1..]),
                _ => w.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn simple_forms_parse() {
        let want = Command::new("scan").arg(
            "client",
            ArgValue::Client(ClientSlug::parse("acme").unwrap()),
        );
        assert_eq!(parse_line("/scan acme"), Ok(want.clone()));
        assert_eq!(parse_line("scan acme"), Ok(want.clone()));
        assert_eq!(parse_line("  /scan   acme  \n"), Ok(want.clone()));
        assert_eq!(parse_line("/SCAN acme"), Ok(want.clone()));
        assert_eq!(parse_parts("scan", "acme"), Ok(want.clone()));
        assert_eq!(parse_parts("/scan", " acme "), Ok(want));
    }

    #[test]
    fn umbrella_form_parses_like_the_direct_form() {
        assert_eq!(
            parse_line("/lookout snooze F-12 4h"),
            parse_line("/snooze F-12 4h")
        );
        assert_eq!(
            parse_parts("lookout", "ack f-3"),
            Ok(Command::new("ack").arg("finding", ArgValue::Finding(FindingId(3))))
        );
        assert_eq!(parse_line("/lookout"), Ok(Command::new("help")));
        assert_eq!(
            parse_line("/lookout /portfolio"),
            Ok(Command::new("portfolio"))
        );
        assert!(matches!(
            parse_line("/lookout sacn acme"),
            Err(ParseError::UnknownCommand { .. })
        ));
    }

    #[test]
    fn snooze_lengths() {
        assert_eq!(snooze("30m"), Ok(SnoozeSpec::For(Duration::minutes(30))));
        assert_eq!(snooze("1h"), Ok(SnoozeSpec::For(Duration::hours(1))));
        assert_eq!(snooze("4H"), Ok(SnoozeSpec::For(Duration::hours(4))));
        assert_eq!(snooze("2d"), Ok(SnoozeSpec::For(Duration::days(2))));
        assert_eq!(snooze("7d"), Ok(SnoozeSpec::For(Duration::days(7))));
        assert_eq!(snooze("1w"), Ok(SnoozeSpec::For(Duration::weeks(1))));
        assert_eq!(snooze("30d"), Ok(SnoozeSpec::For(Duration::days(30))));
        assert_eq!(snooze("until-worse"), Ok(SnoozeSpec::UntilWorse));
        assert_eq!(
            snooze("2026-12-01"),
            Ok(SnoozeSpec::UntilDate(
                NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
            ))
        );
    }

    #[test]
    fn snooze_rejects_zero_negative_too_long_and_garbage() {
        for bad in [
            "0h",
            "0m",
            "-1h",
            "31d",
            "5w",
            "721h",
            "99999999999999999999999h",
            "h",
            "4",
            "4x",
            "soon",
            "forever",
            "2026-13-01",
            "2026-02-30",
            "+2026-12-01",
            "26-12-01",
            "1.5h",
            "",
            "4h4h",
        ] {
            assert!(snooze(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(
            snooze("31d").unwrap_err(),
            "`31d` is longer than 30 days: every snooze ends, so use up to 30d or until-worse"
        );
        assert_eq!(
            snooze("-1h").unwrap_err(),
            "`-1h` is negative: use 1h, 4h, 1d, 7d, a date (2026-12-01) or until-worse"
        );
    }

    #[test]
    fn days_are_bounded() {
        assert_eq!(parse_days("90"), Ok(90));
        assert_eq!(parse_days("90d"), Ok(90));
        assert_eq!(parse_days("365"), Ok(365));
        for bad in ["0", "366", "-5", "+5", "ninety", "", "d"] {
            assert!(parse_days(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn optional_arguments_match_by_kind() {
        let acme = ClientSlug::parse("acme").unwrap();
        assert_eq!(
            parse_line("/findings critical"),
            Ok(Command::new("findings").arg("severity", ArgValue::Severity(Severity::Critical)))
        );
        assert_eq!(
            parse_line("/findings acme"),
            Ok(Command::new("findings").arg("client", ArgValue::Client(acme.clone())))
        );
        assert_eq!(
            parse_line("/findings warning acme"),
            Ok(Command::new("findings")
                .arg("client", ArgValue::Client(acme))
                .arg("severity", ArgValue::Severity(Severity::Warning)))
        );
        assert!(matches!(
            parse_line("/findings acme urgent"),
            Err(ParseError::BadArgument { arg, .. }) if arg == "severity"
        ));
        assert!(matches!(
            parse_line("/findings acme warning extra"),
            Err(ParseError::TooManyArguments { extra, .. }) if extra == "extra"
        ));
    }

    #[test]
    fn text_keeps_inner_spaces_and_drops_controls() {
        assert_eq!(
            parse_line("/note F-1   call   them\tMonday\x07 "),
            Ok(Command::new("note")
                .arg("finding", ArgValue::Finding(FindingId(1)))
                .arg("text", ArgValue::Text("call   them Monday".to_owned())))
        );
        assert_eq!(
            parse_line("/note 1 \"quoted note\""),
            Ok(Command::new("note")
                .arg("finding", ArgValue::Finding(FindingId(1)))
                .arg("text", ArgValue::Text("quoted note".to_owned())))
        );
        assert_eq!(
            parse_line("/resolve F-2 fixed\u{202E}evil"),
            Ok(Command::new("resolve")
                .arg("finding", ArgValue::Finding(FindingId(2)))
                .arg("reason", ArgValue::Text("fixedevil".to_owned())))
        );
        assert_eq!(
            parse_line("/resolve F-2   "),
            Ok(Command::new("resolve").arg("finding", ArgValue::Finding(FindingId(2))))
        );
    }

    #[test]
    fn text_length_is_capped() {
        let ok = format!("/note F-1 {}", "é".repeat(MAX_TEXT_CHARS));
        assert!(parse_line(&ok).is_ok());
        let long = format!("/note F-1 {}", "a".repeat(MAX_TEXT_CHARS + 1));
        assert_eq!(
            parse_line(&long).unwrap_err().to_string(),
            "`/note` can't use that as <text>: it is 2001 characters long; keep it to 2000. Usage: /note <finding> <text>"
        );
    }

    #[test]
    fn a_note_of_only_control_characters_is_missing() {
        assert!(matches!(
            parse_line("/note F-1 \x1b\x07"),
            Err(ParseError::MissingArgument { arg, .. }) if arg == "text"
        ));
    }

    #[test]
    fn help_argument_must_name_a_command() {
        assert_eq!(
            parse_line("/help /Snooze"),
            Ok(Command::new("help").arg("command", ArgValue::Command("snooze".to_owned())))
        );
        assert_eq!(
            parse_line("/help snoze").unwrap_err().to_string(),
            "Unknown command `/snoze`. Did you mean `/snooze`? Type /help for the list."
        );
    }

    #[test]
    fn renewal_report_takes_a_client_and_bounded_days() {
        let want = Command::new("renewal-report")
            .arg(
                "client",
                ArgValue::Client(ClientSlug::parse("acme").unwrap()),
            )
            .arg("days", ArgValue::Days(30));
        assert_eq!(parse_line("/renewal-report acme 30"), Ok(want));
        assert!(matches!(
            parse_line("/renewal-report acme 999"),
            Err(ParseError::BadArgument { arg, .. }) if arg == "days"
        ));
    }

    #[test]
    fn availability_matches_the_command_mapping() {
        for s in spec::specs() {
            let example = console_syntax(&s.examples[0]);
            let parsed = parse_line(&example);
            assert_eq!(
                is_available(&s.name),
                parsed.is_ok(),
                "{}: {parsed:?}",
                s.name
            );
            if let Ok(c) = parsed {
                assert_eq!(c.name(), s.name);
            }
        }
    }

    #[test]
    fn echoed_words_are_cleaned_and_shortened() {
        assert_eq!(shown("a`b\x1b[2Jc\n"), "ab[2Jc");
        let long = shown(&"x".repeat(100));
        assert_eq!(long.chars().count(), 40);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn random_input_never_panics_and_errors_stay_one_line() {
        let pool: Vec<char> = "/ abcdefghijklmnopqrstuvwxyzF-0123456789\t\n\r\"'`@#<>!:*_~\u{0}\u{7}\u{1b}[2J\u{202E}\u{200B}éß漢字🙂\u{FFFD}\u{85}\u{2028}"
            .chars()
            .collect();
        let prefixes = [
            "",
            "/",
            "/lookout ",
            "/scan ",
            "/snooze ",
            "/snooze F-1 ",
            "/note 3 ",
            "/findings ",
            "/help ",
            "/renewal-report acme ",
            "/resolve f-9 ",
        ];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..4000 {
            let len = rng.random_range(0..60);
            let body: String = (0..len)
                .map(|_| pool[rng.random_range(0..pool.len())])
                .collect();
            let line = format!("{}{body}", prefixes[rng.random_range(0..prefixes.len())]);
            if let Err(e) = parse_line(&line) {
                let msg = e.to_string();
                assert!(!msg.contains('\n'), "{line:?} -> {msg:?}");
                assert!(!msg.chars().any(|c| c.is_control()), "{line:?} -> {msg:?}");
            }
            let _ = parse_parts(&body, &line);
        }
    }
}
