//! What Lookout knows about a client beyond its Klaviyo account.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::ClientSlug;

/// A client's profile: who they are, where they sell, and per-client thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientProfile {
    /// Short name used in commands and channel names.
    pub slug: ClientSlug,
    /// Display name.
    pub name: String,
    /// ISO 4217 currency the agency reports in for this client.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// IANA timezone the client works in.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Whether the client sells online (makes a missing abandoned-checkout flow critical).
    #[serde(default = "default_true")]
    pub sells_online: bool,
    /// Jurisdictions the client's audience is in, e.g. `US`, `EU`, `UK`, `CA`, `US-TX`.
    #[serde(default)]
    pub jurisdictions: Vec<String>,
    /// Whether SMS is enabled for this client.
    #[serde(default)]
    pub sms_enabled: bool,
    /// Per-client threshold overrides, keyed `check-id.name` (e.g. `deliv-bounce-rate.warning`).
    #[serde(default)]
    pub thresholds: BTreeMap<String, f64>,
    /// Minutes between this client's scheduled scans, if not `scan.interval_minutes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_minutes: Option<u32>,
    /// Minutes between this client's pulses, if not `scan.pulse_minutes`; 0 turns them off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulse_minutes: Option<u32>,
}

fn default_currency() -> String {
    "USD".into()
}
fn default_timezone() -> String {
    "America/New_York".into()
}
fn default_true() -> bool {
    true
}

impl ClientProfile {
    /// A profile with defaults for everything but the slug and name.
    pub fn new(slug: ClientSlug, name: impl Into<String>) -> Self {
        Self {
            slug,
            name: name.into(),
            currency: default_currency(),
            timezone: default_timezone(),
            sells_online: true,
            jurisdictions: vec!["US".into()],
            sms_enabled: false,
            thresholds: BTreeMap::new(),
            scan_minutes: None,
            pulse_minutes: None,
        }
    }

    /// A threshold: the client's override if set, else `default`.
    pub fn threshold(&self, key: &str, default: f64) -> f64 {
        self.thresholds.get(key).copied().unwrap_or(default)
    }
}
