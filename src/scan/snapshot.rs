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
    /// Each flow's steps and their messages (`GET /api/flows?include=flow-actions`).
    FlowSteps,
    /// Email templates with their HTML (`GET /api/templates`).
    Templates,
    /// Segments with profile counts (`GET /api/segments`).
    Segments,
    /// Signup forms (`GET /api/forms`).
    Forms,
    /// Submissions per form (`POST /api/form-values-reports`).
    FormReport,
    /// Catalog freshness (`GET /api/catalog-items`).
    Catalog,
    /// Per-campaign statistics of recent sends (`POST /api/campaign-values-reports`).
    CampaignReport,
    /// Daily statistics per flow (`POST /api/flow-series-reports`).
    FlowSeries,
    /// A sample of recent profiles with their consent (`GET /api/profiles`).
    Profiles,
    /// Marketing texts per recipient over the last 24 hours (`GET /api/events`).
    SmsRecipients,
    /// Whether recent Placed Order events carry a `$value` (`GET /api/events`).
    OrderValues,
    /// Lookout's own record of this client's grant (not read from Klaviyo).
    Grant,
    /// What the links in live templates answer (asked of the web, not of
    /// Klaviyo, and only for clients with link checking on).
    Links,
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

/// What a flow step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// Sends an email.
    Email,
    /// Sends a text message.
    Sms,
    /// Waits.
    Delay,
    /// Branches on a condition.
    Split,
    /// Anything else (webhooks, profile updates, push).
    Other,
}

/// The message a send step sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMessage {
    /// Flow-message id.
    pub id: String,
    /// Message name (client text).
    pub name: String,
    /// Email subject line (client text).
    pub subject: Option<String>,
    /// SMS body (client text).
    pub body: Option<String>,
    /// Template the email uses.
    pub template_id: Option<String>,
    /// Whether smart sending is on (skips profiles mailed recently).
    pub smart_sending: bool,
    /// Whether the message is marked transactional.
    pub transactional: bool,
    /// For SMS: whether quiet hours are honoured; `None` for email.
    pub sms_quiet_hours: Option<bool>,
    /// When the message was last edited.
    pub updated: DateTime<Utc>,
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowStep {
    /// Flow-action id.
    pub id: String,
    /// The flow it belongs to.
    pub flow_id: String,
    /// Position in the flow, from 0.
    pub position: usize,
    /// What it does.
    pub kind: StepKind,
    /// A send step's own status (`draft`, `manual`, `live`); `None` for other kinds.
    pub status: Option<String>,
    /// A delay step's wait in hours.
    pub delay_hours: Option<f64>,
    /// A send step's message.
    pub message: Option<StepMessage>,
    /// When the step was last edited.
    pub updated: DateTime<Utc>,
}

impl FlowStep {
    /// Whether the step itself is live (a step without a status of its own
    /// follows its flow).
    pub fn is_live(&self) -> bool {
        self.status
            .as_deref()
            .is_none_or(|s| s.trim().eq_ignore_ascii_case("live"))
    }
}

/// An email template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Template id.
    pub id: String,
    /// Name (client text).
    pub name: String,
    /// The HTML (client text; never posted to chat as is).
    pub html: String,
    /// When it was last edited.
    pub updated: DateTime<Utc>,
}

/// What one link in live templates answered when Lookout asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkStatus {
    /// The link as the template has it (client text).
    pub url: String,
    /// The live templates it appears in.
    pub templates: Vec<String>,
    /// What asking gave.
    pub outcome: LinkOutcome,
}

/// What asking for a link gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum LinkOutcome {
    /// The page answered (2xx, or a redirect Lookout did not follow).
    Fine {
        /// HTTP status.
        status: u16,
    },
    /// The page answered with an error a reader would see (404, 410, 5xx...).
    Broken {
        /// HTTP status.
        status: u16,
    },
    /// No verdict: a timeout, a refused connection, a site that refuses
    /// robots (401, 403, 429), or an address Lookout will not ask.
    Unknown {
        /// Why, for the scan's "could not check" note.
        reason: String,
    },
}

/// A segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Segment id.
    pub id: String,
    /// Name (client text).
    pub name: String,
    /// Profiles in it, when Klaviyo gave the count.
    pub profile_count: Option<u64>,
    /// Created.
    pub created: DateTime<Utc>,
    /// Last edited.
    pub updated: DateTime<Utc>,
}

/// A signup form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Form {
    /// Form id.
    pub id: String,
    /// Name (client text).
    pub name: String,
    /// `live` or `draft`.
    pub status: String,
    /// Last edited.
    pub updated: DateTime<Utc>,
}

/// Submissions of one form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormStats {
    /// Form id.
    pub form_id: String,
    /// Submissions in the last 48 hours.
    pub submits_48h: f64,
    /// Submissions in the 30 days before that window (the baseline).
    pub submits_30d: f64,
}

/// Catalog freshness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Items read.
    pub items: u64,
    /// The newest `updated` among them.
    pub newest_update: Option<DateTime<Utc>>,
}

/// Statistics of one sent campaign, as the campaign values report gives them
/// (rates are fractions: 0.008 is 0.8%).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignStats {
    /// Campaign id.
    pub campaign_id: String,
    /// Recipients.
    pub recipients: f64,
    /// Delivered.
    pub delivered: f64,
    /// Bounce rate.
    pub bounce_rate: f64,
    /// Spam complaint rate.
    pub spam_complaint_rate: f64,
    /// Unsubscribe rate.
    pub unsubscribe_rate: f64,
    /// Unique open rate.
    pub open_rate: f64,
    /// Unique click rate.
    pub click_rate: f64,
    /// Attributed revenue.
    pub conversion_value: f64,
    /// Attributed orders.
    pub conversions: f64,
}

/// Daily statistics of one flow, oldest day first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowSeries {
    /// Flow id.
    pub flow_id: String,
    /// Start of the first day (UTC midnight).
    pub start: DateTime<Utc>,
    /// Recipients per day.
    pub recipients: Vec<f64>,
    /// Bounces per day.
    pub bounced: Vec<f64>,
    /// Spam complaints per day.
    pub spam_complaints: Vec<f64>,
    /// Unsubscribes per day.
    pub unsubscribes: Vec<f64>,
    /// Attributed revenue per day.
    pub conversion_value: Vec<f64>,
    /// Attributed orders per day.
    pub conversions: Vec<f64>,
}

impl FlowSeries {
    /// Length of one bucket.
    pub const DAY: Duration = Duration::days(1);
}

/// One sampled profile's location and email consent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileConsent {
    /// Profile id.
    pub id: String,
    /// ISO country code, when known.
    pub country: Option<String>,
    /// Region or state code (e.g. `FL`), when known.
    pub region: Option<String>,
    /// Email marketing consent (`SUBSCRIBED`, `UNSUBSCRIBED`, `NEVER_SUBSCRIBED`).
    pub email_consent: Option<String>,
    /// How consent was given (e.g. `DOUBLE_OPT_IN`, `IMPLIED`), when recorded.
    pub method: Option<String>,
    /// When consent was given, when recorded.
    pub consented_at: Option<DateTime<Utc>>,
    /// When the profile was created.
    pub created: DateTime<Utc>,
}

/// The newest profiles of an account (one page), for consent checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSample {
    /// The sampled profiles.
    pub profiles: Vec<ProfileConsent>,
}

/// Marketing texts one profile received in the last 24 hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsRecipient {
    /// Profile id.
    pub profile_id: String,
    /// Region or state code (e.g. `FL`), when known.
    pub region: Option<String>,
    /// Texts received.
    pub texts: u32,
}

/// `$value` on the newest Placed Order events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderValues {
    /// Events read (up to 100).
    pub events: u32,
    /// Of those, events without a `$value`.
    pub without_value: u32,
}

/// This client's grant, from Lookout's connection store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantFacts {
    /// `oauth` or `private-key`.
    pub method: String,
    /// Scopes the grant holds.
    pub scopes: Vec<String>,
    /// When it was granted (the key's age for private keys).
    pub granted_at: DateTime<Utc>,
    /// When it ends.
    pub ends_at: DateTime<Utc>,
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
    /// Steps of every flow, in flow order then step order.
    #[serde(default)]
    pub flow_steps: Option<Vec<FlowStep>>,
    /// Email templates.
    #[serde(default)]
    pub templates: Option<Vec<Template>>,
    /// Segments.
    #[serde(default)]
    pub segments: Option<Vec<Segment>>,
    /// Signup forms.
    #[serde(default)]
    pub forms: Option<Vec<Form>>,
    /// Submissions per form.
    #[serde(default)]
    pub form_report: Option<Vec<FormStats>>,
    /// Catalog freshness.
    #[serde(default)]
    pub catalog: Option<Catalog>,
    /// Statistics of email campaigns sent in the last 90 days.
    #[serde(default)]
    pub campaign_report: Option<Vec<CampaignStats>>,
    /// Daily statistics of each flow over the last 56 days.
    #[serde(default)]
    pub flow_series: Option<Vec<FlowSeries>>,
    /// A sample of recently created profiles and their consent.
    #[serde(default)]
    pub profiles: Option<ProfileSample>,
    /// Recipients of marketing texts in the last 24 hours.
    #[serde(default)]
    pub sms_recipients: Option<Vec<SmsRecipient>>,
    /// `$value` presence on the newest Placed Order events.
    #[serde(default)]
    pub order_values: Option<OrderValues>,
    /// This client's grant as Lookout holds it.
    #[serde(default)]
    pub grant: Option<GrantFacts>,
    /// What the links in live templates answered.
    #[serde(default)]
    pub links: Option<Vec<LinkStatus>>,
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
            flow_steps: None,
            templates: None,
            segments: None,
            forms: None,
            form_report: None,
            catalog: None,
            campaign_report: None,
            flow_series: None,
            profiles: None,
            sms_recipients: None,
            order_values: None,
            grant: None,
            links: None,
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
            Part::FlowSteps => self.flow_steps.is_some(),
            Part::Templates => self.templates.is_some(),
            Part::Segments => self.segments.is_some(),
            Part::Forms => self.forms.is_some(),
            Part::FormReport => self.form_report.is_some(),
            Part::Catalog => self.catalog.is_some(),
            Part::CampaignReport => self.campaign_report.is_some(),
            Part::FlowSeries => self.flow_series.is_some(),
            Part::Profiles => self.profiles.is_some(),
            Part::SmsRecipients => self.sms_recipients.is_some(),
            Part::OrderValues => self.order_values.is_some(),
            Part::Grant => self.grant.is_some(),
            Part::Links => self.links.is_some(),
        }
    }

    /// The flows that send (live and not archived), if the flows were fetched.
    pub fn sending_flows(&self) -> impl Iterator<Item = &Flow> {
        self.flows.iter().flatten().filter(|f| f.is_sending())
    }

    /// The templates that reach people, each with whether a live flow sends
    /// it: those a live flow's email step uses, and every template whose name
    /// does not call it a flow template (campaigns carry no template id in
    /// the snapshot, so those stand in for campaign content).
    pub fn live_templates(&self) -> Vec<(&Template, bool)> {
        let flows: Vec<&Flow> = self.sending_flows().collect();
        let in_live_flows: std::collections::BTreeSet<&str> = self
            .flow_steps
            .iter()
            .flatten()
            .filter(|st| st.kind == StepKind::Email && st.is_live())
            .filter(|st| flows.iter().any(|f| f.id == st.flow_id))
            .filter_map(|st| st.message.as_ref()?.template_id.as_deref())
            .collect();
        self.templates
            .iter()
            .flatten()
            .filter_map(|t| {
                let in_use = in_live_flows.contains(t.id.as_str());
                // Templates named as flow templates but not used by a live
                // flow do not reach anyone.
                (in_use || !t.name.to_lowercase().contains("flow template")).then_some((t, in_use))
            })
            .collect()
    }

    /// Activity of one known metric, if fetched and present.
    pub fn activity_of(&self, m: KnownMetric) -> Option<&Activity> {
        self.activity.as_ref().and_then(|a| a.get(&m))
    }
}
