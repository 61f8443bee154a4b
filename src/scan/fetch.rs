//! The snapshot builder: fetches one account's facts through an
//! [`AccountClient`] and turns the loosely typed resources into a [`Snapshot`].
//!
//! A scan never fails as a whole: a part that could not be fetched stays
//! `None` with a [`Gap`] saying why, and a malformed resource is skipped (or a
//! nullable field defaulted) with a Gap line, never a panic. Only a 401 ends
//! the scan, because no other call would work either; a 403 is one endpoint
//! outside the key's or grant's scopes, so it is a Gap naming the scope.
//! Independent fetches run concurrently; the client's per-account budget keeps
//! them under Klaviyo's rate limits.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tracing::{Instrument, debug, info_span};

use crate::domain::ClientSlug;
use crate::klaviyo::{
    AccountClient, AggregateQuery, AggregateSeries, Interval, KlaviyoError, Report, ReportKind,
    ReportRow, Resource,
};
use crate::scan::first_and_more;
use crate::scan::snapshot::{
    Account, Activity, Campaign, CampaignStats, Catalog, Flow, FlowSeries, FlowStatus, FlowStep,
    Form, FormStats, Gap, KnownMetric, List, Metric, OrderValues, Part, ProfileConsent,
    ProfileSample, Segment, SmsRecipient, Snapshot, StepKind, StepMessage, Template,
};

/// Days of hourly activity fetched per known metric.
pub const ACTIVITY_DAYS: i64 = 28;
/// Campaign channels a snapshot holds.
const CAMPAIGN_CHANNELS: [&str; 2] = ["email", "sms"];
/// Metrics whose newest event time is looked up (the freshness checks use them).
const LAST_EVENT_METRICS: [KnownMetric; 4] = [
    KnownMetric::PlacedOrder,
    KnownMetric::StartedCheckout,
    KnownMetric::ViewedProduct,
    KnownMetric::ActiveOnSite,
];
/// Metrics whose latest hours a pulse reads again: the deliverability rate
/// checks' spike path, so a bounce or complaint spike is seen within minutes
/// rather than at the next hourly scan.
const SPIKE_METRICS: [KnownMetric; 4] = [
    KnownMetric::ReceivedEmail,
    KnownMetric::BouncedEmail,
    KnownMetric::MarkedEmailAsSpam,
    KnownMetric::Unsubscribed,
];
/// Hours of each spike metric a pulse reads again: the last whole hour and the
/// current one (more when the baseline's series ends earlier).
const PULSE_HOURS: i64 = 2;
/// Real time a pulse waits for its reads of the latest hours.
const PULSE_SPIKE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// A baseline whose series ends longer ago than this is not patched by pulses
/// (its next full scan reads the whole window again).
const PULSE_PATCH_MAX_HOURS: i64 = 24;
/// Steps reported through progress: account, flows, campaigns, lists,
/// metrics, flow triggers, activity, templates, segments, forms, catalog,
/// profiles, reports (campaign and flow), order and text events.
const STEPS: usize = 14;
/// Days of daily flow statistics (the flow-series report), ending at the last UTC midnight.
pub const FLOW_SERIES_DAYS: i64 = 56;
/// Placed Order events whose `$value` is looked at.
const ORDER_SAMPLE: u32 = 100;
/// The metric whose events are the texts a profile received.
const SMS_METRIC: &str = "Received SMS";
/// The flow statistics read per day.
const FLOW_SERIES_STATS: [&str; 6] = [
    "recipients",
    "bounced",
    "spam_complaints",
    "unsubscribes",
    "conversion_value",
    "conversions",
];
/// The campaign statistics read.
const CAMPAIGN_STATS: [&str; 9] = [
    "recipients",
    "delivered",
    "bounce_rate",
    "spam_complaint_rate",
    "unsubscribe_rate",
    "open_rate",
    "click_rate",
    "conversion_value",
    "conversions",
];
/// Problems listed by name in one Gap; the rest are counted.
const ISSUES_SHOWN: usize = 3;

/// Progress of one scan, sent once per finished step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanProgress {
    /// Steps finished.
    pub done: usize,
    /// Steps in all.
    pub total: usize,
    /// What just finished, e.g. `flows (12)`.
    pub step: String,
}

/// Sends progress; the counter is atomic because steps finish concurrently.
struct Progress<'a> {
    tx: Option<&'a UnboundedSender<ScanProgress>>,
    done: AtomicUsize,
}

impl Progress<'_> {
    fn step(&self, step: String) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        debug!(done, total = STEPS, step = %step, "scan step");
        if let Some(tx) = self.tx {
            // A closed receiver only means nobody is watching; the scan goes on.
            let _ = tx.send(ScanProgress {
                done,
                total: STEPS,
                step,
            });
        }
    }
}

/// Builds a snapshot of one account. Never fails as a whole: a failed part becomes `None`
/// plus a `Gap` with the reason (a 403 names the scope it lacks); a 401 is returned as Err
/// because nothing else will work either.
pub async fn build_snapshot(
    api: &AccountClient,
    client: &ClientSlug,
    now: DateTime<Utc>,
    progress: Option<&UnboundedSender<ScanProgress>>,
) -> Result<Snapshot, KlaviyoError> {
    build_snapshot_with(api, client, now, progress, None).await
}

/// Report results read moments ago, which a scan may use instead of asking
/// again: reports allow two calls a minute per account, so a second scan
/// within that minute (a `/scan` right after a scheduled one, a reconnect)
/// would otherwise wait for them; their figures are by day and barely move.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentReports {
    /// The campaign values report.
    pub campaign_report: Vec<CampaignStats>,
    /// The flow series report.
    pub flow_series: Vec<FlowSeries>,
    /// The form series report.
    pub form_report: Vec<FormStats>,
}

impl RecentReports {
    /// The reports of a snapshot that read all three.
    pub fn of(s: &Snapshot) -> Option<Self> {
        Some(Self {
            campaign_report: s.campaign_report.clone()?,
            flow_series: s.flow_series.clone()?,
            form_report: s.form_report.clone()?,
        })
    }
}

/// [`build_snapshot`], taking the reports from `reuse` instead of Klaviyo when given.
pub async fn build_snapshot_with(
    api: &AccountClient,
    client: &ClientSlug,
    now: DateTime<Utc>,
    progress: Option<&UnboundedSender<ScanProgress>>,
    reuse: Option<&RecentReports>,
) -> Result<Snapshot, KlaviyoError> {
    let span = info_span!("snapshot", client = %client, account = %api.account_key());
    build(api, client, now, progress, reuse)
        .instrument(span)
        .await
}

async fn build(
    api: &AccountClient,
    client: &ClientSlug,
    now: DateTime<Utc>,
    progress: Option<&UnboundedSender<ScanProgress>>,
    reuse: Option<&RecentReports>,
) -> Result<Snapshot, KlaviyoError> {
    let progress = Progress {
        tx: progress,
        done: AtomicUsize::new(0),
    };
    let p = &progress;
    // Each part is turned into its typed form as soon as it arrives, so the
    // generic JSON of a page is not held while the scan waits its turn for
    // the rate-limited aggregates (which take seconds).
    let (account, lists, campaigns, rest, templates, segments, forms, catalog, profiles) = tokio::join!(
        async {
            let r = api.get_accounts().await;
            p.step("account".into());
            let mut out = Outcome::default();
            let account = out
                .take(Part::Account, Endpoint::Accounts, "the account", r)
                .and_then(|res| out.account(&res));
            (account, out)
        },
        async {
            let r = api.get_lists().await;
            p.step(count_step("lists", &r));
            let mut out = Outcome::default();
            let lists = out
                .take(Part::Lists, Endpoint::Lists, "lists", r)
                .map(|res| {
                    let triggers = lists_flow_triggers(&res);
                    (out.convert(Part::Lists, "lists", &res, list_from), triggers)
                });
            (lists, out)
        },
        async {
            let results = fetch_campaigns(api, p).await;
            let mut out = Outcome::default();
            let campaigns = out.campaigns(results);
            (campaigns, out)
        },
        fetch_flows_metrics_activity(api, now, p, reuse),
        fetch_templates(api, p),
        fetch_segments(api, p),
        fetch_forms(api, now, p, reuse.map(|r| &r.form_report)),
        fetch_catalog(api, p),
        fetch_profiles(api, p),
    );

    let mut out = Outcome::default();
    let mut snap = Snapshot::empty(client.clone(), now);
    let (account, part) = account;
    out.merge(part);
    snap.account = account;
    let (lists, part) = lists;
    out.merge(part);
    let (lists, mut by_list) = lists.map_or((None, HashMap::new()), |(l, m)| (Some(l), m));
    snap.lists = lists;
    let (campaigns, part) = campaigns;
    out.merge(part);
    snap.campaigns = campaigns;

    let Rest {
        flows,
        metrics,
        triggers,
        activity,
        derived,
        outcome,
    } = rest;
    out.merge(outcome);
    snap.metrics = metrics;
    let Derived {
        flow_steps,
        campaign_report,
        flow_series,
        order_values,
        sms_recipients,
    } = derived;
    snap.flow_steps = flow_steps;
    snap.campaign_report = campaign_report;
    snap.flow_series = flow_series;
    snap.order_values = order_values;
    snap.sms_recipients = sms_recipients;
    for o in [templates.1, segments.1, forms.2, catalog.1, profiles.1] {
        out.merge(o);
    }
    snap.templates = templates.0;
    snap.segments = segments.0;
    (snap.forms, snap.form_report) = (forms.0, forms.1);
    snap.catalog = catalog.0;
    snap.profiles = profiles.0;
    if let Some((mut flows, own_lists)) = flows {
        // A flow's own list relationship wins over a list's flow-triggers.
        by_list.extend(own_lists);
        for f in &mut flows {
            if f.trigger_list_id.is_none() {
                f.trigger_list_id = by_list.get(&f.id).cloned();
            }
        }
        match triggers {
            Triggers::Fetched(found) => {
                for (metric, r) in found {
                    let what = format!("the flows {} triggers", metric.klaviyo_name());
                    if let Some(ids) = out.take(Part::Flows, Endpoint::MetricFlowTriggers, &what, r)
                    {
                        for triggered in ids {
                            if let Some(f) = flows.iter_mut().find(|f| f.id == triggered) {
                                f.trigger_metric = Some(metric);
                            }
                        }
                    }
                }
            }
            Triggers::NotNeeded => {}
            Triggers::NoMetrics => out.gap(
                Part::Flows,
                "trigger metrics of flows are unknown because the metrics could not be fetched"
                    .into(),
            ),
        }
        snap.flows = Some(flows);
    }
    snap.activity = out.activity(activity, now);

    if let Some(e) = out.auth {
        return Err(e);
    }
    snap.gaps = out.gaps;
    Ok(snap)
}

/// Reads what a pulse needs, on top of `baseline` (the last full snapshot):
/// the flows (their status), the newest event of each freshness metric and
/// the latest hours of the deliverability metrics, nine calls or so instead
/// of a full scan's thirty-five. The result carries the baseline's hourly
/// activity with fresh `last_event_at` times and fresh recent hours of the
/// spike metrics, and the baseline's campaigns and reports as they were, so
/// only checks of [`crate::checks::Cadence::Pulse`] can run on it.
pub async fn build_pulse(
    api: &AccountClient,
    client: &ClientSlug,
    now: DateTime<Utc>,
    baseline: &Snapshot,
) -> Result<Snapshot, KlaviyoError> {
    let span = info_span!("pulse", client = %client, account = %api.account_key());
    pulse(api, client, now, baseline).instrument(span).await
}

async fn pulse(
    api: &AccountClient,
    client: &ClientSlug,
    now: DateTime<Utc>,
    baseline: &Snapshot,
) -> Result<Snapshot, KlaviyoError> {
    let watched: Vec<(KnownMetric, String)> = baseline
        .activity
        .iter()
        .flatten()
        .filter(|(m, _)| LAST_EVENT_METRICS.contains(m))
        .map(|(m, a)| (*m, a.metric_id.clone()))
        .collect();
    let latest = async {
        let mut set = JoinSet::new();
        for (metric, id) in watched {
            let api = api.clone();
            set.spawn(async move { (metric, api.latest_event(&id).await) });
        }
        let mut found = join_logged(set).await;
        found.sort_by_key(|(m, _)| *m);
        found
    };
    // Opportunistic: when the account's aggregate budget is busy (a full
    // scan's reads, or a demo's clock running hours a minute), the pulse
    // goes on without them and the spike path judges the last full scan's.
    let recent = async {
        tokio::time::timeout(PULSE_SPIKE_WAIT, recent_hours(api, baseline, now))
            .await
            .unwrap_or_else(|_| {
                debug!("the latest hours were not read: the aggregate budget is busy");
                Vec::new()
            })
    };
    let (flows, latest, recent) = tokio::join!(api.get_flows(), latest, recent);

    let mut out = Outcome::default();
    let mut snap = Snapshot::empty(client.clone(), now);
    if let Some(res) = out.take(Part::Flows, Endpoint::Flows, "flows", flows) {
        let mut flows = out.convert(Part::Flows, "flows", &res, flow_from);
        // Triggers are looked up on full scans; a flow keeps the one it had.
        let known = baseline.flows.as_deref().unwrap_or_default();
        for f in &mut flows {
            if let Some(was) = known.iter().find(|k| k.id == f.id) {
                f.trigger_metric = was.trigger_metric;
                if f.trigger_list_id.is_none() {
                    f.trigger_list_id.clone_from(&was.trigger_list_id);
                }
            }
        }
        snap.flows = Some(flows);
    }
    if let Some(mut activity) = baseline.activity.clone() {
        let mut complete = true;
        for (metric, r) in latest {
            let what = format!("the newest {} event", metric.klaviyo_name());
            match out.take(Part::Activity, Endpoint::Events, &what, r) {
                Some(event) => {
                    let t = event.as_ref().and_then(event_time);
                    if let Some(a) = activity.get_mut(&metric) {
                        // An account may prune old events; the newest never goes back in time.
                        a.last_event_at = t.max(a.last_event_at);
                    }
                }
                None => complete = false,
            }
        }
        for (metric, from, r) in recent {
            let what = format!("{} in the last hours", metric.klaviyo_name());
            match out.take(Part::Activity, Endpoint::MetricAggregates, &what, r) {
                Some(placed) => {
                    if let Some(a) = activity.get_mut(&metric) {
                        patch(a, from, &placed.counts);
                    }
                }
                None => complete = false,
            }
        }
        snap.activity = complete.then_some(activity);
    } else {
        out.gap(
            Part::Activity,
            "the last full scan has no activity to compare with".into(),
        );
    }
    // The rate checks' report paths judge these as the last full scan read
    // them: a pulse neither raises nor clears what only the reports show.
    snap.campaigns.clone_from(&baseline.campaigns);
    snap.campaign_report.clone_from(&baseline.campaign_report);
    snap.flow_series.clone_from(&baseline.flow_series);
    if let Some(e) = out.auth {
        return Err(e);
    }
    snap.gaps = out.gaps;
    Ok(snap)
}

fn count_step<T>(name: &str, r: &Result<Vec<T>, KlaviyoError>) -> String {
    match r {
        Ok(v) => format!("{name} ({})", v.len()),
        Err(_) => format!("{name} (failed)"),
    }
}

async fn fetch_campaigns(
    api: &AccountClient,
    p: &Progress<'_>,
) -> Vec<(&'static str, Result<Vec<Resource>, KlaviyoError>)> {
    let (email, sms) = tokio::join!(
        api.get_campaigns(CAMPAIGN_CHANNELS[0]),
        api.get_campaigns(CAMPAIGN_CHANNELS[1])
    );
    let n: usize = [&email, &sms]
        .iter()
        .filter_map(|r| r.as_ref().ok().map(Vec::len))
        .sum();
    p.step(format!("campaigns ({n})"));
    vec![(CAMPAIGN_CHANNELS[0], email), (CAMPAIGN_CHANNELS[1], sms)]
}

/// The flow ids one known metric triggers, or why they are unknown.
type TriggeredFlows = (KnownMetric, Result<Vec<String>, KlaviyoError>);

/// Which flows each known metric triggers.
enum Triggers {
    /// The flow ids per metric: from the metrics' own `flow-triggers`
    /// linkage, or else looked up metric by metric.
    Fetched(Vec<TriggeredFlows>),
    /// No flow is metric-triggered (or flows failed): nothing to look up.
    NotNeeded,
    /// Metrics failed, so triggers could not be looked up.
    NoMetrics,
}

/// Per known metric: its id, the aggregate placed in the window's buckets,
/// and the newest event (if looked up).
type ActivityResults = Vec<(
    KnownMetric,
    String,
    Result<Placed, KlaviyoError>,
    Option<Result<Option<Resource>, KlaviyoError>>,
)>;

struct Rest {
    /// The flows, and flow id -> list id from their own relationships.
    flows: Option<(Vec<Flow>, HashMap<String, String>)>,
    metrics: Option<Vec<Metric>>,
    triggers: Triggers,
    /// `None` when metrics failed.
    activity: Option<ActivityResults>,
    /// The parts read beside the flows or after the metrics, already typed.
    derived: Derived,
    /// Gaps (and an auth error) from reading flows, metrics and the parts above.
    outcome: Outcome,
}

/// Parts that come with the flows (their steps) or need the metric list
/// (the reports attribute revenue to Placed Order; the events are a metric's).
#[derive(Default)]
struct Derived {
    flow_steps: Option<Vec<FlowStep>>,
    campaign_report: Option<Vec<CampaignStats>>,
    flow_series: Option<Vec<FlowSeries>>,
    order_values: Option<OrderValues>,
    sms_recipients: Option<Vec<SmsRecipient>>,
}

/// Flows and metrics, then what depends on them: trigger lookups, activity,
/// the campaign and flow reports and the order and text events.
///
/// The metric list leads the account's slowest chain (the aggregates, three a
/// second), so it goes first, through the urgent lane, and the aggregates start
/// as soon as it is back instead of waiting for the flows as well. The reports
/// (one a second, two a minute) wait for it too, so they take the urgent lane as well.
async fn fetch_flows_metrics_activity(
    api: &AccountClient,
    now: DateTime<Utc>,
    p: &Progress<'_>,
    reuse: Option<&RecentReports>,
) -> Rest {
    // What the flows' trigger lookup needs from the metrics: their known ids,
    // and the flows each triggers when the metric list carried that linkage.
    let (known_tx, known_rx) = tokio::sync::oneshot::channel();
    let metrics_and_activity = async {
        let r = api.urgent().get_metrics().await;
        p.step(count_step("metrics", &r));
        let known = r.as_ref().ok().map(|m| pick_known_metrics(m));
        let sms_metric = r.as_ref().ok().map(|m| metric_named(m, SMS_METRIC));
        let linked = r
            .as_ref()
            .ok()
            .zip(known.as_ref())
            .and_then(|(m, known)| linked_triggers(m, known));
        // The receiver is only gone if the flows branch was dropped; then no one needs it.
        let _ = known_tx.send((known.clone(), linked));
        let mut outcome = Outcome::default();
        let metrics = outcome
            .take(Part::Metrics, Endpoint::Metrics, "metrics", r)
            .map(|res| outcome.convert(Part::Metrics, "metrics", &res, metric_from));
        let orders = known.as_ref().map(|k| {
            k.iter()
                .find(|(m, _)| *m == KnownMetric::PlacedOrder)
                .map(|(_, id)| id.clone())
        });
        let activity = async {
            let activity = match &known {
                Some(known) => Some(fetch_activity(api, known, now).await),
                None => None,
            };
            p.step(format!(
                "activity ({} metrics)",
                known.as_ref().map_or(0, Vec::len)
            ));
            activity
        };
        let (activity, reports, events) = tokio::join!(
            activity,
            fetch_reports(api, orders.clone(), now, p, reuse),
            fetch_metric_events(api, orders, sms_metric, now, p),
        );
        let mut derived = Derived::default();
        let ((campaign_report, flow_series), reports_outcome) = reports;
        let ((order_values, sms_recipients), events_outcome) = events;
        outcome.merge(reports_outcome);
        outcome.merge(events_outcome);
        derived.campaign_report = campaign_report;
        derived.flow_series = flow_series;
        derived.order_values = order_values;
        derived.sms_recipients = sms_recipients;
        (metrics, activity, derived, outcome)
    };
    let flows_and_triggers = async {
        let r = api.get_flows_with_actions().await;
        p.step(match &r {
            Ok((flows, _)) => format!("flows ({})", flows.len()),
            Err(_) => "flows (failed)".into(),
        });
        let any_metric_flow = r.as_ref().is_ok_and(|(fs, _)| {
            fs.iter()
                .any(|f| f.attributes.get("trigger_type").and_then(Value::as_str) == Some("Metric"))
        });
        let mut outcome = Outcome::default();
        let mut steps = None;
        let flows = outcome
            .take(Part::Flows, Endpoint::Flows, "flows", r)
            .map(|(res, actions)| {
                let mut own = HashMap::new();
                flows_own_lists(&res, &mut own);
                steps = Some(outcome.flow_steps(&res, &actions));
                (outcome.convert(Part::Flows, "flows", &res, flow_from), own)
            });
        if flows.is_none() {
            outcome.gap(
                Part::FlowSteps,
                "flow steps were not fetched because the flows could not be fetched".into(),
            );
        }
        let (known, linked) = known_rx.await.unwrap_or((None, None));
        let triggers = match (&known, linked) {
            (None, _) if any_metric_flow => Triggers::NoMetrics,
            (Some(_), Some(found)) if any_metric_flow => Triggers::Fetched(found),
            (Some(known), None) if any_metric_flow => {
                let mut set = JoinSet::new();
                for (metric, id) in known.clone() {
                    let api = api.clone();
                    set.spawn(async move {
                        let flows = api.metric_flow_triggers(&id).await;
                        (
                            metric,
                            flows.map(|fs| fs.into_iter().map(|f| f.id).collect()),
                        )
                    });
                }
                let mut found = join_logged(set).await;
                found.sort_by_key(|(m, _)| *m);
                Triggers::Fetched(found)
            }
            _ => Triggers::NotNeeded,
        };
        p.step("flow triggers".into());
        (flows, steps.flatten(), triggers, outcome)
    };
    let ((metrics, activity, mut derived, mut outcome), (flows, steps, triggers, flows_outcome)) =
        tokio::join!(metrics_and_activity, flows_and_triggers);
    outcome.merge(flows_outcome);
    derived.flow_steps = steps;
    Rest {
        flows,
        metrics,
        triggers,
        activity,
        derived,
        outcome,
    }
}

/// The id of the first metric called `name`, if the account has one.
fn metric_named(metrics: &[Resource], name: &str) -> Option<String> {
    metrics
        .iter()
        .find(|m| m.attributes.get("name").and_then(Value::as_str) == Some(name))
        .map(|m| m.id.clone())
}

/// The end of the flow-series window: the last UTC midnight.
fn series_end(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(Duration::days(1)).unwrap_or(now)
}

/// An RFC 3339 time as the reporting endpoints take it.
fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The campaign values report and the flow series report: both attribute
/// revenue to Placed Order, so both need its id (`orders`; `None` when the
/// metrics failed, `Some(None)` when the account has no such metric).
async fn fetch_reports(
    api: &AccountClient,
    orders: Option<Option<String>>,
    now: DateTime<Utc>,
    p: &Progress<'_>,
    reuse: Option<&RecentReports>,
) -> (
    (Option<Vec<CampaignStats>>, Option<Vec<FlowSeries>>),
    Outcome,
) {
    let mut out = Outcome::default();
    if let Some(r) = reuse {
        p.step("reports (campaigns, flows; read moments ago)".into());
        return (
            (Some(r.campaign_report.clone()), Some(r.flow_series.clone())),
            out,
        );
    }
    let id = match orders {
        None => {
            for part in [Part::CampaignReport, Part::FlowSeries] {
                out.gap(
                    part,
                    "the report was not fetched because the metrics could not be fetched".into(),
                );
            }
            p.step("reports (not fetched)".into());
            return ((None, None), out);
        }
        Some(None) => {
            for part in [Part::CampaignReport, Part::FlowSeries] {
                out.gap(part, "no Placed Order metric to attribute revenue".into());
            }
            p.step("reports (no Placed Order metric)".into());
            return ((None, None), out);
        }
        Some(Some(id)) => id,
    };
    let chain = api.urgent();
    let end = series_end(now);
    let start = end - Duration::days(FLOW_SERIES_DAYS);
    let campaign = chain.report(
        ReportKind::CampaignValues,
        serde_json::json!({
            "statistics": CAMPAIGN_STATS,
            "timeframe": {"key": "last_90_days"},
            "conversion_metric_id": id,
            "group_by": ["campaign_id", "campaign_message_id"],
            "filter": "equals(send_channel,'email')",
        }),
    );
    let series = chain.report(
        ReportKind::FlowSeries,
        serde_json::json!({
            "statistics": FLOW_SERIES_STATS,
            "timeframe": {"start": rfc3339(start), "end": rfc3339(end)},
            "interval": "daily",
            "conversion_metric_id": id,
            "group_by": ["flow_id", "flow_message_id"],
        }),
    );
    let (campaign, series) = tokio::join!(campaign, series);
    p.step("reports (campaigns, flows)".into());
    let campaign = out
        .take(
            Part::CampaignReport,
            Endpoint::CampaignReports,
            "the campaign report",
            campaign,
        )
        .map(|r| out.campaign_stats(&r));
    let series = out
        .take(
            Part::FlowSeries,
            Endpoint::FlowSeriesReports,
            "the flow series report",
            series,
        )
        .map(|r| out.flow_series(&r, start));
    ((campaign, series), out)
}

/// The newest Placed Order events (is `$value` there?) and the texts of the
/// last 24 hours per recipient.
async fn fetch_metric_events(
    api: &AccountClient,
    orders: Option<Option<String>>,
    sms: Option<Option<String>>,
    now: DateTime<Utc>,
    p: &Progress<'_>,
) -> ((Option<OrderValues>, Option<Vec<SmsRecipient>>), Outcome) {
    let mut out = Outcome::default();
    let order_events = async {
        match &orders {
            Some(Some(id)) => Some(api.newest_events(id, ORDER_SAMPLE).await),
            _ => None,
        }
    };
    let texts = async {
        match &sms {
            Some(Some(id)) => Some(
                api.events_with_profiles_since(id, now - Duration::hours(24))
                    .await,
            ),
            _ => None,
        }
    };
    let (order_events, texts) = tokio::join!(order_events, texts);
    p.step("order and text events".into());
    let order_values = match (orders, order_events) {
        (None, _) => {
            out.gap(
                Part::OrderValues,
                "order values were not fetched because the metrics could not be fetched".into(),
            );
            None
        }
        // No Placed Order metric: no orders were read, none lacks a value.
        (Some(None), _) => Some(OrderValues {
            events: 0,
            without_value: 0,
        }),
        (Some(Some(_)), Some(r)) => out
            .take(
                Part::OrderValues,
                Endpoint::Events,
                "the newest Placed Order events",
                r,
            )
            .map(|events| order_values(&events)),
        (Some(Some(_)), None) => None,
    };
    let sms_recipients = match (sms, texts) {
        (None, _) => {
            out.gap(
                Part::SmsRecipients,
                "texts were not counted because the metrics could not be fetched".into(),
            );
            None
        }
        // No Received SMS metric: the account has sent no texts.
        (Some(None), _) => Some(Vec::new()),
        (Some(Some(_)), Some(r)) => out
            .take(
                Part::SmsRecipients,
                Endpoint::Events,
                "the texts of the last 24 hours",
                r,
            )
            .map(|(events, profiles)| sms_recipients(&events, &profiles)),
        (Some(Some(_)), None) => None,
    };
    ((order_values, sms_recipients), out)
}

async fn fetch_templates(
    api: &AccountClient,
    p: &Progress<'_>,
) -> (Option<Vec<Template>>, Outcome) {
    let r = api.get_templates().await;
    p.step(count_step("templates", &r));
    let mut out = Outcome::default();
    let templates = out
        .take(Part::Templates, Endpoint::Templates, "templates", r)
        .map(|res| out.convert(Part::Templates, "templates", &res, template_from));
    (templates, out)
}

/// Segments, then each one's profile count (the list does not carry it;
/// the segment endpoint is in a fast tier, so they are asked at once).
async fn fetch_segments(api: &AccountClient, p: &Progress<'_>) -> (Option<Vec<Segment>>, Outcome) {
    let r = api.get_segments().await;
    let mut out = Outcome::default();
    let Some(res) = out.take(Part::Segments, Endpoint::Segments, "segments", r) else {
        p.step("segments (failed)".into());
        return (None, out);
    };
    let mut segments = out.convert(Part::Segments, "segments", &res, segment_from);
    drop(res);
    let mut set = JoinSet::new();
    for (i, s) in segments.iter().enumerate() {
        let api = api.clone();
        let id = s.id.clone();
        set.spawn(async move { (i, api.get_segment_count(&id).await) });
    }
    let mut counts = join_logged(set).await;
    counts.sort_by_key(|(i, _)| *i);
    let mut uncounted = Vec::new();
    for (i, r) in counts {
        let Some(seg) = segments.get_mut(i) else {
            continue;
        };
        let what = format!("the size of segment {}", seg.id);
        // A failed count is its own gap (from `take`); the segment stays, uncounted.
        if let Some(found) = out.take(Part::Segments, Endpoint::Segment, &what, r) {
            seg.profile_count = found
                .as_ref()
                .and_then(|r| r.attributes.get("profile_count").and_then(Value::as_u64));
            if seg.profile_count.is_none() {
                uncounted.push(seg.id.clone());
            }
        }
    }
    if !uncounted.is_empty() {
        out.gap(
            Part::Segments,
            format!(
                "Klaviyo gave no profile count for {} segment(s): {}",
                uncounted.len(),
                first_and_more(&uncounted, ISSUES_SHOWN, ", ")
            ),
        );
    }
    p.step(format!("segments ({})", segments.len()));
    (Some(segments), out)
}

/// Forms, and their submissions per day (one form series report): the
/// recent window is the UTC days that overlap the last 48 hours (48 to 72
/// hours, today's so far included), the baseline the 30 days before it. One
/// call rather than a values report per window: reports allow two a minute,
/// so two per scan would hold a second scan of the account within a minute
/// (and each retry) for a minute.
async fn fetch_forms(
    api: &AccountClient,
    now: DateTime<Utc>,
    p: &Progress<'_>,
    reuse: Option<&Vec<FormStats>>,
) -> (Option<Vec<Form>>, Option<Vec<FormStats>>, Outcome) {
    if let Some(stats) = reuse {
        let forms = api.get_forms().await;
        p.step(count_step("forms", &forms));
        let mut out = Outcome::default();
        let forms = out
            .take(Part::Forms, Endpoint::Forms, "forms", forms)
            .map(|res| out.convert(Part::Forms, "forms", &res, form_from));
        return (forms, Some(stats.clone()), out);
    }
    let (recent_from, baseline_from) = form_windows(now);
    let report = api.report(
        ReportKind::FormSeries,
        serde_json::json!({
            "statistics": ["submits"],
            "timeframe": {"start": rfc3339(baseline_from), "end": rfc3339(now)},
            "interval": "daily",
            "group_by": ["form_id"],
        }),
    );
    let (forms, report) = tokio::join!(api.get_forms(), report);
    p.step(count_step("forms", &forms));
    let mut out = Outcome::default();
    let forms = out
        .take(Part::Forms, Endpoint::Forms, "forms", forms)
        .map(|res| out.convert(Part::Forms, "forms", &res, form_from));
    let stats = out
        .take(
            Part::FormReport,
            Endpoint::FormReports,
            "the form report",
            report,
        )
        .map(|r| out.form_stats(&r, recent_from, forms.as_deref().unwrap_or_default()));
    (forms, stats, out)
}

/// The starts of the form report's recent window and of its baseline.
fn form_windows(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let recent = series_end(now - Duration::hours(48));
    (recent, recent - Duration::days(30))
}

async fn fetch_catalog(api: &AccountClient, p: &Progress<'_>) -> (Option<Catalog>, Outcome) {
    let r = api.get_catalog_items().await;
    p.step(count_step("catalog items", &r));
    let mut out = Outcome::default();
    let catalog = out
        .take(Part::Catalog, Endpoint::CatalogItems, "catalog items", r)
        .map(|res| {
            let updated = out.convert(Part::Catalog, "catalog items", &res, item_updated);
            Catalog {
                items: res.len() as u64,
                newest_update: updated.into_iter().max(),
            }
        });
    (catalog, out)
}

async fn fetch_profiles(api: &AccountClient, p: &Progress<'_>) -> (Option<ProfileSample>, Outcome) {
    let r = api.newest_profiles().await;
    p.step(count_step("profiles", &r));
    let mut out = Outcome::default();
    let sample = out
        .take(Part::Profiles, Endpoint::Profiles, "profiles", r)
        .map(|res| ProfileSample {
            profiles: out.convert(Part::Profiles, "profiles", &res, profile_from),
        });
    (sample, out)
}

/// Collects a JoinSet's results; a panicked task (a bug) is logged and dropped.
async fn join_logged<T: 'static>(mut set: JoinSet<T>) -> Vec<T> {
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(v) => out.push(v),
            Err(e) => tracing::error!(error = %e, "a scan task failed"),
        }
    }
    out
}

/// The window of hourly buckets: 28 days ending one hour after the current
/// hour boundary, so the partial current hour is included.
fn activity_window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let end = hour + Duration::hours(1);
    (end - Duration::days(ACTIVITY_DAYS), end)
}

/// Reads the latest hours of each spike metric the baseline holds: from
/// [`PULSE_HOURS`] before the end of the current hour, or from the baseline
/// series' last hour if that is earlier, so the patch joins the series.
async fn recent_hours(
    api: &AccountClient,
    baseline: &Snapshot,
    now: DateTime<Utc>,
) -> Vec<(KnownMetric, DateTime<Utc>, Result<Placed, KlaviyoError>)> {
    let (_, end) = activity_window(now);
    let series: Vec<(KnownMetric, String, DateTime<Utc>)> = baseline
        .activity
        .iter()
        .flatten()
        .filter(|(m, a)| {
            SPIKE_METRICS.contains(m) && a.end() >= end - Duration::hours(PULSE_PATCH_MAX_HOURS)
        })
        .map(|(m, a)| {
            let from = (end - Duration::hours(PULSE_HOURS))
                .min(a.end() - Activity::BUCKET)
                .max(a.start);
            (*m, a.metric_id.clone(), from)
        })
        .collect();
    let mut set = JoinSet::new();
    for (metric, id, from) in series {
        let api = api.clone();
        set.spawn(async move {
            let q = hourly(id, metric, from, end);
            let placed = api.metric_aggregate(&q).await.map(|s| place(&s, from, end));
            (metric, from, placed)
        });
    }
    let mut out = join_logged(set).await;
    out.sort_by_key(|(m, ..)| *m);
    out
}

/// Writes hourly `counts` starting at `from` over a series: buckets it holds
/// are replaced, later ones appended, and as many of the oldest dropped so
/// the series keeps its length. `from` must not be past the series' end.
fn patch(a: &mut Activity, from: DateTime<Utc>, counts: &[f64]) {
    let Ok(offset) = usize::try_from((from - a.start).num_hours()) else {
        return;
    };
    if offset > a.counts.len() {
        return;
    }
    let had = a.counts.len();
    for (i, c) in counts.iter().enumerate() {
        match a.counts.get_mut(offset + i) {
            Some(slot) => *slot = *c,
            None => a.counts.push(*c),
        }
    }
    let grown = a.counts.len() - had;
    if grown > 0 {
        a.counts.drain(..grown);
        if !a.values.is_empty() {
            a.values.resize(had + grown, 0.0);
            a.values.drain(..grown);
        }
        a.start += Activity::BUCKET * grown as i32;
    }
}

/// An hourly UTC aggregate of `metric` over `[start, end)`. Only Placed
/// Order's `$value` is asked for (revenue); the others' sums would double what
/// travels and is kept.
fn hourly(
    metric_id: String,
    metric: KnownMetric,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> AggregateQuery {
    AggregateQuery {
        metric_id,
        interval: Interval::Hour,
        start,
        end,
        measurements: if metric == KnownMetric::PlacedOrder {
            vec!["count", "sum_value"]
        } else {
            vec!["count"]
        },
        timezone: "UTC".into(),
    }
}

async fn fetch_activity(
    api: &AccountClient,
    known: &[(KnownMetric, String)],
    now: DateTime<Utc>,
) -> ActivityResults {
    let (start, end) = activity_window(now);
    let mut set = JoinSet::new();
    for (metric, id) in known.iter().cloned() {
        let api = api.clone();
        // The aggregates are the chain that sets when the scan can end.
        let chain = api.urgent();
        set.spawn(async move {
            let q = hourly(id.clone(), metric, start, end);
            let latest = async {
                if LAST_EVENT_METRICS.contains(&metric) {
                    Some(api.latest_event(&id).await)
                } else {
                    None
                }
            };
            let (series, latest) = tokio::join!(chain.metric_aggregate(&q), latest);
            // Placed at once: the buckets are all a scan keeps, not the dates.
            let placed = series.map(|s| place(&s, start, end));
            (metric, id, placed, latest)
        });
    }
    let mut out = join_logged(set).await;
    out.sort_by_key(|(m, ..)| *m);
    out
}

/// One metric id per known metric present. When a name appears twice (two
/// integrations both send "Placed Order"), the one from an integration wins,
/// then the first listed.
fn pick_known_metrics(metrics: &[Resource]) -> Vec<(KnownMetric, String)> {
    let mut best: BTreeMap<KnownMetric, (bool, String)> = BTreeMap::new();
    for m in metrics {
        let Some(known) = m
            .attributes
            .get("name")
            .and_then(Value::as_str)
            .and_then(KnownMetric::from_klaviyo_name)
        else {
            continue;
        };
        let integrated = m
            .attributes
            .get("integration")
            .is_some_and(|i| i.is_object());
        match best.get(&known) {
            Some((had_integration, _)) if *had_integration || !integrated => {}
            _ => {
                best.insert(known, (integrated, m.id.clone()));
            }
        }
    }
    best.into_iter().map(|(k, (_, id))| (k, id)).collect()
}

/// The flows each known metric triggers, from the metrics' `flow-triggers`
/// linkage; `None` unless every known metric carries it (a server that
/// ignored `include` is asked metric by metric instead).
fn linked_triggers(
    metrics: &[Resource],
    known: &[(KnownMetric, String)],
) -> Option<Vec<TriggeredFlows>> {
    known
        .iter()
        .map(|(metric, id)| {
            let m = metrics.iter().find(|m| &m.id == id)?;
            let rel = m.relationships.get("flow-triggers")?;
            if !rel.get("data").is_some_and(Value::is_array) {
                return None;
            }
            let flows = relationship_items(Some(rel))
                .into_iter()
                .filter(|(kind, _)| kind == "flow")
                .map(|(_, id)| id)
                .collect();
            Some((*metric, Ok(flows)))
        })
        .collect()
}

/// Flow id -> list id from the lists' `flow-triggers` (the first list wins).
/// A flow's own list relationship is added over it by [`flows_own_lists`].
fn lists_flow_triggers(lists: &[Resource]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for l in lists {
        for (kind, flow_id) in relationship_items(l.relationships.get("flow-triggers")) {
            if kind == "flow" {
                map.entry(flow_id).or_insert_with(|| l.id.clone());
            }
        }
    }
    map
}

/// Adds flow id -> list id from each flow's own relationships, over what `map` had.
fn flows_own_lists(flows: &[Resource], map: &mut HashMap<String, String>) {
    for f in flows {
        if let Some(rels) = f.relationships.as_object() {
            for rel in rels.values() {
                for (kind, id) in relationship_items(Some(rel)) {
                    if kind == "list" {
                        map.insert(f.id.clone(), id);
                    }
                }
            }
        }
    }
}

/// `(type, id)` pairs of a relationship's `data` (one object or a list).
fn relationship_items(rel: Option<&Value>) -> Vec<(String, String)> {
    let item = |v: &Value| {
        Some((
            v.get("type")?.as_str()?.to_owned(),
            v.get("id")?.as_str()?.to_owned(),
        ))
    };
    match rel.and_then(|r| r.get("data")) {
        Some(Value::Array(items)) => items.iter().filter_map(item).collect(),
        Some(one @ Value::Object(_)) => item(one).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The endpoints a scan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Accounts,
    Flows,
    Campaigns,
    Lists,
    Metrics,
    MetricFlowTriggers,
    MetricAggregates,
    Events,
    Templates,
    Segments,
    Segment,
    Forms,
    FormReports,
    CatalogItems,
    CampaignReports,
    FlowSeriesReports,
    Profiles,
}

impl Endpoint {
    /// Every endpoint, for the test that checks the table against the spec.
    #[cfg(test)]
    const ALL: [Endpoint; 17] = [
        Endpoint::Accounts,
        Endpoint::Flows,
        Endpoint::Campaigns,
        Endpoint::Lists,
        Endpoint::Metrics,
        Endpoint::MetricFlowTriggers,
        Endpoint::MetricAggregates,
        Endpoint::Events,
        Endpoint::Templates,
        Endpoint::Segments,
        Endpoint::Segment,
        Endpoint::Forms,
        Endpoint::FormReports,
        Endpoint::CatalogItems,
        Endpoint::CampaignReports,
        Endpoint::FlowSeriesReports,
        Endpoint::Profiles,
    ];

    /// The table: method, path and the OAuth scopes Klaviyo asks for
    /// (`x-klaviyo-scopes` in the spec), so a 403 can say which one is missing.
    const fn spec(self) -> (&'static str, &'static str, &'static [&'static str]) {
        match self {
            Endpoint::Accounts => ("GET", "/api/accounts", &["accounts:read"]),
            Endpoint::Flows => ("GET", "/api/flows", &["flows:read"]),
            Endpoint::Campaigns => ("GET", "/api/campaigns", &["campaigns:read"]),
            Endpoint::Lists => ("GET", "/api/lists", &["lists:read"]),
            Endpoint::Metrics => ("GET", "/api/metrics", &["metrics:read"]),
            Endpoint::MetricFlowTriggers => (
                "GET",
                "/api/metrics/{id}/flow-triggers",
                &["flows:read", "metrics:read"],
            ),
            Endpoint::MetricAggregates => ("POST", "/api/metric-aggregates", &["metrics:read"]),
            Endpoint::Events => ("GET", "/api/events", &["events:read"]),
            Endpoint::Templates => ("GET", "/api/templates", &["templates:read"]),
            Endpoint::Segments => ("GET", "/api/segments", &["segments:read"]),
            Endpoint::Segment => ("GET", "/api/segments/{id}", &["segments:read"]),
            Endpoint::Forms => ("GET", "/api/forms", &["forms:read"]),
            Endpoint::FormReports => ("POST", "/api/form-series-reports", &["forms:read"]),
            Endpoint::CatalogItems => ("GET", "/api/catalog-items", &["catalogs:read"]),
            Endpoint::CampaignReports => {
                ("POST", "/api/campaign-values-reports", &["campaigns:read"])
            }
            Endpoint::FlowSeriesReports => ("POST", "/api/flow-series-reports", &["flows:read"]),
            Endpoint::Profiles => ("GET", "/api/profiles", &["profiles:read"]),
        }
    }

    /// Why a 403 from this endpoint left `what` unfetched, and the fix.
    fn forbidden(self, what: &str) -> String {
        let (_, _, scopes) = self.spec();
        let named: Vec<String> = scopes.iter().map(|s| format!("`{s}`")).collect();
        let (scope, fix) = match named.as_slice() {
            [one] => (format!("the {one} scope"), "it"),
            _ => (format!("one of the {} scopes", named.join(", ")), "them"),
        };
        format!(
            "could not fetch {what}: the key or grant lacks {scope} (403); reconnect the account granting {fix}"
        )
    }
}

/// Collects gaps and the first 401 while results are converted.
#[derive(Default)]
struct Outcome {
    gaps: Vec<Gap>,
    auth: Option<KlaviyoError>,
}

impl Outcome {
    /// Takes in what another part's reading found, after this one's.
    fn merge(&mut self, other: Outcome) {
        self.gaps.extend(other.gaps);
        if self.auth.is_none() {
            self.auth = other.auth;
        }
    }

    fn gap(&mut self, part: Part, reason: String) {
        self.gaps.push(Gap { part, reason });
    }

    /// The value, or `None` with a gap; a 401 is kept for the caller instead,
    /// and a 403 (this endpoint is outside the credential's scopes) is a gap
    /// naming the scope, so the rest of the snapshot is still used.
    fn take<T>(
        &mut self,
        part: Part,
        endpoint: Endpoint,
        what: &str,
        r: Result<T, KlaviyoError>,
    ) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(KlaviyoError::Forbidden { detail, .. }) => {
                debug!(%detail, ?endpoint, "Klaviyo refused one endpoint (403)");
                self.gap(part, endpoint.forbidden(what));
                None
            }
            Err(e) if e.is_auth() => {
                self.auth.get_or_insert(e);
                None
            }
            Err(e) => {
                self.gap(part, format!("could not fetch {what}: {e}"));
                None
            }
        }
    }

    /// Converts each resource; the ones that fail are skipped and summed up in one gap.
    fn convert<T>(
        &mut self,
        part: Part,
        what: &str,
        resources: &[Resource],
        f: fn(&mut Fields<'_>) -> Option<T>,
    ) -> Vec<T> {
        let mut issues = Vec::new();
        let mut out = Vec::new();
        let mut skipped = 0;
        for r in resources {
            let mut fields = Fields::new(r);
            match f(&mut fields) {
                Some(v) => out.push(v),
                None => skipped += 1,
            }
            issues.append(&mut fields.issues);
        }
        if !issues.is_empty() {
            self.gap(
                part,
                format!(
                    "{skipped} of {} {what} skipped as unreadable; problems: {}",
                    resources.len(),
                    first_and_more(&issues, ISSUES_SHOWN, "; ")
                ),
            );
        }
        out
    }

    fn account(&mut self, resources: &[Resource]) -> Option<Account> {
        let Some(first) = resources.first() else {
            self.gap(
                Part::Account,
                "Klaviyo returned no account for this key; check the key belongs to the client's account".into(),
            );
            return None;
        };
        let mut fields = Fields::new(first);
        let account = account_from(&mut fields);
        if !fields.issues.is_empty() {
            self.gap(
                Part::Account,
                format!(
                    "account settings are unreadable: {}",
                    fields.issues.join("; ")
                ),
            );
        }
        account
    }

    fn campaigns(
        &mut self,
        results: Vec<(&'static str, Result<Vec<Resource>, KlaviyoError>)>,
    ) -> Option<Vec<Campaign>> {
        let mut all: Option<Vec<Campaign>> = None;
        for (channel, r) in results {
            let what = format!("{channel} campaigns");
            if let Some(res) = self.take(Part::Campaigns, Endpoint::Campaigns, &what, r) {
                let mut converted = self.convert(Part::Campaigns, &what, &res, campaign_from);
                for c in &mut converted {
                    c.channel = channel.to_owned();
                }
                all.get_or_insert_with(Vec::new).append(&mut converted);
            }
        }
        all
    }

    /// Notes the problems found while reading `total` items of `what`, of
    /// which `skipped` were left out, as one gap (nothing when there were none).
    fn issues(&mut self, part: Part, what: &str, total: usize, skipped: usize, issues: &[String]) {
        if !issues.is_empty() {
            self.gap(
                part,
                format!(
                    "{skipped} of {total} {what} skipped as unreadable; problems: {}",
                    first_and_more(issues, ISSUES_SHOWN, "; ")
                ),
            );
        }
    }

    /// Each flow's steps, in flow order then step order, from the flows and
    /// the flow-actions included beside them; `None` (with a gap) when the
    /// flows name steps and none was included.
    fn flow_steps(&mut self, flows: &[Resource], included: &[Resource]) -> Option<Vec<FlowStep>> {
        let by_id: HashMap<&str, &Resource> = included
            .iter()
            .filter(|a| a.kind == "flow-action")
            .map(|a| (a.id.as_str(), a))
            .collect();
        let linked: Vec<(&str, Vec<String>)> = flows
            .iter()
            .map(|f| {
                let ids = relationship_items(f.relationships.get("flow-actions"))
                    .into_iter()
                    .filter(|(kind, _)| kind == "flow-action")
                    .map(|(_, id)| id)
                    .collect();
                (f.id.as_str(), ids)
            })
            .collect();
        let wanted: usize = linked.iter().map(|(_, ids)| ids.len()).sum();
        if wanted > 0 && by_id.is_empty() {
            self.gap(
                Part::FlowSteps,
                "Klaviyo did not include the flows' steps (`include=flow-actions`)".into(),
            );
            return None;
        }
        let (mut steps, mut issues, mut missing, mut total) = (Vec::new(), Vec::new(), 0, 0);
        for (flow_id, ids) in linked {
            let found: Vec<&Resource> = ids
                .iter()
                .filter_map(|id| {
                    let a = by_id.get(id.as_str()).copied();
                    missing += usize::from(a.is_none());
                    a
                })
                .collect();
            for (position, a) in step_order(&found).into_iter().enumerate() {
                total += 1;
                let mut fields = Fields::new(a);
                if let Some(mut step) = step_from(&mut fields, flow_id, position) {
                    if let Some(m) = step.message.as_mut().filter(|m| m.id.is_empty()) {
                        // Older shapes leave the id out of the definition; the relationship has it.
                        if let Some((_, id)) =
                            relationship_items(a.relationships.get("flow-messages"))
                                .into_iter()
                                .next()
                        {
                            m.id = id;
                        }
                    }
                    steps.push(step);
                }
                issues.append(&mut fields.issues);
            }
        }
        let skipped = total - steps.len();
        self.issues(Part::FlowSteps, "flow steps", total, skipped, &issues);
        if missing > 0 {
            self.gap(
                Part::FlowSteps,
                format!("{missing} of {wanted} flow steps were named but not included"),
            );
        }
        Some(steps)
    }

    /// One row per campaign: counts summed over its messages, rates
    /// weighted by what each message delivered.
    fn campaign_stats(&mut self, report: &Report) -> Vec<CampaignStats> {
        let mut out: Vec<CampaignStats> = Vec::new();
        let mut issues = Vec::new();
        let mut skipped = 0;
        for (i, row) in report.rows.iter().enumerate() {
            let Some(id) = grouping(row, "campaign_id") else {
                issues.push(format!("result {i} has no `campaign_id`"));
                skipped += 1;
                continue;
            };
            let mut stat = |name: &str| stat_number(row, name, &mut issues, i);
            let s = CampaignStats {
                campaign_id: id.to_owned(),
                recipients: stat("recipients"),
                delivered: stat("delivered"),
                bounce_rate: stat("bounce_rate"),
                spam_complaint_rate: stat("spam_complaint_rate"),
                unsubscribe_rate: stat("unsubscribe_rate"),
                open_rate: stat("open_rate"),
                click_rate: stat("click_rate"),
                conversion_value: stat("conversion_value"),
                conversions: stat("conversions"),
            };
            match out.iter_mut().find(|c| c.campaign_id == s.campaign_id) {
                Some(c) => merge_campaign(c, &s),
                None => out.push(s),
            }
        }
        self.issues(
            Part::CampaignReport,
            "campaign report results",
            report.rows.len(),
            skipped,
            &issues,
        );
        out
    }

    /// Daily series per flow (the messages of a flow summed), placed by
    /// date into [`FLOW_SERIES_DAYS`] days from `start`.
    fn flow_series(&mut self, report: &Report, start: DateTime<Utc>) -> Vec<FlowSeries> {
        let days = FLOW_SERIES_DAYS as usize;
        // Klaviyo buckets days in the account's timezone: its midnights sit
        // up to 14 hours off UTC's, so a bucket goes to the nearest UTC day.
        let slots: Vec<Option<usize>> = report
            .date_times
            .iter()
            .map(|t| {
                let d = ((*t - start).num_seconds() as f64 / 86_400.0).round();
                (d >= 0.0 && (d as usize) < days).then_some(d as usize)
            })
            .collect();
        let mut by_flow: BTreeMap<String, [Vec<f64>; 6]> = BTreeMap::new();
        let mut issues = Vec::new();
        let mut skipped = 0;
        for (i, row) in report.rows.iter().enumerate() {
            let Some(id) = grouping(row, "flow_id") else {
                issues.push(format!("result {i} has no `flow_id`"));
                skipped += 1;
                continue;
            };
            let series = by_flow
                .entry(id.to_owned())
                .or_insert_with(|| std::array::from_fn(|_| vec![0.0; days]));
            for (k, name) in FLOW_SERIES_STATS.iter().enumerate() {
                let values = match row.statistics.get(*name) {
                    Some(Value::Array(v)) if v.len() == slots.len() => v,
                    Some(Value::Array(v)) => {
                        issues.push(format!(
                            "result {i} has {} `{name}` values for {} days",
                            v.len(),
                            slots.len()
                        ));
                        continue;
                    }
                    _ => {
                        issues.push(format!("result {i} has no `{name}` series"));
                        continue;
                    }
                };
                for (slot, v) in slots.iter().zip(values) {
                    if let Some(j) = slot {
                        series[k][*j] += v.as_f64().unwrap_or(0.0);
                    }
                }
            }
        }
        self.issues(
            Part::FlowSeries,
            "flow report results",
            report.rows.len(),
            skipped,
            &issues,
        );
        by_flow
            .into_iter()
            .map(|(flow_id, s)| {
                let [
                    recipients,
                    bounced,
                    spam_complaints,
                    unsubscribes,
                    conversion_value,
                    conversions,
                ] = s;
                FlowSeries {
                    flow_id,
                    start,
                    recipients,
                    bounced,
                    spam_complaints,
                    unsubscribes,
                    conversion_value,
                    conversions,
                }
            })
            .collect()
    }

    /// Submissions per form in the recent window (days from `recent_from`)
    /// and the baseline (the days before): every form read (zeros where the
    /// report has no row for it: Klaviyo leaves out forms with no data),
    /// then any other form the report names.
    fn form_stats(
        &mut self,
        report: &Report,
        recent_from: DateTime<Utc>,
        forms: &[Form],
    ) -> Vec<FormStats> {
        let mut issues = Vec::new();
        let mut out: Vec<FormStats> = forms
            .iter()
            .map(|f| FormStats {
                form_id: f.id.clone(),
                submits_48h: 0.0,
                submits_30d: 0.0,
            })
            .collect();
        for (i, row) in report.rows.iter().enumerate() {
            let Some(id) = grouping(row, "form_id") else {
                issues.push(format!("result {i} has no `form_id`"));
                continue;
            };
            let values = match row.statistics.get("submits") {
                Some(Value::Array(v)) if v.len() == report.date_times.len() => v,
                _ => {
                    issues.push(format!(
                        "result {i} has no `submits` series of {} days",
                        report.date_times.len()
                    ));
                    continue;
                }
            };
            let k = match out.iter().position(|s| s.form_id == id) {
                Some(k) => k,
                None => {
                    out.push(FormStats {
                        form_id: id.to_owned(),
                        submits_48h: 0.0,
                        submits_30d: 0.0,
                    });
                    out.len() - 1
                }
            };
            for (t, v) in report.date_times.iter().zip(values) {
                let n = v.as_f64().unwrap_or(0.0);
                if *t >= recent_from {
                    out[k].submits_48h += n;
                } else {
                    out[k].submits_30d += n;
                }
            }
        }
        let skipped = issues.len();
        self.issues(
            Part::FormReport,
            "form report results",
            report.rows.len(),
            skipped,
            &issues,
        );
        out
    }

    /// Activity for every known metric, or `None` if any aggregate failed:
    /// a metric missing from the map must mean "not in the account".
    fn activity(
        &mut self,
        results: Option<ActivityResults>,
        now: DateTime<Utc>,
    ) -> Option<BTreeMap<KnownMetric, Activity>> {
        let Some(results) = results else {
            self.gap(
                Part::Activity,
                "activity was not fetched because the metrics could not be fetched".into(),
            );
            return None;
        };
        let (start, _) = activity_window(now);
        let mut map = BTreeMap::new();
        let mut complete = true;
        for (metric, id, placed, latest) in results {
            let what = format!("{} activity", metric.klaviyo_name());
            let Some(Placed { counts, values }) =
                self.take(Part::Activity, Endpoint::MetricAggregates, &what, placed)
            else {
                complete = false;
                continue;
            };
            let what = format!("the newest {} event", metric.klaviyo_name());
            let last_event_at =
                match latest.map(|r| self.take(Part::Activity, Endpoint::Events, &what, r)) {
                    Some(Some(Some(event))) => {
                        let t = event_time(&event);
                        if t.is_none() {
                            self.gap(
                                Part::Activity,
                                format!("{what} has no readable `datetime` or `timestamp`"),
                            );
                        }
                        t
                    }
                    _ => None,
                };
            map.insert(
                metric,
                Activity {
                    metric_id: id,
                    start,
                    counts,
                    values,
                    last_event_at,
                },
            );
        }
        complete.then_some(map)
    }
}

/// An aggregate's values in the hourly buckets of `[start, end)`.
#[derive(Debug, Clone, PartialEq)]
struct Placed {
    counts: Vec<f64>,
    /// Empty unless `sum_value` was asked for (only revenue's is read).
    values: Vec<f64>,
}

/// Places each value by its date, so a server that omits empty buckets or
/// starts a bucket early cannot shift the series.
fn place(series: &AggregateSeries, start: DateTime<Utc>, end: DateTime<Utc>) -> Placed {
    let buckets = (end - start).num_hours().max(0) as usize;
    let mut counts = vec![0.0; buckets];
    let mut values = vec![
        0.0;
        if series.sum_value.is_empty() {
            0
        } else {
            buckets
        }
    ];
    for (i, date) in series.dates.iter().enumerate() {
        let offset = (*date - start).num_seconds();
        if offset < 0 {
            continue;
        }
        let idx = (offset / 3600) as usize;
        if idx >= buckets {
            continue;
        }
        counts[idx] += series.count.get(i).copied().unwrap_or(0.0);
        if let Some(v) = values.get_mut(idx) {
            *v += series.sum_value.get(i).copied().unwrap_or(0.0);
        }
    }
    Placed { counts, values }
}

/// `datetime` (RFC 3339), else `timestamp` (Unix seconds).
fn event_time(event: &Resource) -> Option<DateTime<Utc>> {
    let a = &event.attributes;
    a.get("datetime")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            a.get("timestamp")
                .and_then(Value::as_i64)
                .and_then(|s| DateTime::from_timestamp(s, 0))
        })
}

/// Reads one resource's attributes, noting every problem instead of failing.
struct Fields<'a> {
    id: &'a str,
    kind: &'a str,
    attrs: &'a Value,
    issues: Vec<String>,
}

impl<'a> Fields<'a> {
    fn new(r: &'a Resource) -> Self {
        let mut f = Self {
            id: &r.id,
            kind: &r.kind,
            attrs: &r.attributes,
            issues: Vec::new(),
        };
        if !r.attributes.is_object() {
            f.issue("has no attributes".into());
        }
        f
    }

    fn issue(&mut self, what: String) {
        self.issues
            .push(format!("{} {} {what}", self.kind, self.id));
    }

    /// A value at a dotted path, `None` when missing or null.
    fn get(&self, key: &str) -> Option<&'a Value> {
        let mut v = self.attrs;
        for part in key.split('.') {
            v = v.get(part)?;
        }
        (!v.is_null()).then_some(v)
    }

    /// A string that must be there.
    fn req_str(&mut self, key: &str) -> Option<String> {
        match self.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.issue(format!("has a non-text `{key}`"));
                None
            }
            None => {
                self.issue(format!("has no `{key}`"));
                None
            }
        }
    }

    /// A string that may be missing or null.
    fn opt_str(&mut self, key: &str) -> Option<String> {
        match self.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.issue(format!("has a non-text `{key}`"));
                None
            }
            None => None,
        }
    }

    fn bool_or(&mut self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.issue(format!("has a non-boolean `{key}`"));
                default
            }
            None => default,
        }
    }

    /// A time that may be missing; present but unparseable is an issue.
    fn opt_time(&mut self, key: &str) -> Option<DateTime<Utc>> {
        let v = self.get(key)?;
        let parsed = v
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        if parsed.is_none() {
            self.issue(format!("has an unreadable `{key}` ({v})"));
        }
        parsed
    }

    /// A time that may be missing, in RFC 3339 or Klaviyo's
    /// `YYYY-MM-DDTHH:MM:SS[.ffffff]` without an offset (UTC).
    fn lenient_time(&mut self, key: &str) -> Option<DateTime<Utc>> {
        let v = self.get(key)?;
        let text = v.as_str().unwrap_or_default();
        let parsed = DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|t| t.and_utc())
            });
        if parsed.is_none() {
            self.issue(format!("has an unreadable `{key}` ({v})"));
        }
        parsed
    }

    /// A created/updated pair: one missing borrows the other (noted); both
    /// missing makes the resource unreadable.
    fn time_pair(
        &mut self,
        created: &str,
        updated: &str,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        match (self.opt_time(created), self.opt_time(updated)) {
            (Some(c), Some(u)) => Some((c, u)),
            (Some(c), None) => {
                self.issue(format!("has no `{updated}`; using `{created}`"));
                Some((c, c))
            }
            (None, Some(u)) => {
                self.issue(format!("has no `{created}`; using `{updated}`"));
                Some((u, u))
            }
            (None, None) => {
                self.issue(format!("has neither `{created}` nor `{updated}`"));
                None
            }
        }
    }

    fn u64_opt(&mut self, key: &str) -> Option<u64> {
        let v = self.get(key)?;
        let n = v.as_u64();
        if n.is_none() {
            self.issue(format!("has a non-count `{key}` ({v})"));
        }
        n
    }
}

fn flow_from(f: &mut Fields<'_>) -> Option<Flow> {
    let name = f.opt_str("name").unwrap_or_default();
    let status = match f.req_str("status")?.to_ascii_lowercase().as_str() {
        "draft" => FlowStatus::Draft,
        "manual" => FlowStatus::Manual,
        "live" => FlowStatus::Live,
        other => {
            f.issue(format!("has an unknown status `{other}`"));
            return None;
        }
    };
    let archived = f.bool_or("archived", false);
    // Null in the spec means no trigger was set up.
    let trigger_type = f
        .opt_str("trigger_type")
        .unwrap_or_else(|| "Unconfigured".into());
    let (created, updated) = f.time_pair("created", "updated")?;
    Some(Flow {
        id: f.id.to_owned(),
        name,
        status,
        archived,
        trigger_type,
        trigger_metric: None,
        trigger_list_id: None,
        created,
        updated,
    })
}

fn campaign_from(f: &mut Fields<'_>) -> Option<Campaign> {
    let name = f.opt_str("name").unwrap_or_default();
    let status = f.req_str("status")?;
    let archived = f.bool_or("archived", false);
    let included_audiences = match f.get("audiences.included") {
        Some(Value::Array(items)) => {
            let ids: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            if ids.len() != items.len() {
                f.issue("has a non-text audience id".into());
            }
            ids
        }
        Some(_) => {
            f.issue("has a malformed `audiences.included`".into());
            Vec::new()
        }
        None => {
            f.issue("has no `audiences.included`".into());
            Vec::new()
        }
    };
    let send_time = f.opt_time("send_time");
    let scheduled_at = f.opt_time("scheduled_at");
    let (created_at, updated_at) = f.time_pair("created_at", "updated_at")?;
    Some(Campaign {
        id: f.id.to_owned(),
        name,
        // Set by the caller from the channel it asked for.
        channel: String::new(),
        status,
        archived,
        included_audiences,
        send_time,
        scheduled_at,
        created_at,
        updated_at,
    })
}

fn list_from(f: &mut Fields<'_>) -> Option<List> {
    let name = f.opt_str("name").unwrap_or_default();
    let opt_in_process = f.opt_str("opt_in_process");
    let (created, updated) = f.time_pair("created", "updated")?;
    let profile_count = f.u64_opt("profile_count");
    Some(List {
        id: f.id.to_owned(),
        name,
        opt_in_process,
        created,
        updated,
        profile_count,
    })
}

fn metric_from(f: &mut Fields<'_>) -> Option<Metric> {
    let name = f.req_str("name")?;
    let integration = match f.get("integration") {
        Some(Value::Object(_)) => f.opt_str("integration.name"),
        Some(_) => {
            f.issue("has a malformed `integration`".into());
            None
        }
        None => None,
    };
    Some(Metric {
        id: f.id.to_owned(),
        name,
        integration,
    })
}

/// The account; a missing address block or timezone makes it unreadable
/// rather than "empty", so no check mistakes a parse failure for a missing address.
fn account_from(f: &mut Fields<'_>) -> Option<Account> {
    if !matches!(f.get("contact_information"), Some(Value::Object(_))) {
        f.issue("has no `contact_information`".into());
        return None;
    }
    let organization_name = f
        .opt_str("contact_information.organization_name")
        .unwrap_or_default();
    let sender_address = match f.get("contact_information.street_address") {
        Some(Value::Object(addr)) => ["address1", "address2", "city", "region", "zip", "country"]
            .iter()
            .filter_map(|k| addr.get(*k).and_then(Value::as_str))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        _ => {
            f.issue("has no `contact_information.street_address`".into());
            return None;
        }
    };
    let industry = f.opt_str("industry");
    let timezone = f.req_str("timezone");
    let preferred_currency = f.req_str("preferred_currency");
    Some(Account {
        id: f.id.to_owned(),
        organization_name,
        sender_address,
        industry,
        timezone: timezone?,
        preferred_currency: preferred_currency?,
    })
}

/// A report row's grouping value as text.
fn grouping<'a>(row: &'a ReportRow, key: &str) -> Option<&'a str> {
    row.groupings.get(key).and_then(Value::as_str)
}

/// A report row's statistic; missing or not a number is noted and read as 0.
fn stat_number(row: &ReportRow, name: &str, issues: &mut Vec<String>, i: usize) -> f64 {
    match row.statistics.get(name) {
        Some(v) if v.is_number() => v.as_f64().unwrap_or(0.0),
        // Klaviyo sends null where a rate has no denominator.
        Some(Value::Null) => 0.0,
        _ => {
            issues.push(format!("result {i} has no number `{name}`"));
            0.0
        }
    }
}

/// Adds another message's statistics to a campaign's.
fn merge_campaign(c: &mut CampaignStats, s: &CampaignStats) {
    let weight = |x: &CampaignStats| {
        if x.delivered > 0.0 {
            x.delivered
        } else {
            x.recipients
        }
    };
    let (wa, wb) = (weight(c), weight(s));
    let mix = |a: f64, b: f64| {
        if wa + wb > 0.0 {
            (a * wa + b * wb) / (wa + wb)
        } else {
            a.max(b)
        }
    };
    c.bounce_rate = mix(c.bounce_rate, s.bounce_rate);
    c.spam_complaint_rate = mix(c.spam_complaint_rate, s.spam_complaint_rate);
    c.unsubscribe_rate = mix(c.unsubscribe_rate, s.unsubscribe_rate);
    c.open_rate = mix(c.open_rate, s.open_rate);
    c.click_rate = mix(c.click_rate, s.click_rate);
    c.recipients += s.recipients;
    c.delivered += s.delivered;
    c.conversion_value += s.conversion_value;
    c.conversions += s.conversions;
}

/// How many of the newest Placed Order events lack a `$value` (a number,
/// or a numeric string as some integrations send).
fn order_values(events: &[Resource]) -> OrderValues {
    let has_value = |e: &Resource| match e
        .attributes
        .get("event_properties")
        .and_then(|p| p.get("$value"))
    {
        Some(Value::Number(_)) => true,
        Some(Value::String(s)) => s.trim().parse::<f64>().is_ok(),
        _ => false,
    };
    let without = events.iter().filter(|e| !has_value(e)).count();
    OrderValues {
        events: u32::try_from(events.len()).unwrap_or(u32::MAX),
        without_value: u32::try_from(without).unwrap_or(u32::MAX),
    }
}

/// Texts per recipient, with the region of each from the included profiles.
fn sms_recipients(events: &[Resource], profiles: &[Resource]) -> Vec<SmsRecipient> {
    let regions: HashMap<&str, &str> = profiles
        .iter()
        .filter(|p| p.kind == "profile")
        .filter_map(|p| {
            let region = p.attributes.get("location")?.get("region")?.as_str()?;
            Some((p.id.as_str(), region))
        })
        .collect();
    let mut texts: BTreeMap<String, u32> = BTreeMap::new();
    for e in events {
        if let Some((_, id)) = relationship_items(e.relationships.get("profile"))
            .into_iter()
            .find(|(kind, _)| kind == "profile")
        {
            *texts.entry(id).or_default() += 1;
        }
    }
    texts
        .into_iter()
        .map(|(profile_id, texts)| SmsRecipient {
            region: regions
                .get(profile_id.as_str())
                .filter(|r| !r.is_empty())
                .map(|r| (*r).to_owned()),
            profile_id,
            texts,
        })
        .collect()
}

/// The id a flow-action's definition goes by (its `links` name these),
/// else the resource id.
fn action_key(a: &Resource) -> &str {
    a.attributes
        .get("definition")
        .and_then(|d| d.get("id"))
        .and_then(Value::as_str)
        .unwrap_or(&a.id)
}

/// The actions a flow-action's definition links to, `next` (or the split's
/// `next_if_true`) first.
fn action_links(a: &Resource) -> Vec<&str> {
    let links = a.attributes.get("definition").and_then(|d| d.get("links"));
    ["next", "next_if_true", "next_if_false"]
        .iter()
        .filter_map(|k| links.and_then(|l| l.get(*k)).and_then(Value::as_str))
        .collect()
}

/// A flow's steps in the order the flow runs them: from each step no other
/// links to, along the links (a split's true branch first); steps the
/// links do not reach (no links at all, or a cycle) follow in the order given.
fn step_order<'a>(actions: &[&'a Resource]) -> Vec<&'a Resource> {
    let pointed: std::collections::HashSet<&str> =
        actions.iter().flat_map(|a| action_links(a)).collect();
    let mut stack: Vec<&Resource> = actions
        .iter()
        .rev()
        .filter(|a| !pointed.contains(action_key(a)))
        .copied()
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(actions.len());
    while let Some(a) = stack.pop() {
        if !seen.insert(action_key(a)) {
            continue;
        }
        out.push(a);
        for next in action_links(a).into_iter().rev() {
            if let Some(n) = actions.iter().find(|x| action_key(x) == next) {
                stack.push(n);
            }
        }
    }
    for a in actions {
        if !seen.contains(action_key(a)) {
            out.push(a);
        }
    }
    out
}

fn step_from(f: &mut Fields<'_>, flow_id: &str, position: usize) -> Option<FlowStep> {
    let kind = match f.req_str("definition.type")?.as_str() {
        "send-email" => StepKind::Email,
        "send-sms" => StepKind::Sms,
        "time-delay" => StepKind::Delay,
        "conditional-split" | "trigger-split" => StepKind::Split,
        _ => StepKind::Other,
    };
    let (_, updated) = f.time_pair("created", "updated")?;
    let sends = matches!(kind, StepKind::Email | StepKind::Sms);
    let status = if sends {
        f.opt_str("definition.data.status")
    } else {
        None
    };
    let delay_hours = if kind == StepKind::Delay {
        delay_hours(f)
    } else {
        None
    };
    let message = if sends {
        step_message(f, kind, updated)
    } else {
        None
    };
    Some(FlowStep {
        id: f.id.to_owned(),
        flow_id: flow_id.to_owned(),
        position,
        kind,
        status,
        delay_hours,
        message,
        updated,
    })
}

/// A time delay's wait in hours (`data.unit` and `data.value`).
fn delay_hours(f: &mut Fields<'_>) -> Option<f64> {
    let unit = f.opt_str("definition.data.unit")?;
    let value = f.get("definition.data.value").and_then(Value::as_f64);
    let per = match unit.to_ascii_lowercase().as_str() {
        "minutes" => 1.0 / 60.0,
        "hours" => 1.0,
        "days" => 24.0,
        "weeks" => 168.0,
        other => {
            f.issue(format!("has an unknown delay unit `{other}`"));
            return None;
        }
    };
    if value.is_none() {
        f.issue("has no number `definition.data.value`".into());
    }
    value.map(|v| v * per)
}

/// A send step's message; the step's own `updated` stands for the
/// message's, since editing a message edits its step.
fn step_message(f: &mut Fields<'_>, kind: StepKind, updated: DateTime<Utc>) -> Option<StepMessage> {
    if !matches!(f.get("definition.data.message"), Some(Value::Object(_))) {
        f.issue("is a send step without a message".into());
        return None;
    }
    let key = |k: &str| format!("definition.data.message.{k}");
    let sms = kind == StepKind::Sms;
    Some(StepMessage {
        id: f.opt_str(&key("id")).unwrap_or_default(),
        name: f.opt_str(&key("name")).unwrap_or_default(),
        subject: if sms {
            None
        } else {
            f.opt_str(&key("subject_line"))
        },
        body: if sms { f.opt_str(&key("body")) } else { None },
        template_id: f.opt_str(&key("template_id")),
        smart_sending: f.bool_or(&key("smart_sending_enabled"), false),
        transactional: f.bool_or(&key("transactional"), false),
        sms_quiet_hours: if sms {
            f.get(&key("sms_quiet_hours_enabled"))
                .and_then(Value::as_bool)
        } else {
            None
        },
        updated,
    })
}

fn template_from(f: &mut Fields<'_>) -> Option<Template> {
    let name = f.opt_str("name").unwrap_or_default();
    // Drag-and-drop templates may come without HTML.
    let html = f.opt_str("html").unwrap_or_default();
    let Some(updated) = f.opt_time("updated") else {
        f.issue("has no `updated`".into());
        return None;
    };
    Some(Template {
        id: f.id.to_owned(),
        name,
        html,
        updated,
    })
}

fn segment_from(f: &mut Fields<'_>) -> Option<Segment> {
    let name = f.opt_str("name").unwrap_or_default();
    let (created, updated) = f.time_pair("created", "updated")?;
    Some(Segment {
        id: f.id.to_owned(),
        name,
        profile_count: None,
        created,
        updated,
    })
}

fn form_from(f: &mut Fields<'_>) -> Option<Form> {
    let name = f.opt_str("name").unwrap_or_default();
    let status = f.req_str("status")?;
    let Some(updated) = f.opt_time("updated_at") else {
        f.issue("has no `updated_at`".into());
        return None;
    };
    Some(Form {
        id: f.id.to_owned(),
        name,
        status,
        updated,
    })
}

/// A catalog item's `updated`, all a snapshot keeps of it.
fn item_updated(f: &mut Fields<'_>) -> Option<DateTime<Utc>> {
    let t = f.opt_time("updated");
    if t.is_none() && f.get("updated").is_none() {
        f.issue("has no `updated`".into());
    }
    t
}

fn profile_from(f: &mut Fields<'_>) -> Option<ProfileConsent> {
    let Some(created) = f.opt_time("created") else {
        f.issue("has no `created`".into());
        return None;
    };
    let email = "subscriptions.email.marketing";
    let double = f
        .get(&format!("{email}.double_optin"))
        .and_then(Value::as_bool)
        == Some(true);
    let method = f.opt_str(&format!("{email}.method"));
    Some(ProfileConsent {
        id: f.id.to_owned(),
        country: f.opt_str("location.country").filter(|s| !s.is_empty()),
        region: f.opt_str("location.region").filter(|s| !s.is_empty()),
        email_consent: f.opt_str(&format!("{email}.consent")),
        // A confirmed double opt-in is the strongest record, whatever form it came through.
        method: if double {
            Some("DOUBLE_OPT_IN".into())
        } else {
            method
        },
        consented_at: f.lenient_time(&format!("{email}.consent_timestamp")),
        created,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn res(kind: &str, id: &str, attributes: Value) -> Resource {
        Resource {
            kind: kind.into(),
            id: id.into(),
            attributes,
            relationships: Value::Null,
        }
    }

    fn series(counts: &[f64]) -> Activity {
        Activity {
            metric_id: "m".into(),
            start: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
            counts: counts.to_vec(),
            values: vec![],
            last_event_at: None,
        }
    }

    #[test]
    fn a_pulse_patches_the_latest_hours_and_keeps_the_series_length() {
        let hour = Activity::BUCKET;
        // The pulse read the series' last hour again and one new hour.
        let mut a = series(&[1.0, 2.0, 3.0, 4.0]);
        let start = a.start;
        patch(&mut a, start + hour * 3, &[40.0, 50.0]);
        assert_eq!(a.counts, [2.0, 3.0, 40.0, 50.0]);
        assert_eq!(a.start, start + hour);
        // Hours inside the series are replaced in place.
        let mut a = series(&[1.0, 2.0, 3.0, 4.0]);
        patch(&mut a, start + hour * 2, &[30.0, 40.0]);
        assert_eq!(a.counts, [1.0, 2.0, 30.0, 40.0]);
        assert_eq!(a.start, start);
        // A patch that would leave a hole, or lies before the series, is dropped.
        let mut a = series(&[1.0, 2.0]);
        patch(&mut a, start + hour * 3, &[9.0]);
        patch(&mut a, start - hour, &[9.0]);
        assert_eq!(a.counts, [1.0, 2.0]);
        // Values (revenue) stay aligned with counts.
        let mut a = series(&[1.0, 2.0]);
        a.values = vec![10.0, 20.0];
        patch(&mut a, start + hour * 2, &[3.0]);
        assert_eq!(
            (a.counts.clone(), a.values.clone()),
            (vec![2.0, 3.0], vec![20.0, 0.0])
        );
    }

    fn convert<T>(
        part: Part,
        items: &[Resource],
        f: fn(&mut Fields<'_>) -> Option<T>,
    ) -> (Vec<T>, Vec<Gap>) {
        let mut out = Outcome::default();
        let v = out.convert(part, "things", items, f);
        (v, out.gaps)
    }

    #[test]
    fn flows_parse_and_bad_ones_become_a_gap() {
        let good = res(
            "flow",
            "F1",
            json!({"name": "Welcome", "status": "live", "archived": false,
                   "trigger_type": "Added to List",
                   "created": "2025-01-01T00:00:00+00:00", "updated": "2026-10-01T12:00:00Z"}),
        );
        let no_status = res(
            "flow",
            "F2",
            json!({"name": "x", "created": "2025-01-01T00:00:00Z"}),
        );
        let odd_status = res(
            "flow",
            "F3",
            json!({"status": "paused", "created": "2025-01-01T00:00:00Z"}),
        );
        let bad_date = res(
            "flow",
            "F4",
            json!({"status": "draft", "created": "yesterday"}),
        );
        let not_object = res("flow", "F5", json!("oops"));
        let (flows, gaps) = convert(
            Part::Flows,
            &[good, no_status, odd_status, bad_date, not_object],
            flow_from,
        );
        assert_eq!(flows.len(), 1);
        assert_eq!(flows[0].status, FlowStatus::Live);
        assert!(flows[0].is_sending());
        assert_eq!(flows[0].trigger_type, "Added to List");
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].part, Part::Flows);
        assert!(
            gaps[0].reason.starts_with("4 of 5 things skipped"),
            "{}",
            gaps[0].reason
        );
        assert!(gaps[0].reason.contains("flow F2 has no `status`"));
        assert!(gaps[0].reason.contains("more"));
    }

    #[test]
    fn nullable_fields_default_without_a_gap() {
        let f = res(
            "flow",
            "F1",
            json!({"name": null, "status": "Draft", "archived": null, "trigger_type": null,
                   "created": "2025-01-01T00:00:00Z", "updated": "2025-01-02T00:00:00Z"}),
        );
        let (flows, gaps) = convert(Part::Flows, &[f], flow_from);
        assert!(gaps.is_empty(), "{gaps:?}");
        assert_eq!(flows[0].name, "");
        assert_eq!(flows[0].status, FlowStatus::Draft);
        assert_eq!(flows[0].trigger_type, "Unconfigured");
        assert!(!flows[0].archived);
    }

    #[test]
    fn campaigns_lists_and_metrics_parse() {
        let c = res(
            "campaign",
            "C1",
            json!({"name": "BFCM", "status": "Scheduled", "archived": false,
                   "audiences": {"included": ["L1", "S2"], "excluded": []},
                   "send_time": null, "scheduled_at": "2026-11-27T14:00:00Z",
                   "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-02T00:00:00Z"}),
        );
        let (cs, gaps) = convert(Part::Campaigns, &[c], campaign_from);
        assert!(gaps.is_empty(), "{gaps:?}");
        assert_eq!(cs[0].included_audiences, vec!["L1", "S2"]);
        assert!(cs[0].send_time.is_none());
        assert_eq!(
            cs[0].scheduled_at,
            Some(Utc.with_ymd_and_hms(2026, 11, 27, 14, 0, 0).unwrap())
        );

        let l = res(
            "list",
            "L1",
            json!({"name": "Newsletter", "opt_in_process": "double_opt_in",
                   "created": "2024-01-01T00:00:00Z", "updated": "2024-02-01T00:00:00Z",
                   "profile_count": 1200}),
        );
        let l_bad_count = res(
            "list",
            "L2",
            json!({"name": "X", "created": "2024-01-01T00:00:00Z", "updated": "2024-02-01T00:00:00Z", "profile_count": -3}),
        );
        let (ls, gaps) = convert(Part::Lists, &[l, l_bad_count], list_from);
        assert_eq!(ls[0].profile_count, Some(1200));
        assert_eq!(ls[1].profile_count, None);
        assert_eq!(gaps.len(), 1);
        assert!(gaps[0].reason.starts_with("0 of 2"));

        let m1 = res(
            "metric",
            "M1",
            json!({"name": "Placed Order", "integration": {"name": "Shopify", "category": "ecommerce"}}),
        );
        let m2 = res(
            "metric",
            "M2",
            json!({"name": "Clicked Email", "integration": null}),
        );
        let m3 = res("metric", "M3", json!({"integration": 5}));
        let (ms, gaps) = convert(Part::Metrics, &[m1, m2, m3], metric_from);
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[0].integration.as_deref(), Some("Shopify"));
        assert_eq!(ms[1].integration, None);
        assert!(gaps[0].reason.contains("metric M3 has no `name`"));
    }

    #[test]
    fn account_parses_and_a_missing_address_block_is_a_gap_not_an_empty_address() {
        let a = res(
            "account",
            "A1",
            json!({"contact_information": {"organization_name": "Acme",
                     "street_address": {"address1": "1 Main St", "address2": "", "city": "Springfield",
                                        "region": "IL", "country": "US", "zip": "62701"}},
                   "industry": null, "timezone": "America/Chicago", "preferred_currency": "USD"}),
        );
        let mut out = Outcome::default();
        let acc = out.account(&[a]).unwrap();
        assert!(out.gaps.is_empty());
        assert_eq!(acc.sender_address, "1 Main St, Springfield, IL, 62701, US");
        assert_eq!(acc.timezone, "America/Chicago");

        let broken = res(
            "account",
            "A2",
            json!({"timezone": "UTC", "preferred_currency": "USD"}),
        );
        let mut out = Outcome::default();
        assert!(out.account(&[broken]).is_none());
        assert_eq!(out.gaps[0].part, Part::Account);

        let mut out = Outcome::default();
        assert!(out.account(&[]).is_none());
        assert_eq!(out.gaps.len(), 1);
    }

    #[test]
    fn known_metrics_prefer_the_integrated_one() {
        let ms = [
            res(
                "metric",
                "api",
                json!({"name": "Placed Order", "integration": null}),
            ),
            res(
                "metric",
                "shop",
                json!({"name": "Placed Order", "integration": {"name": "Shopify"}}),
            ),
            res(
                "metric",
                "woo",
                json!({"name": "Placed Order", "integration": {"name": "WooCommerce"}}),
            ),
            res("metric", "other", json!({"name": "Custom thing"})),
            res("metric", "bad", json!({"name": 7})),
            res("metric", "rcv", json!({"name": "Received Email"})),
        ];
        let known = pick_known_metrics(&ms);
        assert_eq!(
            known,
            vec![
                (KnownMetric::PlacedOrder, "shop".to_owned()),
                (KnownMetric::ReceivedEmail, "rcv".to_owned())
            ]
        );
    }

    #[test]
    fn activity_window_includes_the_current_hour() {
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 15, 42, 10).unwrap();
        let (start, end) = activity_window(now);
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 11, 20, 16, 0, 0).unwrap());
        assert_eq!(start, end - Duration::days(28));
        assert_eq!((end - start).num_hours(), 672);
    }

    #[test]
    fn activity_aligns_buckets_by_date_and_fails_whole_on_one_error() {
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 15, 42, 0).unwrap();
        let (start, end) = activity_window(now);
        let series = AggregateSeries {
            // Only two buckets sent: the server left out empty ones.
            dates: vec![start + Duration::hours(1), end - Duration::hours(1)],
            count: vec![2.0, 5.0],
            sum_value: vec![40.0, 100.0],
        };
        let latest = res(
            "event",
            "E1",
            json!({"datetime": "2026-11-20T15:30:00+00:00"}),
        );
        let results: ActivityResults = vec![(
            KnownMetric::PlacedOrder,
            "M1".into(),
            Ok(place(&series, start, end)),
            Some(Ok(Some(latest))),
        )];
        let mut out = Outcome::default();
        let act = out.activity(Some(results), now).unwrap();
        assert!(out.gaps.is_empty(), "{:?}", out.gaps);
        let a = &act[&KnownMetric::PlacedOrder];
        assert_eq!(a.counts.len(), 672);
        assert_eq!(a.counts[1], 2.0);
        assert_eq!(a.counts[671], 5.0);
        assert_eq!(a.values[671], 100.0);
        assert_eq!(a.end(), end);
        assert_eq!(
            a.last_event_at,
            Some(Utc.with_ymd_and_hms(2026, 11, 20, 15, 30, 0).unwrap())
        );

        let failing: ActivityResults = vec![
            (
                KnownMetric::PlacedOrder,
                "M1".into(),
                Ok(place(&series, start, end)),
                None,
            ),
            (
                KnownMetric::ReceivedEmail,
                "M2".into(),
                Err(KlaviyoError::Server {
                    status: 503,
                    detail: "down".into(),
                }),
                None,
            ),
        ];
        let mut out = Outcome::default();
        assert!(out.activity(Some(failing), now).is_none());
        assert_eq!(out.gaps.len(), 1);
        assert!(out.gaps[0].reason.contains("Received Email"));

        let mut out = Outcome::default();
        assert!(out.activity(None, now).is_none());
        assert_eq!(out.gaps[0].part, Part::Activity);
    }

    #[test]
    fn metrics_name_the_flows_they_trigger_or_are_asked_one_by_one() {
        let mut checkout = res("metric", "MSC", json!({"name": "Started Checkout"}));
        checkout.relationships = json!({"flow-triggers": {"data": [
            {"type": "flow", "id": "F1"}, {"type": "flow", "id": "F2"}]}});
        let mut orders = res("metric", "MPO", json!({"name": "Placed Order"}));
        orders.relationships = json!({"flow-triggers": {"data": []}});
        let known = pick_known_metrics(&[checkout.clone(), orders.clone()]);
        let linked = linked_triggers(&[checkout.clone(), orders], &known).unwrap();
        let ids: Vec<(KnownMetric, Vec<String>)> =
            linked.into_iter().map(|(m, r)| (m, r.unwrap())).collect();
        assert_eq!(
            ids,
            [
                (KnownMetric::PlacedOrder, vec![]),
                (
                    KnownMetric::StartedCheckout,
                    vec!["F1".to_owned(), "F2".to_owned()]
                ),
            ]
        );
        // One metric without its linkage (a server that ignored `include`):
        // every metric is looked up instead.
        let bare = res("metric", "MPO", json!({"name": "Placed Order"}));
        let known = pick_known_metrics(&[checkout.clone(), bare.clone()]);
        assert!(linked_triggers(&[checkout, bare], &known).is_none());
    }

    #[test]
    fn event_times_and_list_triggers() {
        let by_ts = res("event", "E", json!({"timestamp": 1_700_000_000}));
        assert_eq!(event_time(&by_ts).unwrap().timestamp(), 1_700_000_000);
        assert!(event_time(&res("event", "E", json!({"datetime": "soon"}))).is_none());

        let mut flow = res("flow", "F1", json!({}));
        flow.relationships =
            json!({"tags": {"data": []}, "list": {"data": {"type": "list", "id": "L9"}}});
        let mut list = res("list", "L1", json!({}));
        list.relationships = json!({"flow-triggers": {"data": [{"type": "flow", "id": "F2"}]}});
        let mut map = lists_flow_triggers(&[list]);
        flows_own_lists(&[flow], &mut map);
        assert_eq!(map.get("F1").map(String::as_str), Some("L9"));
        assert_eq!(map.get("F2").map(String::as_str), Some("L1"));
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn a_401_is_kept_and_a_403_is_a_gap_naming_the_scope() {
        let mut out = Outcome::default();
        let r: Result<(), _> = Err(KlaviyoError::Unauthorized {
            account: "acme".into(),
            detail: "revoked".into(),
        });
        assert!(out.take(Part::Flows, Endpoint::Flows, "flows", r).is_none());
        assert!(out.gaps.is_empty());
        assert!(matches!(out.auth, Some(KlaviyoError::Unauthorized { .. })));

        let mut out = Outcome::default();
        let r: Result<(), _> = Err(KlaviyoError::Forbidden {
            account: "acme".into(),
            detail: "scope".into(),
        });
        assert!(out.take(Part::Lists, Endpoint::Lists, "lists", r).is_none());
        assert!(out.auth.is_none(), "a 403 does not end the scan");
        assert_eq!(out.gaps.len(), 1);
        assert_eq!(out.gaps[0].part, Part::Lists);
        assert_eq!(
            out.gaps[0].reason,
            "could not fetch lists: the key or grant lacks the `lists:read` scope (403); reconnect the account granting it"
        );
        let r: Result<(), _> = Err(KlaviyoError::Forbidden {
            account: "acme".into(),
            detail: "scope".into(),
        });
        let what = "the flows Placed Order triggers";
        assert!(
            out.take(Part::Flows, Endpoint::MetricFlowTriggers, what, r)
                .is_none()
        );
        assert!(
            out.gaps[1]
                .reason
                .contains("lacks one of the `flows:read`, `metrics:read` scopes (403)"),
            "{}",
            out.gaps[1].reason
        );

        let r: Result<(), _> = Err(KlaviyoError::Timeout);
        assert!(out.take(Part::Lists, Endpoint::Lists, "lists", r).is_none());
        assert_eq!(out.gaps.len(), 3);
        assert!(
            out.gaps[2]
                .reason
                .starts_with("could not fetch lists: Klaviyo did not answer")
        );
        assert!(out.auth.is_none());
    }

    #[test]
    fn texts_are_counted_per_recipient_with_the_included_region() {
        let doc = json!({
            "data": [
                {"type": "event", "id": "E1", "attributes": {"datetime": "2026-11-20T09:00:00+00:00"},
                 "relationships": {"profile": {"data": {"type": "profile", "id": "P1"}}}},
                {"type": "event", "id": "E2", "attributes": {"datetime": "2026-11-20T10:00:00+00:00"},
                 "relationships": {"profile": {"data": {"type": "profile", "id": "P1"}}}},
                {"type": "event", "id": "E3", "attributes": {"datetime": "2026-11-20T11:00:00+00:00"},
                 "relationships": {"profile": {"data": {"type": "profile", "id": "P2"}}}},
                {"type": "event", "id": "E4", "attributes": {}}
            ],
            "included": [
                {"type": "profile", "id": "P1", "attributes": {"location": {"region": "FL"}}},
                {"type": "profile", "id": "P2", "attributes": {"location": {"region": null}}}
            ]
        });
        let page = crate::klaviyo::Page::from_value(doc).unwrap();
        let r = sms_recipients(&page.data, &page.included);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(
            (r[0].profile_id.as_str(), r[0].region.as_deref(), r[0].texts),
            ("P1", Some("FL"), 2)
        );
        assert_eq!((r[1].region.as_deref(), r[1].texts), (None, 1));
    }

    #[test]
    fn steps_follow_their_links_and_map_each_kind() {
        let action = |id: &str, def: Value| {
            res(
                "flow-action",
                id,
                json!({"created": "2025-01-01T00:00:00Z", "updated": "2025-06-01T00:00:00Z",
                       "definition": def}),
            )
        };
        // Included out of order: the links decide.
        let email = action(
            "A2",
            json!({"id": "A2", "type": "send-email", "links": {"next": null},
                   "data": {"status": "draft", "message": {"id": "M1", "name": "Hi",
                   "subject_line": "Hello", "template_id": "T1", "smart_sending_enabled": true}}}),
        );
        let split = action(
            "A1",
            json!({"id": "A1", "type": "conditional-split",
                   "links": {"next_if_true": null, "next_if_false": "A2"}}),
        );
        let delay = action(
            "A0",
            json!({"id": "A0", "type": "time-delay", "links": {"next": "A1"},
                   "data": {"unit": "days", "value": 2}}),
        );
        let mut flow = res("flow", "F1", json!({}));
        flow.relationships = json!({"flow-actions": {"data": [
            {"type": "flow-action", "id": "A2"}, {"type": "flow-action", "id": "A1"},
            {"type": "flow-action", "id": "A0"}]}});
        let mut out = Outcome::default();
        let steps = out
            .flow_steps(&[flow.clone()], &[email, split, delay])
            .unwrap();
        assert!(out.gaps.is_empty(), "{:?}", out.gaps);
        let kinds: Vec<(StepKind, usize)> = steps.iter().map(|s| (s.kind, s.position)).collect();
        assert_eq!(
            kinds,
            [
                (StepKind::Delay, 0),
                (StepKind::Split, 1),
                (StepKind::Email, 2)
            ]
        );
        assert_eq!(steps[0].delay_hours, Some(48.0));
        assert_eq!(steps[0].status, None);
        let m = steps[2].message.as_ref().unwrap();
        assert_eq!(steps[2].status.as_deref(), Some("draft"));
        assert_eq!((m.id.as_str(), m.subject.as_deref()), ("M1", Some("Hello")));
        assert!(m.smart_sending && !m.transactional);
        assert_eq!(m.updated, steps[2].updated);

        // Steps named but not included: no part, and a gap that says so.
        let mut out = Outcome::default();
        assert!(out.flow_steps(&[flow], &[]).is_none());
        assert_eq!(out.gaps[0].part, Part::FlowSteps);
    }

    fn row(groupings: Value, statistics: Value) -> ReportRow {
        serde_json::from_value(json!({"groupings": groupings, "statistics": statistics})).unwrap()
    }

    #[test]
    fn flow_series_sum_a_flows_messages_by_day() {
        let start = Utc.with_ymd_and_hms(2026, 9, 25, 0, 0, 0).unwrap();
        // Days in an account timezone west of UTC: five hours after UTC midnight.
        let date_times = vec![
            start + Duration::hours(5),
            start + Duration::days(1) + Duration::hours(5),
        ];
        let stats = |a: f64, b: f64| {
            let mut m = serde_json::Map::new();
            for s in FLOW_SERIES_STATS {
                m.insert(s.into(), json!([a, b]));
            }
            Value::Object(m)
        };
        let report = Report {
            rows: vec![
                row(
                    json!({"flow_id": "F1", "flow_message_id": "M1"}),
                    stats(1.0, 2.0),
                ),
                row(
                    json!({"flow_id": "F1", "flow_message_id": "M2"}),
                    stats(10.0, 20.0),
                ),
                row(
                    json!({"flow_id": "F2", "flow_message_id": "M3"}),
                    json!({"recipients": [1]}),
                ),
            ],
            date_times,
        };
        let mut out = Outcome::default();
        let series = out.flow_series(&report, start);
        let f1 = series.iter().find(|s| s.flow_id == "F1").unwrap();
        assert_eq!(f1.recipients.len(), FLOW_SERIES_DAYS as usize);
        assert_eq!(&f1.recipients[..3], &[11.0, 22.0, 0.0]);
        assert_eq!(&f1.conversions[..2], &[11.0, 22.0]);
        assert_eq!(f1.start, start);
        // F2's row has a series of the wrong length: noted, not placed.
        assert_eq!(out.gaps.len(), 1);
        assert!(
            out.gaps[0]
                .reason
                .contains("1 `recipients` values for 2 days")
        );
    }

    #[test]
    fn form_stats_cover_every_form_and_campaign_messages_merge() {
        let form = |id: &str| Form {
            id: id.into(),
            name: "x".into(),
            status: "live".into(),
            updated: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 10, 30, 0).unwrap();
        let (recent_from, baseline_from) = form_windows(now);
        assert_eq!(
            recent_from,
            Utc.with_ymd_and_hms(2026, 11, 18, 0, 0, 0).unwrap()
        );
        assert_eq!(baseline_from, recent_from - Duration::days(30));
        let days: Vec<DateTime<Utc>> = (0..33).map(|d| baseline_from + Duration::days(d)).collect();
        // Ten a day, then one a day in the recent window.
        let fa: Vec<f64> = days
            .iter()
            .map(|t| if *t >= recent_from { 1.0 } else { 10.0 })
            .collect();
        let report = Report {
            rows: vec![
                row(json!({"form_id": "FA"}), json!({"submits": fa})),
                row(json!({"form_id": "FZ"}), json!({"submits": vec![0.5; 33]})),
                row(json!({"form_id": "FY"}), json!({"submits": [1]})),
            ],
            date_times: days,
        };
        let mut out = Outcome::default();
        let stats = out.form_stats(&report, recent_from, &[form("FA"), form("FB")]);
        let got: Vec<(&str, f64, f64)> = stats
            .iter()
            .map(|s| (s.form_id.as_str(), s.submits_48h, s.submits_30d))
            .collect();
        assert_eq!(
            got,
            [("FA", 3.0, 300.0), ("FB", 0.0, 0.0), ("FZ", 1.5, 15.0)]
        );
        assert_eq!(out.gaps.len(), 1, "FY's short series: {:?}", out.gaps);

        let msg = |delivered: f64, bounce: f64| {
            row(
                json!({"campaign_id": "C1", "campaign_message_id": "x"}),
                json!({"recipients": delivered, "delivered": delivered, "bounce_rate": bounce,
                       "spam_complaint_rate": 0, "unsubscribe_rate": 0, "open_rate": null,
                       "click_rate": 0, "conversion_value": 10, "conversions": 1}),
            )
        };
        let report = Report {
            rows: vec![msg(100.0, 0.01), msg(300.0, 0.03)],
            date_times: vec![],
        };
        let mut out = Outcome::default();
        let c = out.campaign_stats(&report);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].recipients, c[0].conversion_value), (400.0, 20.0));
        assert!(
            (c[0].bounce_rate - 0.025).abs() < 1e-9,
            "{}",
            c[0].bounce_rate
        );
        assert!(out.gaps.is_empty(), "a null rate is 0: {:?}", out.gaps);
    }

    #[test]
    fn orders_without_a_value_are_counted() {
        let ev = |props: Value| res("event", "E", json!({"event_properties": props}));
        let v = order_values(&[
            ev(json!({"$value": 12.5})),
            ev(json!({"$value": "19.99"})),
            ev(json!({"$value": null})),
            ev(json!({})),
            ev(json!({"$value": "n/a"})),
        ]);
        assert_eq!((v.events, v.without_value), (5, 3));
    }

    #[test]
    fn profiles_read_location_and_consent() {
        let p = res(
            "profile",
            "P1",
            json!({"created": "2026-10-01T00:00:00+00:00",
                   "location": {"country": "US", "region": "TX"},
                   "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED",
                     "method": "FORM", "double_optin": true,
                     "consent_timestamp": "2026-10-01T00:00:05.123456"}}}}),
        );
        let (ps, gaps) = convert(Part::Profiles, &[p], profile_from);
        assert!(gaps.is_empty(), "{gaps:?}");
        assert_eq!(ps[0].region.as_deref(), Some("TX"));
        assert_eq!(ps[0].method.as_deref(), Some("DOUBLE_OPT_IN"));
        assert_eq!(
            ps[0].consented_at.map(|t| t.timestamp()),
            Some(
                Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 5)
                    .unwrap()
                    .timestamp()
            )
        );
    }

    #[test]
    fn each_endpoint_names_the_scopes_the_spec_gives_it() {
        for e in Endpoint::ALL {
            let (method, path, scopes) = e.spec();
            let op = crate::klaviyo::limits::operation(method, path)
                .unwrap_or_else(|| panic!("{method} {path} is not in the spec"));
            assert_eq!(op.path, path, "{e:?}");
            assert_eq!(op.scopes, scopes, "{e:?}: {method} {path}");
            assert!(scopes.iter().all(|s| s.ends_with(":read")), "{e:?}");
        }
        let read: Vec<&str> = Endpoint::ALL
            .iter()
            .flat_map(|e| e.spec().2.iter().copied())
            .collect();
        for scope in [
            "accounts:read",
            "flows:read",
            "campaigns:read",
            "lists:read",
            "metrics:read",
            "events:read",
            "templates:read",
            "segments:read",
            "forms:read",
            "catalogs:read",
            "profiles:read",
        ] {
            assert!(read.contains(&scope), "{scope}");
            assert!(
                crate::config::READ_SCOPES.contains(&scope),
                "Lookout asks for {scope}"
            );
        }
    }
}
