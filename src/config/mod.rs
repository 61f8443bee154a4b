//! Configuration: defaults, then a TOML file, then `LOOKOUT_*` environment variables.
//!
//! Secrets (Klaviyo keys, chat tokens) are `Secret`s: they can be read from the
//! environment by name (`api_key_env`) so the file itself holds none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::commands::Role;
use crate::domain::ClientSlug;
use crate::message::{ChannelRef, PersonRef, Platform};

mod connections;
mod profile;
mod secret;

pub use connections::{ConnectionsSettings, READ_SCOPES};
pub use profile::{ClientProfile, SendingDomain};
pub use secret::Secret;

/// A configuration problem, worded so the person can fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped fields.
    #[error("config file {path} is invalid: {detail}")]
    Parse {
        /// Which file.
        path: PathBuf,
        /// The parser's message (line and column included).
        detail: String,
    },
    /// A value is out of range or inconsistent.
    #[error("config: {0}")]
    Invalid(String),
}

/// The agency: its name, timezone, shared channel and digest times.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgencyConfig {
    /// Display name.
    pub name: String,
    /// IANA timezone for digests and quiet hours, e.g. `America/New_York`.
    pub timezone: String,
    /// Agency-wide channels, at most one per platform (portfolio events,
    /// `/portfolio`), as `platform:id`; `channel = "slack:C0123"` also works.
    #[serde(alias = "channel", deserialize_with = "one_or_many")]
    pub channels: Vec<ChannelRef>,
    /// Local hour (0-23) of the daily triage digest.
    pub daily_digest_hour: u32,
    /// Weekday of the weekly opportunities digest (`mon` ... `sun`).
    pub weekly_digest_day: String,
    /// Local quiet hours, e.g. `22:00-07:00`: findings still post, but nobody is
    /// mentioned until they end (then one catch-up message per channel).
    pub quiet_hours: Option<String>,
    /// Klaviyo features the agency's standard playbook relies on (e.g. `sms`,
    /// `advanced-reporting`): a client whose plan lacks one is told so.
    pub playbook: Vec<String>,
}

impl Default for AgencyConfig {
    fn default() -> Self {
        Self {
            name: "Your agency".into(),
            timezone: "America/New_York".into(),
            channels: vec![ChannelRef::console("agency")],
            daily_digest_hour: 9,
            weekly_digest_day: "mon".into(),
            quiet_hours: None,
            playbook: Vec::new(),
        }
    }
}

impl AgencyConfig {
    /// The agency channel on a platform.
    pub fn channel_on(&self, platform: Platform) -> Option<&ChannelRef> {
        self.channels.iter().find(|c| c.platform == platform)
    }

    /// Whether `channel` is an agency channel.
    pub fn is_agency_channel(&self, channel: &ChannelRef) -> bool {
        self.channels.contains(channel)
    }

    /// The parsed timezone.
    pub fn tz(&self) -> Result<chrono_tz::Tz, ConfigError> {
        self.timezone.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "agency.timezone `{}` is not an IANA timezone (e.g. America/New_York)",
                self.timezone
            ))
        })
    }

    /// The parsed quiet hours as local (start, end) times; the range may wrap midnight.
    pub fn quiet(&self) -> Result<Option<(chrono::NaiveTime, chrono::NaiveTime)>, ConfigError> {
        let Some(q) = &self.quiet_hours else {
            return Ok(None);
        };
        let bad = || {
            ConfigError::Invalid(format!(
                "agency.quiet_hours `{q}` must look like 22:00-07:00"
            ))
        };
        let (a, b) = q.split_once('-').ok_or_else(bad)?;
        let parse =
            |t: &str| chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| bad());
        let (start, end) = (parse(a)?, parse(b)?);
        if start == end {
            return Err(bad());
        }
        Ok(Some((start, end)))
    }

    /// The parsed weekday of the weekly digest.
    pub fn weekly_day(&self) -> Result<chrono::Weekday, ConfigError> {
        self.weekly_digest_day.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "agency.weekly_digest_day `{}` is not a weekday (mon ... sun)",
                self.weekly_digest_day
            ))
        })
    }
}

/// Klaviyo API settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KlaviyoSettings {
    /// API base URL; the simulator's address in the demo and tests.
    pub base_url: String,
    /// `revision` header.
    pub revision: String,
}

impl Default for KlaviyoSettings {
    fn default() -> Self {
        Self {
            base_url: "https://a.klaviyo.com".into(),
            revision: "2026-07-15".into(),
        }
    }
}

/// Scan scheduling.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanSettings {
    /// Minutes between scheduled scans of each client.
    pub interval_minutes: u32,
    /// Seconds between scans; overrides `interval_minutes` (tests and load runs).
    pub interval_seconds: Option<u32>,
    /// Accounts scanned at once: `"auto"` (bounded by memory and CPU) or a number.
    pub concurrency: ConcurrencySetting,
    /// With `concurrency = "auto"`: new scans start only while the heap stays under this.
    pub memory_mb: u32,
    /// Minutes between pulses (flow status and event freshness) of each client; 0 turns them off.
    pub pulse_minutes: u32,
    /// Seconds between pulses; overrides `pulse_minutes` (tests and load runs).
    pub pulse_seconds: Option<u32>,
    /// Seconds a process holds a client's scan, a channel's deliveries or the
    /// scheduler's jobs without renewing: how soon another process sharing the
    /// database takes over the work of one that died.
    pub lease_seconds: u32,
    /// Where the links of clients with `link_checking` on are asked:
    /// `"internet"` (public addresses only) or `"simulator"` (the built-in
    /// simulator's brand stores, for the demo and tests).
    pub link_sites: LinkSites,
}

/// Where links in templates are asked (`scan.link_sites`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LinkSites {
    /// The open web, public addresses only.
    #[default]
    Internet,
    /// The built-in simulator's brand stores: a link to `https://acme.example.com/shop`
    /// is asked of `{klaviyo.base_url}/__sites/acme.example.com/shop`, and
    /// hosts outside `example.com` (reserved for examples) are not asked.
    Simulator,
}

impl Default for ScanSettings {
    fn default() -> Self {
        Self {
            interval_minutes: 60,
            interval_seconds: None,
            concurrency: ConcurrencySetting::Auto,
            memory_mb: 64,
            pulse_minutes: 5,
            pulse_seconds: None,
            lease_seconds: 15,
            link_sites: LinkSites::Internet,
        }
    }
}

/// `scan.concurrency` as written: `"auto"` or a fixed number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcurrencySetting {
    /// As many as memory and CPU allow (each account's rate limit is its own).
    Auto,
    /// At most this many.
    Fixed(usize),
}

impl<'de> Deserialize<'de> for ConcurrencySetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(usize),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(ConcurrencySetting::Fixed(n)),
            Raw::Text(t) if t.trim().eq_ignore_ascii_case("auto") => Ok(ConcurrencySetting::Auto),
            Raw::Text(t) => t
                .trim()
                .parse()
                .map(ConcurrencySetting::Fixed)
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "scan.concurrency is `{t}`: use \"auto\" or a number of accounts"
                    ))
                }),
        }
    }
}

/// How many scans may run at once, resolved from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Start scans while the heap is under `memory_bytes` and the runtime keeps up.
    Auto {
        /// Heap bytes new scans may grow the process to.
        memory_bytes: usize,
    },
    /// At most this many at once.
    Fixed(usize),
}

impl ScanSettings {
    /// The concurrency the scheduler applies.
    pub fn concurrency(&self) -> Concurrency {
        match self.concurrency {
            ConcurrencySetting::Auto => Concurrency::Auto {
                memory_bytes: self.memory_mb as usize * (1 << 20),
            },
            ConcurrencySetting::Fixed(n) => Concurrency::Fixed(n),
        }
    }

    /// Time between pulses of one client; `None` when pulses are off.
    pub fn pulse_interval(&self) -> Option<chrono::Duration> {
        match self.pulse_seconds {
            Some(0) => None,
            Some(s) => Some(chrono::Duration::seconds(i64::from(s))),
            None if self.pulse_minutes == 0 => None,
            None => Some(chrono::Duration::minutes(i64::from(self.pulse_minutes))),
        }
    }

    /// How long a lease lasts without renewal (at least 3 s: it is renewed every third of it).
    pub fn lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.lease_seconds.max(3)))
    }

    /// Time between scheduled scans of one client.
    pub fn interval(&self) -> chrono::Duration {
        match self.interval_seconds {
            Some(s) => chrono::Duration::seconds(i64::from(s.max(1))),
            None => chrono::Duration::minutes(i64::from(self.interval_minutes)),
        }
    }
}

/// Findings lifecycle settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FindingsSettings {
    /// A finding that clears and comes back within this many hours reopens the
    /// same finding and message (flap damping); later, it is a new finding.
    pub reopen_window_hours: u32,
    /// Longest a snooze "until worse" lasts before it ends anyway.
    pub until_worse_max_days: u32,
}

impl Default for FindingsSettings {
    fn default() -> Self {
        Self {
            reopen_window_hours: 24,
            until_worse_max_days: 7,
        }
    }
}

/// Response targets by severity, for `/sla`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaSettings {
    /// Minutes to acknowledge a critical finding.
    pub critical_ack_minutes: u32,
    /// Hours to resolve a critical finding.
    pub critical_resolve_hours: u32,
    /// Minutes to acknowledge a warning.
    pub warning_ack_minutes: u32,
    /// Hours to resolve a warning.
    pub warning_resolve_hours: u32,
    /// Minutes to acknowledge an opportunity.
    pub opportunity_ack_minutes: u32,
    /// Hours to resolve an opportunity.
    pub opportunity_resolve_hours: u32,
}

impl Default for SlaSettings {
    fn default() -> Self {
        Self {
            critical_ack_minutes: 60,
            critical_resolve_hours: 24,
            warning_ack_minutes: 24 * 60,
            warning_resolve_hours: 7 * 24,
            opportunity_ack_minutes: 7 * 24 * 60,
            opportunity_resolve_hours: 30 * 24,
        }
    }
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, with the current span's fields (`client`, ...).
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(ConfigError::Invalid(format!(
                "log format `{s}` is not supported: use \"text\" or \"json\""
            ))),
        }
    }
}

impl LogFormat {
    /// The format `LOOKOUT_LOG_FORMAT` asks for, if it is set.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        match std::env::var("LOOKOUT_LOG_FORMAT") {
            Ok(v) => v
                .parse()
                .map(Some)
                .map_err(|e| ConfigError::Invalid(format!("LOOKOUT_LOG_FORMAT: {e}"))),
            Err(_) => Ok(None),
        }
    }
}

/// Operations: the log format and the listener for `/metrics`, `/healthz`
/// and `/readyz`.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OpsSettings {
    /// `text` (default) or `json`; `LOOKOUT_LOG_FORMAT` overrides it.
    pub log_format: LogFormat,
    /// Address of the ops listener, e.g. `127.0.0.1:9464`; absent or `""`
    /// (the default) leaves it off. `LOOKOUT_OPS_LISTEN` overrides it. The
    /// endpoints have no authentication: keep it on loopback or a private
    /// interface.
    pub listen: Option<String>,
}

impl OpsSettings {
    /// The ops listener's address; `None` when it is off.
    pub fn listen_addr(&self) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        match self.listen.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(a) => a.parse().map(Some).map_err(|_| {
                ConfigError::Invalid(format!(
                    "ops.listen `{a}` is not an address like 127.0.0.1:9464 (leave it out to turn the ops endpoints off)"
                ))
            }),
        }
    }
}

/// Which chat platforms Lookout serves, and how to reach each.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatSettings {
    /// Platforms served at once: any of `console`, `slack`, `discord`
    /// (`platform = "slack"` also works). The console is always there for
    /// channels of no other platform.
    #[serde(alias = "platform", deserialize_with = "one_or_many")]
    pub platforms: Vec<Platform>,
    /// Slack Web API base URL (a fake one in tests).
    pub slack_api_url: String,
    /// Environment variable holding the Slack bot token (`xoxb-...`).
    pub slack_bot_token_env: String,
    /// How Slack reaches Lookout: `socket` (Socket Mode, no public URL) or `http`.
    pub slack_mode: String,
    /// Environment variable holding the app-level token for Socket Mode (`xapp-...`).
    pub slack_app_token_env: String,
    /// Environment variable holding the signing secret for HTTP mode.
    pub slack_signing_secret_env: String,
    /// Address Lookout's HTTP server (Slack and Discord HTTP modes) listens on.
    pub http_listen: String,
    /// Discord REST base URL (a fake one in tests).
    pub discord_api_url: String,
    /// Environment variable holding the Discord bot token.
    pub discord_bot_token_env: String,
    /// The Discord application id (General Information page of the app).
    pub discord_application_id: Option<u64>,
    /// The application's public key (hex, General Information page), for
    /// HTTP mode; it is not a secret, so it may be written here.
    pub discord_public_key: Option<String>,
    /// Or the environment variable holding it.
    pub discord_public_key_env: String,
    /// How Discord reaches Lookout: `gateway` (default, no public URL) or `http`
    /// (an interactions endpoint on Lookout's HTTP server).
    pub discord_mode: String,
    /// Register commands in this guild (instant); global commands when absent.
    pub discord_guild_id: Option<u64>,
    /// Whether the privileged message-content intent is enabled for the bot,
    /// so plain replies in a finding's thread become notes.
    pub discord_message_content: bool,
    /// Which gateway shards this process runs: `auto` (default: every shard,
    /// as many as Discord recommends) or `FIRST-LAST/TOTAL`, e.g. `0-1/4` in
    /// one process and `2-3/4` in another, to spread a large bot's guilds.
    pub discord_shards: String,
}

/// Which Discord gateway shards a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharding {
    /// All of them, as many as Discord recommends.
    Auto,
    /// Shards `first..=last` of `total`.
    Range {
        /// First shard id run here.
        first: u32,
        /// Last shard id run here (inclusive).
        last: u32,
        /// Shards across all processes.
        total: u32,
    },
}

impl std::str::FromStr for Sharding {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Sharding::Auto);
        }
        let bad = || {
            ConfigError::Invalid(format!(
                "chat.discord_shards is `{s}`: use \"auto\" or FIRST-LAST/TOTAL, e.g. \"0-1/4\""
            ))
        };
        let (range, total) = s.split_once('/').ok_or_else(bad)?;
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (a, b),
            None => (range, range),
        };
        let num = |t: &str| t.trim().parse::<u32>().map_err(|_| bad());
        let (first, last, total) = (num(first)?, num(last)?, num(total)?);
        if total == 0 || first > last || last >= total {
            return Err(ConfigError::Invalid(format!(
                "chat.discord_shards is `{s}`: shards are numbered 0 to TOTAL-1, FIRST no later than LAST"
            )));
        }
        Ok(Sharding::Range { first, last, total })
    }
}

impl ChatSettings {
    /// The gateway shards this process runs.
    pub fn discord_sharding(&self) -> Result<Sharding, ConfigError> {
        self.discord_shards.parse()
    }
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            platforms: vec![Platform::Console],
            slack_api_url: "https://slack.com/api/".into(),
            slack_bot_token_env: "SLACK_BOT_TOKEN".into(),
            slack_mode: "socket".into(),
            slack_app_token_env: "SLACK_APP_TOKEN".into(),
            slack_signing_secret_env: "SLACK_SIGNING_SECRET".into(),
            http_listen: "127.0.0.1:3000".into(),
            discord_api_url: "https://discord.com".into(),
            discord_bot_token_env: "DISCORD_BOT_TOKEN".into(),
            discord_application_id: None,
            discord_public_key: None,
            discord_public_key_env: "DISCORD_PUBLIC_KEY".into(),
            discord_mode: "gateway".into(),
            discord_guild_id: None,
            discord_message_content: false,
            discord_shards: "auto".into(),
        }
    }
}

impl ChatSettings {
    /// Whether a platform is served.
    pub fn serves(&self, platform: Platform) -> bool {
        platform == Platform::Console || self.platforms.contains(&platform)
    }

    /// The Discord bot token from the environment.
    pub fn discord_token(&self) -> Result<Secret, ConfigError> {
        secret_from_env(&self.discord_bot_token_env, "chat.discord_bot_token_env")
    }

    /// The Discord application's public key (hex), from the file or the environment.
    pub fn discord_public_key(&self) -> Result<String, ConfigError> {
        match &self.discord_public_key {
            Some(k) => Ok(k.clone()),
            None => secret_from_env(&self.discord_public_key_env, "chat.discord_public_key_env")
                .map(|s| s.expose().to_owned()),
        }
    }

    /// The Slack bot token from the environment.
    pub fn slack_token(&self) -> Result<Secret, ConfigError> {
        secret_from_env(&self.slack_bot_token_env, "chat.slack_bot_token_env")
    }

    /// The Socket Mode app token from the environment.
    pub fn slack_app_token(&self) -> Result<Secret, ConfigError> {
        secret_from_env(&self.slack_app_token_env, "chat.slack_app_token_env")
    }

    /// The HTTP-mode signing secret from the environment.
    pub fn slack_signing_secret(&self) -> Result<Secret, ConfigError> {
        secret_from_env(
            &self.slack_signing_secret_env,
            "chat.slack_signing_secret_env",
        )
    }
}

fn secret_from_env(var: &str, setting: &str) -> Result<Secret, ConfigError> {
    std::env::var(var).map(Secret::new).map_err(|_| {
        ConfigError::Invalid(format!(
            "{var} ({setting}) is not set; see README \"Connecting Slack\" and \"Connecting Discord\""
        ))
    })
}

/// One client: its profile, where its findings go, and how to reach its account.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Profile (slug, name, currency, jurisdictions, thresholds).
    #[serde(flatten)]
    pub profile: ClientProfile,
    /// Channels for its findings, at most one per platform, as `platform:id`
    /// (`channel = "slack:C0123"` also works); default `console:client-<slug>`.
    #[serde(default, alias = "channel", deserialize_with = "one_or_many")]
    pub channels: Vec<ChannelRef>,
    /// Its account manager on each platform (`slack:U0123`), mentioned on
    /// critical findings in that platform's channel (`owner = ...` also works).
    #[serde(default, alias = "owner", deserialize_with = "one_or_many")]
    pub owners: Vec<PersonRef>,
    /// The pod (team) the client belongs to.
    pub pod: Option<String>,
    /// Private API key, inline (prefer `api_key_env`).
    pub api_key: Option<Secret>,
    /// Name of the environment variable holding the API key.
    pub api_key_env: Option<String>,
}

impl ClientConfig {
    /// Its channels, or the console default.
    pub fn channels_or_default(&self) -> Vec<ChannelRef> {
        if self.channels.is_empty() {
            vec![ChannelRef::console(&format!(
                "client-{}",
                self.profile.slug
            ))]
        } else {
            self.channels.clone()
        }
    }

    /// Its owner on a platform.
    pub fn owner_on(&self, platform: Platform) -> Option<&PersonRef> {
        self.owners.iter().find(|p| p.platform == platform)
    }

    /// The client's API key from the file or the environment.
    pub fn key(&self) -> Result<Secret, ConfigError> {
        if let Some(k) = &self.api_key {
            return Ok(k.clone());
        }
        match &self.api_key_env {
            Some(var) => std::env::var(var).map(Secret::new).map_err(|_| {
                ConfigError::Invalid(format!(
                    "client `{}`: environment variable {var} (api_key_env) is not set",
                    self.profile.slug
                ))
            }),
            None => Err(ConfigError::Invalid(format!(
                "client `{}` has no api_key or api_key_env",
                self.profile.slug
            ))),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the SQLite database (`lookout.db`), the master key and report
    /// files live.
    pub data_dir: PathBuf,
    /// A PostgreSQL database to use instead of the SQLite file
    /// (`postgres://user:password@host/db`), for several processes sharing
    /// the work; `LOOKOUT_DATABASE_URL` overrides it. A secret: it may carry
    /// a password, so it never reaches a log.
    pub database_url: Option<Secret>,
    /// The agency.
    pub agency: AgencyConfig,
    /// Klaviyo.
    pub klaviyo: KlaviyoSettings,
    /// Scheduling.
    pub scan: ScanSettings,
    /// Findings lifecycle.
    pub findings: FindingsSettings,
    /// Response targets.
    pub sla: SlaSettings,
    /// Chat platform.
    pub chat: ChatSettings,
    /// How clients' Klaviyo accounts are connected, and the access review.
    pub connections: ConnectionsSettings,
    /// Logs, metrics and health endpoints.
    pub ops: OpsSettings,
    /// People and their roles, keyed `platform:id` (`"slack:U0ANA" = "am"`):
    /// `viewer`, `am`, `lead` or `admin` (`anyone` still reads as `viewer`).
    /// Anyone not listed is a viewer: they read and change nothing.
    pub people: BTreeMap<PersonRef, Role>,
    /// The clients.
    pub clients: Vec<ClientConfig>,
    /// SHA-256 hashes (hex) of the file this was read from, by top-level
    /// section and `""` for the whole text: start-up records a config change
    /// in the audit trail when they differ from the last run's. Hashes only,
    /// never the content; empty for a config built in code.
    #[serde(skip)]
    pub source_hashes: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            database_url: None,
            agency: AgencyConfig::default(),
            klaviyo: KlaviyoSettings::default(),
            scan: ScanSettings::default(),
            findings: FindingsSettings::default(),
            sla: SlaSettings::default(),
            chat: ChatSettings::default(),
            connections: ConnectionsSettings::default(),
            ops: OpsSettings::default(),
            people: BTreeMap::new(),
            clients: Vec::new(),
            source_hashes: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Parses TOML text (`origin` names it in errors) and validates it.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            detail: e.to_string(),
        })?;
        cfg.validate()?;
        cfg.source_hashes = source_hashes(text);
        Ok(cfg)
    }

    /// Reads a file, then applies `LOOKOUT_DATA_DIR`, `LOOKOUT_KLAVIYO_BASE_URL`,
    /// `LOOKOUT_LOG_FORMAT` and `LOOKOUT_OPS_LISTEN`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut cfg = Self::from_toml(&text, path)?;
        cfg.apply_env(|k| std::env::var(k).ok());
        cfg.apply_ops_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    /// Applies `LOOKOUT_LOG_FORMAT` and `LOOKOUT_OPS_LISTEN` through `get`,
    /// refusing values that do not parse.
    pub fn apply_ops_env(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(f) = get("LOOKOUT_LOG_FORMAT") {
            self.ops.log_format = f
                .parse()
                .map_err(|e| ConfigError::Invalid(format!("LOOKOUT_LOG_FORMAT: {e}")))?;
        }
        if let Some(l) = get("LOOKOUT_OPS_LISTEN") {
            self.ops.listen = Some(l);
            self.ops
                .listen_addr()
                .map_err(|e| ConfigError::Invalid(format!("LOOKOUT_OPS_LISTEN: {e}")))?;
        }
        Ok(())
    }

    /// The database to open: `database_url` when set, else the SQLite file
    /// `data_dir/lookout.db`. Holds the password, if any: open it, do not log it.
    pub fn database(&self) -> Secret {
        match &self.database_url {
            Some(url) => url.clone(),
            None => Secret::new(self.data_dir.join("lookout.db").display().to_string()),
        }
    }

    /// Applies environment overrides through `get` (a seam for tests).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(d) = get("LOOKOUT_DATA_DIR") {
            self.data_dir = PathBuf::from(d);
        }
        if let Some(u) = get("LOOKOUT_DATABASE_URL").filter(|u| !u.trim().is_empty()) {
            self.database_url = Some(Secret::new(u));
        }
        if let Some(u) = get("LOOKOUT_KLAVIYO_BASE_URL") {
            self.klaviyo.base_url = u;
        }
    }

    /// Checks cross-field rules the types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.database_url
            && !["postgres://", "postgresql://"]
                .iter()
                .any(|p| url.expose().starts_with(p))
        {
            return Err(ConfigError::Invalid(
                "database_url must be a postgres:// URL (leave it out to keep the SQLite file in data_dir)".into(),
            ));
        }
        self.agency.tz()?;
        self.agency.weekly_day()?;
        self.agency.quiet()?;
        self.chat.discord_sharding()?;
        if !matches!(self.chat.slack_mode.as_str(), "socket" | "http") {
            return Err(ConfigError::Invalid(format!(
                "chat.slack_mode `{}` is not supported: use socket or http",
                self.chat.slack_mode
            )));
        }
        if !matches!(self.chat.discord_mode.as_str(), "gateway" | "http") {
            return Err(ConfigError::Invalid(format!(
                "chat.discord_mode `{}` is not supported: use gateway or http",
                self.chat.discord_mode
            )));
        }
        if self.chat.serves(Platform::Discord) && self.chat.discord_application_id.is_none() {
            return Err(ConfigError::Invalid(
                "chat.discord_application_id is needed to serve Discord (the Application ID on the app's General Information page)".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.clients {
            if !seen.insert(c.profile.slug.clone()) {
                return Err(ConfigError::Invalid(format!(
                    "client `{}` is listed twice",
                    c.profile.slug
                )));
            }
        }
        self.validate_channels()?;
        self.connections.validate()?;
        if let Some(ops) = self.ops.listen_addr()?
            && ops.port() != 0
            && self.chat.http_listen.trim().parse().ok() == Some(ops)
        {
            return Err(ConfigError::Invalid(format!(
                "ops.listen and chat.http_listen are both {ops}: give the ops endpoints their own port (e.g. 127.0.0.1:9464)"
            )));
        }
        if self.agency.daily_digest_hour > 23 {
            return Err(ConfigError::Invalid(
                "agency.daily_digest_hour must be 0-23".into(),
            ));
        }
        if self.scan.interval_minutes == 0
            || self.scan.concurrency == ConcurrencySetting::Fixed(0)
            || self.scan.memory_mb == 0
        {
            return Err(ConfigError::Invalid(
                "scan.interval_minutes, scan.concurrency and scan.memory_mb must be at least 1"
                    .into(),
            ));
        }
        Ok(())
    }

    /// A channel belongs to at most one client (or the agency), and each
    /// client and the agency have at most one channel and owner per platform.
    fn validate_channels(&self) -> Result<(), ConfigError> {
        let one_per_platform = |what: &str, platforms: Vec<Platform>| -> Result<(), ConfigError> {
            let mut seen = std::collections::HashSet::new();
            for p in platforms {
                if !seen.insert(p) {
                    return Err(ConfigError::Invalid(format!(
                        "{what} has two on {p}: give at most one per platform"
                    )));
                }
            }
            Ok(())
        };
        one_per_platform(
            "agency.channels",
            self.agency.channels.iter().map(|c| c.platform).collect(),
        )?;
        let mut taken: BTreeMap<ChannelRef, String> = self
            .agency
            .channels
            .iter()
            .map(|c| (c.clone(), "the agency".to_owned()))
            .collect();
        for client in &self.clients {
            let who = format!("client `{}`", client.profile.slug);
            let channels = client.channels_or_default();
            one_per_platform(
                &format!("{who} channels"),
                channels.iter().map(|c| c.platform).collect(),
            )?;
            one_per_platform(
                &format!("{who} owners"),
                client.owners.iter().map(|c| c.platform).collect(),
            )?;
            for c in channels {
                if let Some(first) = taken.get(&c) {
                    return Err(ConfigError::Invalid(format!(
                        "channel {c} is given to both {first} and {who}: a channel belongs to one client"
                    )));
                }
                taken.insert(c, who.clone());
            }
        }
        Ok(())
    }

    /// The role of a person.
    pub fn role_of(&self, person: &PersonRef) -> Role {
        self.people.get(person).copied().unwrap_or(Role::Viewer)
    }

    /// A client's configuration.
    pub fn client(&self, slug: &ClientSlug) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| &c.profile.slug == slug)
    }
}

/// SHA-256 of the whole text (under `""`) and of each top-level section as
/// TOML re-writes it, so a change of layout or comments shows as the file
/// only and a change of `[people]` names that section.
fn source_hashes(text: &str) -> BTreeMap<String, String> {
    use sha2::{Digest, Sha256};
    let hash = |s: &str| hex::encode(Sha256::digest(s.as_bytes()));
    let mut out = BTreeMap::from([(String::new(), hash(text))]);
    // The text has just parsed as a `Config`, so it parses as a table too.
    if let Ok(table) = toml::from_str::<toml::Table>(text) {
        for (section, value) in table {
            out.insert(section, hash(&value.to_string()));
        }
    }
    out
}

/// Accepts one value or a list of them (`channel = "slack:C1"` or
/// `channels = [...]`), each parsed with its own clear error.
fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let items = match OneOrMany::deserialize(d).map_err(|_| {
        serde::de::Error::custom("expected a text value or a list of them, e.g. \"slack:C0123ABC\"")
    })? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    };
    items
        .iter()
        .map(|s| s.parse().map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discord_shards_are_auto_or_a_range_of_a_total() {
        assert_eq!("auto".parse::<Sharding>().unwrap(), Sharding::Auto);
        assert_eq!(
            " 2-3/4 ".parse::<Sharding>().unwrap(),
            Sharding::Range {
                first: 2,
                last: 3,
                total: 4
            }
        );
        assert_eq!(
            "1/2".parse::<Sharding>().unwrap(),
            Sharding::Range {
                first: 1,
                last: 1,
                total: 2
            }
        );
        for bad in ["", "4", "3-2/4", "0-4/4", "0-1/0", "a-b/c", "0-1/4/8"] {
            let e = bad.parse::<Sharding>().unwrap_err().to_string();
            assert!(e.contains("chat.discord_shards"), "{bad}: {e}");
        }
        let mut c = Config::default();
        assert!(c.validate().is_ok());
        c.chat.discord_shards = "5/4".into();
        assert!(c.validate().is_err());
    }

    const SAMPLE: &str = r#"
data_dir = "/var/lib/lookout"
[agency]
name = "Northwind"
timezone = "Europe/London"
daily_digest_hour = 8
[people]
"slack:U0ANA" = "am"
"slack:U0LEE" = "lead"
[[clients]]
slug = "acme"
name = "Acme Outdoor"
channel = "slack:C0ACME"
owner = "slack:U0ANA"
api_key_env = "ACME_KEY"
jurisdictions = ["US", "EU"]
thresholds = { "deliv-bounce-rate.warning" = 0.5 }
"#;

    #[test]
    fn parses_a_full_file() {
        let c = Config::from_toml(SAMPLE, Path::new("x.toml")).unwrap();
        assert_eq!(c.agency.tz().unwrap(), chrono_tz::Europe::London);
        assert_eq!(
            c.role_of(&PersonRef::parse("slack:U0LEE").unwrap()),
            Role::Lead
        );
        assert_eq!(
            c.role_of(&PersonRef::parse("slack:U0STRANGER").unwrap()),
            Role::Viewer
        );
        assert_eq!(c.source_hashes.len(), 5, "{:?}", c.source_hashes);
        assert_eq!(c.source_hashes[""].len(), 64);
        let acme = &c.clients[0];
        assert_eq!(acme.profile.currency, "USD");
        assert_eq!(
            acme.profile.threshold("deliv-bounce-rate.warning", 0.8),
            0.5
        );
        assert_eq!(
            acme.profile.threshold("deliv-spam-rate.warning", 0.08),
            0.08
        );
        let err = acme.key().unwrap_err().to_string();
        assert!(err.contains("ACME_KEY"), "{err}");
    }

    #[test]
    fn roles_read_viewer_and_the_old_anyone() {
        let text = "[people]\n\"slack:U01\" = \"viewer\"\n\"slack:U02\" = \"anyone\"\n\"slack:U03\" = \"admin\"\n";
        let c = Config::from_toml(text, Path::new("x")).unwrap();
        let role = |id: &str| c.role_of(&PersonRef::parse(id).unwrap());
        assert_eq!(role("slack:U01"), Role::Viewer);
        assert_eq!(role("slack:U02"), Role::Viewer);
        assert_eq!(role("slack:U03"), Role::Admin);
        assert!(
            Config::from_toml("[people]\n\"slack:U01\" = \"owner\"\n", Path::new("x")).is_err()
        );
        // Layout alone changes the file's hash, not a section's.
        let spaced = Config::from_toml(&format!("# roles\n{text}"), Path::new("x")).unwrap();
        assert_ne!(spaced.source_hashes[""], c.source_hashes[""]);
        assert_eq!(spaced.source_hashes["people"], c.source_hashes["people"]);
    }

    #[test]
    fn bad_files_get_clear_errors() {
        let e = Config::from_toml("[agency]\ntimezone = \"Mars/Base\"", Path::new("x.toml"))
            .unwrap_err();
        assert!(e.to_string().contains("Mars/Base"), "{e}");
        let e = Config::from_toml("colour = 1", Path::new("x.toml")).unwrap_err();
        assert!(
            e.to_string().contains("x.toml") && e.to_string().contains("colour"),
            "{e}"
        );
        let dup = "[[clients]]\nslug='a'\nname='A'\n[[clients]]\nslug='a'\nname='B'";
        assert!(
            Config::from_toml(dup, Path::new("x"))
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let bad_slug = "[[clients]]\nslug='A B'\nname='A'";
        assert!(Config::from_toml(bad_slug, Path::new("x")).is_err());
    }

    #[test]
    fn a_channel_belongs_to_one_client_and_one_per_platform() {
        let two = "[[clients]]\nslug='a'\nname='A'\nchannel='slack:C01'\n[[clients]]\nslug='b'\nname='B'\nchannel='slack:C01'";
        let e = Config::from_toml(two, Path::new("x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("slack:C01") && e.contains("one client"), "{e}");
        let agency =
            "[agency]\nchannel='discord:5'\n[[clients]]\nslug='a'\nname='A'\nchannel='discord:5'";
        let e = Config::from_toml(agency, Path::new("x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("the agency"), "{e}");
        let twice = "[[clients]]\nslug='a'\nname='A'\nchannels=['slack:C01','slack:C02']";
        let e = Config::from_toml(twice, Path::new("x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("one per platform"), "{e}");
        let bare = "[[clients]]\nslug='a'\nname='A'\nchannel='client-a'";
        let e = Config::from_toml(bare, Path::new("x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("platform:id"), "{e}");
        let both = "[[clients]]\nslug='a'\nname='A'\nchannels=['slack:C01','discord:7']\nowners=['slack:U01','discord:8']";
        let c = Config::from_toml(both, Path::new("x")).unwrap();
        assert_eq!(c.clients[0].channels.len(), 2);
        assert_eq!(
            c.clients[0].owner_on(Platform::Discord),
            Some(&PersonRef::parse("discord:8").unwrap())
        );
    }

    #[test]
    fn ops_settings_default_off_and_parse_with_clear_errors() {
        let c = Config::default();
        assert_eq!(c.ops.log_format, LogFormat::Text);
        assert_eq!(c.ops.listen_addr().unwrap(), None);
        let text = "[ops]\nlog_format = \"json\"\nlisten = \"127.0.0.1:9464\"\n";
        let c = Config::from_toml(text, Path::new("x")).unwrap();
        assert_eq!(c.ops.log_format, LogFormat::Json);
        assert_eq!(
            c.ops.listen_addr().unwrap(),
            Some("127.0.0.1:9464".parse().unwrap())
        );
        let e = Config::from_toml("[ops]\nlisten = \"localhost\"\n", Path::new("x"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ops.listen") && e.contains("127.0.0.1:9464"),
            "{e}"
        );
        let e = Config::from_toml("[ops]\nlog_format = \"xml\"\n", Path::new("x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("xml"), "{e}");
        let same = "[chat]\nhttp_listen = \"127.0.0.1:9464\"\n[ops]\nlisten = \"127.0.0.1:9464\"\n";
        let e = Config::from_toml(same, Path::new("x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("own port"), "{e}");
        let mut c = Config::default();
        c.apply_ops_env(|k| match k {
            "LOOKOUT_LOG_FORMAT" => Some("JSON".into()),
            "LOOKOUT_OPS_LISTEN" => Some("127.0.0.1:0".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.ops.log_format, LogFormat::Json);
        assert!(c.ops.listen_addr().unwrap().is_some());
        let e = c
            .apply_ops_env(|k| (k == "LOOKOUT_LOG_FORMAT").then(|| "yaml".into()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("LOOKOUT_LOG_FORMAT") && e.contains("yaml"),
            "{e}"
        );
    }

    #[test]
    fn environment_overrides_file() {
        let mut c = Config::default();
        c.apply_env(|k| {
            (k == "LOOKOUT_KLAVIYO_BASE_URL").then(|| "http://127.0.0.1:9".to_string())
        });
        assert_eq!(c.klaviyo.base_url, "http://127.0.0.1:9");
        assert_eq!(c.data_dir, PathBuf::from("data"));
    }

    #[test]
    fn the_database_is_the_sqlite_file_unless_a_postgres_url_is_given() {
        let mut c = Config::default();
        assert_eq!(c.database().expose(), "data/lookout.db");
        let url = "postgres://lookout:s3cret@db.internal/lookout";
        c.apply_env(|k| (k == "LOOKOUT_DATABASE_URL").then(|| url.to_string()));
        assert_eq!(c.database().expose(), url);
        assert!(c.validate().is_ok());
        // The password never shows in the config's debug output.
        assert!(!format!("{c:?}").contains("s3cret"));
        c.database_url = Some(Secret::new("mysql://x@y/z"));
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("postgres://"), "{err}");
        let file: Config = toml::from_str("database_url = \"postgresql://a@b/c\"").unwrap();
        assert_eq!(file.database().expose(), "postgresql://a@b/c");
    }
}
