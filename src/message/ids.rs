//! Who and where, on which platform: channels and people are a platform plus
//! the platform's own id, never a display name.
//!
//! Written as `platform:id` (`slack:C0123ABC`, `discord:112233445566778899`,
//! `console:client-acme`) in config files, the database and command text, so one
//! process can serve several platforms and a rename on the platform changes nothing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A chat platform Lookout can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// The terminal (demo, `lookout scan`); ids are plain names.
    Console,
    /// Slack: channel ids `C…`/`G…`/`D…`, user ids `U…`/`W…`.
    Slack,
    /// Discord: snowflakes (decimal numbers).
    Discord,
}

impl Platform {
    /// Every platform, in a stable order.
    pub const ALL: [Platform; 3] = [Platform::Console, Platform::Slack, Platform::Discord];

    /// The lowercase name used in `platform:id` and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Console => "console",
            Platform::Slack => "slack",
            Platform::Discord => "discord",
        }
    }

    /// Parses a platform name (`slack`, `discord`, `console`).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "console" => Ok(Platform::Console),
            "slack" => Ok(Platform::Slack),
            "discord" => Ok(Platform::Discord),
            _ => Err(IdError::UnknownPlatform(shorten(s))),
        }
    }

    fn valid_channel_id(self, id: &str) -> bool {
        match self {
            Platform::Console => valid_console(id),
            // C public, G private/mpim, D direct message.
            Platform::Slack => {
                id.len() >= 2
                    && id.len() <= 24
                    && id.starts_with(['C', 'G', 'D'])
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            }
            Platform::Discord => valid_snowflake(id),
        }
    }

    fn valid_person_id(self, id: &str) -> bool {
        match self {
            Platform::Console => valid_console(id),
            Platform::Slack => {
                id.len() >= 2
                    && id.len() <= 24
                    && id.starts_with(['U', 'W', 'B'])
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            }
            Platform::Discord => valid_snowflake(id),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Platform {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn valid_console(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 80
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn valid_snowflake(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()) && id != "0"
}

/// Why text could not become a channel or person reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not `platform:id`.
    #[error(
        "`{0}` is not a chat reference: write platform:id, e.g. slack:C0123ABC, discord:112233445566778899 or console:client-acme"
    )]
    Shape(String),
    /// The platform is not one Lookout knows.
    #[error("`{0}` is not a chat platform: use slack, discord or console")]
    UnknownPlatform(String),
    /// The id does not look like a channel id on that platform.
    #[error("`{id}` is not a {platform} channel id ({hint})")]
    BadChannel {
        /// The platform.
        platform: Platform,
        /// What was given (shortened).
        id: String,
        /// What ids look like there.
        hint: &'static str,
    },
    /// The id does not look like a user id on that platform.
    #[error("`{id}` is not a {platform} user id ({hint})")]
    BadPerson {
        /// The platform.
        platform: Platform,
        /// What was given (shortened).
        id: String,
        /// What ids look like there.
        hint: &'static str,
    },
}

fn shorten(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

fn channel_hint(p: Platform) -> &'static str {
    match p {
        Platform::Console => "letters, digits, - and _",
        Platform::Slack => "like C0123ABC",
        Platform::Discord => "a number like 112233445566778899",
    }
}

fn person_hint(p: Platform) -> &'static str {
    match p {
        Platform::Console => "letters, digits, - and _",
        Platform::Slack => "like U0123ABC",
        Platform::Discord => "a number like 112233445566778899",
    }
}

fn split(s: &str) -> Result<(Platform, &str), IdError> {
    let (p, id) = s
        .trim()
        .split_once(':')
        .ok_or_else(|| IdError::Shape(shorten(s)))?;
    Ok((Platform::parse(p)?, id))
}

/// A channel: platform plus the platform's channel id (a name on the console).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChannelRef {
    /// Which platform.
    pub platform: Platform,
    /// The platform's id for the channel.
    pub id: String,
}

impl ChannelRef {
    /// A validated channel reference.
    pub fn new(platform: Platform, id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        if platform.valid_channel_id(&id) {
            Ok(Self { platform, id })
        } else {
            Err(IdError::BadChannel {
                platform,
                id: shorten(&id),
                hint: channel_hint(platform),
            })
        }
    }

    /// Parses `platform:id`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let (p, id) = split(s)?;
        Self::new(p, id)
    }

    /// A console channel by name; names that are not valid ids are cleaned.
    pub fn console(name: &str) -> Self {
        let mut id: String = name
            .trim_start_matches('#')
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .take(80)
            .collect();
        if id.is_empty() {
            id.push_str("general");
        }
        Self {
            platform: Platform::Console,
            id,
        }
    }
}

impl fmt::Display for ChannelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform, self.id)
    }
}

impl FromStr for ChannelRef {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ChannelRef {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ChannelRef> for String {
    fn from(c: ChannelRef) -> Self {
        c.to_string()
    }
}

/// A person: platform plus the platform's user id (a name on the console).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonRef {
    /// Which platform.
    pub platform: Platform,
    /// The platform's id for the person.
    pub id: String,
}

impl PersonRef {
    /// A validated person reference.
    pub fn new(platform: Platform, id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        if platform.valid_person_id(&id) {
            Ok(Self { platform, id })
        } else {
            Err(IdError::BadPerson {
                platform,
                id: shorten(&id),
                hint: person_hint(platform),
            })
        }
    }

    /// Parses `platform:id`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let (p, id) = split(s)?;
        Self::new(p, id)
    }

    /// A console person by name (the demo's `you`, `ana`).
    pub fn console(name: &str) -> Self {
        let ch = ChannelRef::console(name);
        Self {
            platform: Platform::Console,
            id: ch.id,
        }
    }

    /// Lookout itself, for changes nobody typed (scans, the scheduler).
    pub fn system(name: &str) -> Self {
        Self::console(name)
    }
}

impl fmt::Display for PersonRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform, self.id)
    }
}

impl FromStr for PersonRef {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for PersonRef {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PersonRef> for String {
    fn from(p: PersonRef) -> Self {
        p.to_string()
    }
}

/// How a recorded actor is shown to people: the platform id of a person
/// (`U0ANA` for `slack:U0ANA`), anything else (`lookout`) as stored.
pub fn person_label(stored: &str) -> String {
    PersonRef::parse(stored)
        .map(|p| p.id)
        .unwrap_or_else(|_| stored.to_owned())
}

/// The platform's id of a posted message (Slack `ts`, Discord message id, console counter).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MessageRef(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_round_trip_and_refuse_bad_ids() {
        let c = ChannelRef::parse("slack:C0123ABC").unwrap();
        assert_eq!(c.platform, Platform::Slack);
        assert_eq!(c.to_string(), "slack:C0123ABC");
        assert_eq!(
            ChannelRef::parse("discord:112233445566778899").unwrap().id,
            "112233445566778899"
        );
        assert_eq!(
            ChannelRef::parse(" console:client-acme ").unwrap().id,
            "client-acme"
        );
        for bad in [
            "client-acme",
            "slack:client-acme",
            "slack:U0123",
            "discord:abc",
            "discord:",
            "teams:C1",
            "discord:123456789012345678901",
            "console:a b",
        ] {
            assert!(ChannelRef::parse(bad).is_err(), "{bad}");
        }
        let p = PersonRef::parse("slack:U0ANA").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"slack:U0ANA\"");
        let back: PersonRef = serde_json::from_str("\"discord:42\"").unwrap();
        assert_eq!(back, PersonRef::new(Platform::Discord, "42").unwrap());
        assert!(PersonRef::parse("slack:C0123").is_err());
        assert!(serde_json::from_str::<PersonRef>("\"ana\"").is_err());
        let e = ChannelRef::parse(&"x".repeat(500)).unwrap_err().to_string();
        assert!(e.len() < 300, "{e}");
    }

    #[test]
    fn console_names_are_cleaned() {
        assert_eq!(ChannelRef::console("#client-acme").id, "client-acme");
        assert_eq!(ChannelRef::console("<script>").id, "script");
        assert_eq!(ChannelRef::console("").id, "general");
        assert_eq!(PersonRef::console("ana").to_string(), "console:ana");
    }
}
