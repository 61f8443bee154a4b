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
    /// Klaviyo plan tier, as the agency names it (e.g. `email-25k`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Active-profile limit of that plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_limit: Option<u64>,
    /// Features the plan includes (e.g. `sms`, `advanced-reporting`, `predictive-analytics`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan_features: Vec<String>,
    /// US SMS sender registration (10DLC or toll-free): `verified`, `pending` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_registration: Option<String>,
    /// Texas text-marketing status when the audience includes Texas (`registered`, `exempt`); unset when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texas_status: Option<String>,
    /// The branded sending domain and its DNS authentication, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_domain: Option<SendingDomain>,
    /// Whether the client sends in bulk (5,000+ a day to Gmail), which makes sender authentication critical.
    #[serde(default)]
    pub bulk_sender: bool,
    /// Minutes between this client's scheduled scans, if not `scan.interval_minutes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_minutes: Option<u32>,
    /// Whether the links in this client's live templates are asked for on
    /// full scans (`content-broken-links`); off unless the agency turns it on,
    /// as the requests go to the client's own sites.
    #[serde(default)]
    pub link_checking: bool,
    /// Minutes between this client's pulses, if not `scan.pulse_minutes`; 0 turns them off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulse_minutes: Option<u32>,
}

/// A branded sending domain and what its DNS records say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendingDomain {
    /// The domain, e.g. `send.acme.com`.
    pub domain: String,
    /// SPF passes for it.
    #[serde(default)]
    pub spf: bool,
    /// DKIM passes for it.
    #[serde(default)]
    pub dkim: bool,
    /// DMARC policy (`none`, `quarantine`, `reject`), when a record exists.
    #[serde(default)]
    pub dmarc: Option<String>,
    /// DMARC is aligned with the From domain.
    #[serde(default)]
    pub aligned: bool,
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
            plan: None,
            profile_limit: None,
            plan_features: Vec::new(),
            sms_registration: None,
            texas_status: None,
            sending_domain: None,
            bulk_sender: false,
            scan_minutes: None,
            link_checking: false,
            pulse_minutes: None,
        }
    }

    /// A threshold: the client's override if set, else `default`.
    pub fn threshold(&self, key: &str, default: f64) -> f64 {
        self.thresholds.get(key).copied().unwrap_or(default)
    }
}
