//! Prometheus metrics: one process-wide recorder (installed when the ops
//! listener is on; until then every recording here is a no-op), the small
//! functions the stages call, and the gauges `/metrics` reads from the store
//! at scrape time.
//!
//! Labels carry only bounded, non-personal values: client slugs, scan kinds,
//! endpoint templates (ids replaced by `{id}`), platforms and outcomes; never
//! finding ids, tokens, emails or message text.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::domain::Severity;
use crate::findings::FindingState;
use crate::store::{Store, StoreError};

/// Histogram `{client, kind}`: how long each scan took, in seconds.
pub const SCAN_DURATION: &str = "lookout_scan_duration_seconds";
/// Counter `{endpoint, status}`: Klaviyo requests by answer (`2xx`, `4xx`, `429`, `5xx`, `error`).
pub const KLAVIYO_CALLS: &str = "lookout_klaviyo_calls_total";
/// Counter `{endpoint}`: Klaviyo 429 (rate-limited) answers.
pub const KLAVIYO_429: &str = "lookout_klaviyo_rate_limited_total";
/// Gauge: scans and pulses due but waiting for room at the scheduler's last tick.
pub const QUEUE_DEPTH: &str = "lookout_scheduler_queue_depth";
/// Gauge: seconds since the oldest undelivered outbox row was written (0 when none).
pub const OUTBOX_LAG: &str = "lookout_outbox_lag_seconds";
/// Gauge: undelivered outbox rows.
pub const OUTBOX_PENDING: &str = "lookout_outbox_pending";
/// Counter `{platform, reason}`: outbox rows scheduled for another attempt.
pub const OUTBOX_RETRIES: &str = "lookout_outbox_retries_total";
/// Counter `{platform, outcome}`: outbox delivery attempts by outcome (`sent`, `retry`, `failed`).
pub const OUTBOX_DELIVERIES: &str = "lookout_outbox_deliveries_total";
/// Gauge `{state, severity}`: findings in the store.
pub const FINDINGS: &str = "lookout_findings";
/// Counter: work leases taken over from a process that stopped renewing them.
pub const LEASES_TAKEN_OVER: &str = "lookout_leases_taken_over_total";
/// Gauge `{version}`: always 1; the running build.
pub const BUILD_INFO: &str = "lookout_build_info";

/// Upper bounds (seconds) of the scan-duration buckets: a pulse takes
/// seconds, a full scan of a large account minutes.
const SCAN_BUCKETS: &[f64] = &[0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// The recorder could not be installed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MetricsError {
    /// Another metrics recorder is already installed in this process.
    #[error("cannot install the Prometheus recorder: {0}")]
    Install(String),
}

static HANDLE: OnceLock<Result<PrometheusHandle, MetricsError>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (the first call does; later
/// ones return the same handle) and registers every series that must show
/// before anything happens.
pub fn install() -> Result<&'static PrometheusHandle, MetricsError> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(SCAN_DURATION.to_owned()), SCAN_BUCKETS)
                .map_err(|e| MetricsError::Install(e.to_string()))?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder)
                .map_err(|e| MetricsError::Install(e.to_string()))?;
            describe();
            Ok(handle)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Describes each metric and gives the unlabelled ones their first value,
/// so a scrape shows them from the start.
fn describe() {
    describe_histogram!(SCAN_DURATION, "Seconds each scan took, by client and kind.");
    describe_counter!(
        KLAVIYO_CALLS,
        "Klaviyo API requests, by endpoint and answer."
    );
    describe_counter!(KLAVIYO_429, "Klaviyo 429 answers, by endpoint.");
    describe_gauge!(
        QUEUE_DEPTH,
        "Scans and pulses due but waiting for room at the scheduler's last tick."
    );
    describe_gauge!(
        OUTBOX_LAG,
        "Seconds since the oldest undelivered outbox row was written."
    );
    describe_gauge!(OUTBOX_PENDING, "Undelivered outbox rows.");
    describe_counter!(
        OUTBOX_RETRIES,
        "Outbox rows scheduled for another attempt, by platform and reason."
    );
    describe_counter!(
        OUTBOX_DELIVERIES,
        "Outbox delivery attempts, by platform and outcome."
    );
    describe_gauge!(FINDINGS, "Findings in the store, by state and severity.");
    describe_counter!(
        LEASES_TAKEN_OVER,
        "Work leases taken over from a process that stopped renewing them."
    );
    describe_gauge!(BUILD_INFO, "The running build.");
    counter!(LEASES_TAKEN_OVER).increment(0);
    gauge!(QUEUE_DEPTH).set(0.0);
    gauge!(OUTBOX_LAG).set(0.0);
    gauge!(OUTBOX_PENDING).set(0.0);
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Renders every metric in the Prometheus text format; empty when the
/// recorder is not installed.
pub fn render() -> String {
    match HANDLE.get() {
        Some(Ok(h)) => {
            // Folds recorded histogram samples into their buckets.
            h.run_upkeep();
            h.render()
        }
        _ => String::new(),
    }
}

/// Folds recorded histogram samples into their buckets, so memory stays
/// bounded between scrapes.
pub fn run_upkeep() {
    if let Some(Ok(h)) = HANDLE.get() {
        h.run_upkeep();
    }
}

/// Records a finished scan (`kind` is `full` or `pulse`).
pub fn scan_finished(client: &str, kind: &str, seconds: f64) {
    histogram!(SCAN_DURATION, "client" => client.to_owned(), "kind" => kind.to_owned())
        .record(seconds);
}

/// Records one Klaviyo request's answer: `path` is the request path (ids in
/// it are replaced by `{id}`, the query dropped), `status` the HTTP status,
/// or 0 when no answer came (timeout, connection error).
pub fn klaviyo_call(path: &str, status: u16) {
    let endpoint = endpoint_template(path);
    let class = match status {
        429 => "429",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "error",
    };
    counter!(KLAVIYO_CALLS, "endpoint" => endpoint.clone(), "status" => class).increment(1);
    if status == 429 {
        counter!(KLAVIYO_429, "endpoint" => endpoint).increment(1);
    }
}

/// A request path as a bounded label: the query dropped, and every segment
/// that is not a lowercase resource name (`flows`, `flow-actions`) replaced
/// by `{id}`, so `/api/flows/XyZ12/flow-actions` becomes
/// `/api/flows/{id}/flow-actions`.
pub fn endpoint_template(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path
        .split('/')
        .map(|s| {
            let word = !s.is_empty()
                && s.len() <= 40
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_');
            if word || s.is_empty() { s } else { "{id}" }
        })
        .collect();
    segments.join("/")
}

/// Sets how many scans and pulses were due but left waiting at the
/// scheduler's last tick.
pub fn queue_depth(waiting: usize) {
    gauge!(QUEUE_DEPTH).set(waiting as f64);
}

/// What became of one outbox delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered (or found already delivered).
    Sent,
    /// Scheduled for another attempt.
    Retry,
    /// Given up on.
    Failed,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Retry => "retry",
            Outcome::Failed => "failed",
        }
    }
}

/// Records an outbox delivery attempt on `platform` (`console`, `slack`,
/// `discord`, or `unknown` for a row whose channel does not parse).
pub fn outbox_delivery(platform: &str, outcome: Outcome) {
    counter!(OUTBOX_DELIVERIES, "platform" => platform.to_owned(), "outcome" => outcome.as_str())
        .increment(1);
}

/// Records an outbox retry on `platform`; `reason` is `rate_limited` or `unavailable`.
pub fn outbox_retry(platform: &str, reason: &'static str) {
    counter!(OUTBOX_RETRIES, "platform" => platform.to_owned(), "reason" => reason).increment(1);
}

/// Records a work lease taken over from a process that stopped renewing it.
pub fn lease_taken_over() {
    counter!(LEASES_TAKEN_OVER).increment(1);
}

/// Reads the gauges that live in the store (findings by state and severity,
/// the outbox's backlog and lag at `now`) and sets them.
pub async fn refresh_from_store(store: &Store, now: DateTime<Utc>) -> Result<(), StoreError> {
    let mut db = store.conn().await?;
    let counts = crate::store::ops::findings_by_state_and_severity(&mut db).await?;
    let (pending, oldest) = crate::store::ops::pending_outbox(&mut db).await?;
    drop(db);
    // Every known pair, so a count that fell to zero shows as zero.
    let states = [
        FindingState::Open,
        FindingState::Acknowledged,
        FindingState::Snoozed,
        FindingState::Resolved,
    ];
    let severities = [Severity::Critical, Severity::Warning, Severity::Opportunity];
    for state in states {
        for severity in severities {
            let n = counts
                .iter()
                .find(|(s, v, _)| s == state.as_str() && v == severity.as_str())
                .map_or(0, |(_, _, n)| *n);
            gauge!(FINDINGS, "state" => state.as_str(), "severity" => severity.as_str())
                .set(n as f64);
        }
    }
    gauge!(OUTBOX_PENDING).set(pending as f64);
    let lag = oldest.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
    gauge!(OUTBOX_LAG).set(lag);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rendered line of a series whose name and labels all appear in it.
    fn line(text: &str, name: &str, labels: &[&str]) -> Option<String> {
        text.lines()
            .find(|l| {
                l.starts_with(name)
                    && l[name.len()..].starts_with(['{', ' '])
                    && labels.iter().all(|x| l.contains(x))
            })
            .map(str::to_owned)
    }

    fn value(l: &str) -> f64 {
        l.rsplit(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn the_wiring_functions_show_up_in_the_rendered_text() {
        install().unwrap();
        scan_finished("unit-acme", "full", 12.5);
        scan_finished("unit-acme", "full", 0.2);
        klaviyo_call("/api/flows/XyZ12/flow-actions?page[cursor]=abc", 200);
        klaviyo_call("/api/flows/XyZ12/flow-actions", 429);
        klaviyo_call("/api/unit-metric-aggregates", 0);
        outbox_delivery("unit-platform", Outcome::Sent);
        outbox_retry("unit-platform", "rate_limited");
        let text = render();
        let count = line(
            &text,
            "lookout_scan_duration_seconds_count",
            &["client=\"unit-acme\"", "kind=\"full\""],
        )
        .expect(&text);
        assert_eq!(value(&count), 2.0);
        let bucket = line(
            &text,
            "lookout_scan_duration_seconds_bucket",
            &["client=\"unit-acme\"", "le=\"1\""],
        )
        .expect(&text);
        assert_eq!(value(&bucket), 1.0, "a histogram, not a summary");
        let ep = "endpoint=\"/api/flows/{id}/flow-actions\"";
        assert!(
            line(&text, KLAVIYO_CALLS, &[ep, "status=\"2xx\""]).is_some(),
            "{text}"
        );
        assert!(
            line(&text, KLAVIYO_CALLS, &[ep, "status=\"429\""]).is_some(),
            "{text}"
        );
        assert!(line(&text, KLAVIYO_429, &[ep]).is_some(), "{text}");
        assert!(
            line(
                &text,
                KLAVIYO_CALLS,
                &["/api/unit-metric-aggregates", "status=\"error\""]
            )
            .is_some(),
            "{text}"
        );
        assert!(
            !text.contains("XyZ12") && !text.contains("cursor"),
            "{text}"
        );
        let sent = line(
            &text,
            OUTBOX_DELIVERIES,
            &["platform=\"unit-platform\"", "outcome=\"sent\""],
        )
        .expect(&text);
        assert!(value(&sent) >= 1.0);
        assert!(line(&text, OUTBOX_RETRIES, &["reason=\"rate_limited\""]).is_some());
        // Present before anything happens.
        assert!(line(&text, LEASES_TAKEN_OVER, &[]).is_some(), "{text}");
        assert!(line(&text, QUEUE_DEPTH, &[]).is_some(), "{text}");
        assert!(text.contains("# TYPE lookout_scan_duration_seconds histogram"));
    }

    #[test]
    fn endpoints_keep_resource_names_and_hide_ids() {
        assert_eq!(endpoint_template("/api/lists"), "/api/lists");
        assert_eq!(
            endpoint_template("/api/segments/Ab3dE/profiles?page=2"),
            "/api/segments/{id}/profiles"
        );
        assert_eq!(
            endpoint_template("/api/profiles/01GDDKASAP8TKDDA2GRZDSVP4H/"),
            "/api/profiles/{id}/"
        );
        assert_eq!(
            endpoint_template("/api/metric-aggregates"),
            "/api/metric-aggregates"
        );
    }

    #[tokio::test]
    async fn store_gauges_are_read_at_scrape_time() {
        install().unwrap();
        let store = Store::open_memory().await.unwrap();
        refresh_from_store(&store, Utc::now()).await.unwrap();
        let text = render();
        let l = line(
            &text,
            FINDINGS,
            &["state=\"open\"", "severity=\"critical\""],
        )
        .expect(&text);
        assert!(value(&l) >= 0.0);
        assert!(line(&text, OUTBOX_LAG, &[]).is_some(), "{text}");
    }
}
