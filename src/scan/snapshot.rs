//! A snapshot: typed facts about one Klaviyo account at one time.
//!
//! Every part is optional: a fetch that failed leaves its part `None` and a
//! line in `gaps`, so a check can tell "nothing wrong" from "could not look".

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ClientSlug;

/// The parts of a snapshot a check can depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// `GET /api/accounts`.
    Account,
    /// `GET /api/flows` plus trigger lookups.
    Flows,
    /// `GET /api/campaigns` (email and SMS).
    Campaigns,
    /// `GET /api/lists`.
    Lists,
    /// `GET /api/metrics`.
    Metrics,
    /// Metric aggregates and last-event times for the well-known metrics.
    Activity,
}

/// Metrics Lookout reads by name, as Klaviyo names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KnownMetric {
    /// "Placed Order" (ecommerce integration).
    PlacedOrder,
    /// "Started Checkout".
    StartedCheckout,
    /// "Viewed Product".
    ViewedProduct,
    /// "Active on Site".
    ActiveOnSite,
    /// "Received Email".
    ReceivedEmail,
    /// "Bounced Email".
    BouncedEmail,
    /// "Marked Email as Spam".
    MarkedEmailAsSpam,
    /// "Unsubscribed".
    Unsubscribed,
    /// "Subscribed to List".
    SubscribedToList,
}

impl KnownMetric {
    /// Every known metric, in a stable order.
    pub const ALL: [KnownMetric; 9] = [
        KnownMetric::PlacedOrder,
        KnownMetric::StartedCheckout,
        KnownMetric::ViewedProduct,
        KnownMetric::ActiveOnSite,
        KnownMetric::ReceivedEmail,
        KnownMetric::BouncedEmail,
        KnownMetric::MarkedEmailAsSpam,
        KnownMetric::Unsubscribed,
        KnownMetric::SubscribedToList,
    ];

    /// The metric's name in Klaviyo.
    pub fn klaviyo_name(self) -> &'static str {
        match self {
            KnownMetric::PlacedOrder => "Placed Order",
            KnownMetric::StartedCheckout => "Started Checkout",
            KnownMetric::ViewedProduct => "Viewed Product",
            KnownMetric::ActiveOnSite => "Active on Site",
            KnownMetric::ReceivedEmail => "Received Email",
            KnownMetric::BouncedEmail => "Bounced Email",
            KnownMetric::MarkedEmailAsSpam => "Marked Email as Spam",
            KnownMetric::Unsubscribed => "Unsubscribed",
            KnownMetric::SubscribedToList => "Subscribed to List",
        }
    }

    /// The known metric with this Klaviyo name, if any.
    pub fn from_klaviyo_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.klaviyo_name() == name)
    }
}

/// Account settings (`GET /api/accounts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Klaviyo account id.
    pub id: String,
    /// `contact_information.organization_name`.
    pub organization_name: String,
    /// `contact_information.street_address` joined into one line; empty when unset.
    pub sender_address: String,
    /// `industry`.
    pub industry: Option<String>,
    /// IANA timezone, e.g. `America/New_York`.
    pub timezone: String,
    /// ISO 4217 currency, e.g. `USD`.
    pub preferred_currency: String,
}

/// A flow's status as Klaviyo reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowStatus {
    /// Not sending.
    Draft,
    /// Queues messages for manual review instead of sending.
    Manual,
    /// Sending.
    Live,
}

/// A flow (`GET /api/flows`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// Flow id.
    pub id: String,
    /// Flow name (client-provided text: escape before it reaches chat).
    pub name: String,
    /// Status.
    pub status: FlowStatus,
    /// Archived flows never send.
    pub archived: bool,
    /// `trigger_type`: `Added to List`, `Date Based`, `Low Inventory`, `Metric`, `Price Drop`, `Unconfigured`.
    pub trigger_type: String,
    /// For metric-triggered flows whose trigger is a known metric: that metric.
    pub trigger_metric: Option<KnownMetric>,
    /// For list-triggered flows: the list id, when known.
    pub trigger_list_id: Option<String>,
    /// Created time.
    pub created: DateTime<Utc>,
    /// Last update (a status change updates it).
    pub updated: DateTime<Utc>,
}

impl Flow {
    /// Live and not archived: the flow sends.
    pub fn is_sending(&self) -> bool {
        self.status == FlowStatus::Live && !self.archived
    }
}

/// A campaign (`GET /api/campaigns`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// Campaign id.
    pub id: String,
    /// Name (client-provided text).
    pub name: String,
    /// `email`, `sms` or `mobile_push`.
    pub channel: String,
    /// Klaviyo status, e.g. `Draft`, `Scheduled`, `Sending`, `Sent`, `Cancelled`.
    pub status: String,
    /// Archived.
    pub archived: bool,
    /// Included audience ids (lists or segments).
    pub included_audiences: Vec<String>,
    /// When it was or will be sent.
    pub send_time: Option<DateTime<Utc>>,
    /// When it was scheduled.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

/// A list (`GET /api/lists`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct List {
    /// List id.
    pub id: String,
    /// Name (client-provided text).
    pub name: String,
    /// `double_opt_in` or `single_opt_in`.
    pub opt_in_process: Option<String>,
    /// Created.
    pub created: DateTime<Utc>,
    /// Updated.
    pub updated: DateTime<Utc>,
    /// Profile count, when fetched.
    pub profile_count: Option<u64>,
}

/// A metric (`GET /api/metrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Metric id.
    pub id: String,
    /// Name, e.g. `Placed Order`.
    pub name: String,
    /// Integration name, e.g. `Shopify`, when the metric comes from one.
    pub integration: Option<String>,
}

/// Hourly activity of one metric over the lookback window (metric aggregates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// Metric id.
    pub metric_id: String,
    /// Start of bucket 0 (an hour boundary).
    pub start: DateTime<Utc>,
    /// Event count per hour, oldest first.
    pub counts: Vec<f64>,
    /// Sum of `$value` per hour, oldest first (0 where the metric has no value).
    pub values: Vec<f64>,
    /// Time of the newest event, if any was found.
    pub last_event_at: Option<DateTime<Utc>>,
}

impl Activity {
    /// Bucket width.
    pub const BUCKET: Duration = Duration::hours(1);

    /// End of the last bucket.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + Self::BUCKET * self.counts.len() as i32
    }

    /// Total count over the buckets that start at or after `since`.
    pub fn count_since(&self, since: DateTime<Utc>) -> f64 {
        self.buckets_since(since).map(|(c, _)| c).sum()
    }

    /// Total `$value` over the buckets that start at or after `since`.
    pub fn value_since(&self, since: DateTime<Utc>) -> f64 {
        self.buckets_since(since).map(|(_, v)| v).sum()
    }

    /// Total count over buckets starting in `[from, to)`.
    pub fn count_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        self.iter()
            .filter(|(t, _, _)| *t >= from && *t < to)
            .map(|(_, c, _)| c)
            .sum()
    }

    /// Iterates `(bucket start, count, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (DateTime<Utc>, f64, f64)> + '_ {
        self.counts
            .iter()
            .zip(self.values.iter().chain(std::iter::repeat(&0.0)))
            .enumerate()
            .map(|(i, (c, v))| (self.start + Self::BUCKET * i as i32, *c, *v))
    }

    fn buckets_since(&self, since: DateTime<Utc>) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.iter()
            .filter(move |(t, _, _)| *t >= since)
            .map(|(_, c, v)| (c, v))
    }
}

/// One thing the scan could not fetch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// Which part is missing or partial.
    pub part: Part,
    /// Why, in words a person can act on (never contains a secret).
    pub reason: String,
}

/// Typed facts about one account at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Which client.
    pub client: ClientSlug,
    /// When the scan ran (simulated or real).
    pub taken_at: DateTime<Utc>,
    /// Account settings.
    pub account: Option<Account>,
    /// All flows, archived included.
    pub flows: Option<Vec<Flow>>,
    /// Email and SMS campaigns.
    pub campaigns: Option<Vec<Campaign>>,
    /// Lists.
    pub lists: Option<Vec<List>>,
    /// Metrics.
    pub metrics: Option<Vec<Metric>>,
    /// Hourly activity per known metric that exists in the account. `None` when
    /// the aggregates could not be fetched; a metric absent from the map does not
    /// exist in the account.
    pub activity: Option<BTreeMap<KnownMetric, Activity>>,
    /// What could not be fetched.
    pub gaps: Vec<Gap>,
}

impl Snapshot {
    /// An empty snapshot (nothing fetched yet).
    pub fn empty(client: ClientSlug, taken_at: DateTime<Utc>) -> Self {
        Self {
            client,
            taken_at,
            account: None,
            flows: None,
            campaigns: None,
            lists: None,
            metrics: None,
            activity: None,
            gaps: Vec::new(),
        }
    }

    /// Whether a part was fetched.
    pub fn has(&self, part: Part) -> bool {
        match part {
            Part::Account => self.account.is_some(),
            Part::Flows => self.flows.is_some(),
            Part::Campaigns => self.campaigns.is_some(),
            Part::Lists => self.lists.is_some(),
            Part::Metrics => self.metrics.is_some(),
            Part::Activity => self.activity.is_some(),
        }
    }

    /// Activity of one known metric, if fetched and present.
    pub fn activity_of(&self, m: KnownMetric) -> Option<&Activity> {
        self.activity.as_ref().and_then(|a| a.get(&m))
    }
}
