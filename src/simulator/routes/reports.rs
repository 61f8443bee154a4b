//! The reporting endpoints: `POST /api/flow-values-reports`,
//! `/api/flow-series-reports`, `/api/campaign-values-reports`,
//! `/api/form-values-reports` and `/api/form-series-reports`.
//!
//! Results come from the same event model as metric aggregates, so faults
//! that rewrite Bounced Email or Marked Email as Spam (and ivy-lane's bounce
//! baseline) show in the reported rates. Flows take a fixed share of the
//! brand's email traffic over the timeframe, split by flow and message;
//! campaigns take their rates from the 24 hours after their send time and
//! their recipients from the main list; forms take a share of Subscribed to
//! List. Timeframes are computed in UTC (Klaviyo uses the account timezone), and
//! so are a flow series' buckets (days from UTC midnight, weeks from Monday).

use chrono::{DateTime, Datelike, Duration, DurationRound, TimeZone, Utc};
use serde_json::{Map, Value, json};

use super::{Ctx, flow_state, profile_count};
use crate::simulator::content::ActionDef;
use crate::simulator::data::EventSource;
use crate::simulator::hash::{base62, hash, str_hash};
use crate::simulator::jsonapi::{ApiError, Cond, Lit, parse_filter, parse_time, ts};
use crate::simulator::portfolio::{FlowRole, SimMetric};

/// Statistics flow and campaign reports may ask for (the spec's enum).
const MESSAGE_STATS: &[&str] = &[
    "average_order_value",
    "bounce_rate",
    "bounced",
    "bounced_or_failed",
    "bounced_or_failed_rate",
    "click_rate",
    "click_to_open_rate",
    "clicks",
    "clicks_unique",
    "conversion_rate",
    "conversion_uniques",
    "conversion_value",
    "conversions",
    "delivered",
    "delivery_rate",
    "failed",
    "failed_rate",
    "message_segment_count_sum",
    "open_rate",
    "opens",
    "opens_unique",
    "recipients",
    "revenue_per_recipient",
    "spam_complaint_rate",
    "spam_complaints",
    "text_message_credit_usage_amount",
    "text_message_roi",
    "text_message_spend",
    "unsubscribe_rate",
    "unsubscribe_uniques",
    "unsubscribes",
];

/// Statistics form reports may ask for.
const FORM_STATS: &[&str] = &[
    "closed_form",
    "closed_form_uniques",
    "qualified_form",
    "qualified_form_uniques",
    "submit_rate",
    "submits",
    "submitted_form_step",
    "submitted_form_step_uniques",
    "viewed_form",
    "viewed_form_step",
    "viewed_form_step_uniques",
    "viewed_form_uniques",
];

/// Share of Received Email that flows send (campaigns send the rest).
const FLOW_EMAIL_SHARE: f64 = 0.35;
/// Share of orders attributed to flows.
const FLOW_ORDER_SHARE: f64 = 0.12;
/// Share of orders in the five days after a send attributed to one campaign.
const CAMPAIGN_ORDER_SHARE: f64 = 0.06;
/// SMS steps reach this share of checkouts.
const SMS_PER_CHECKOUT: f64 = 0.1;

/// Timeframe keys Klaviyo accepts.
const TIMEFRAME_KEYS: &[&str] = &[
    "last_12_months",
    "last_30_days",
    "last_365_days",
    "last_3_months",
    "last_7_days",
    "last_90_days",
    "last_month",
    "last_week",
    "last_year",
    "this_month",
    "this_week",
    "this_year",
    "today",
    "yesterday",
];

/// A checked report request.
struct ReportQuery {
    stats: Vec<String>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group_by: Vec<String>,
    filter: Vec<Cond>,
}

fn attr_err(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::bad_body(&format!("/data/attributes/{field}"), detail)
}

/// Parses and checks a report body as Klaviyo does.
fn parse_request(
    ctx: &Ctx,
    body: &[u8],
    kind: &str,
    allowed_stats: &[&str],
    needs_metric: bool,
    group_keys: (&[&str], &[&str]),
    filter_fields: &[&str],
) -> Result<ReportQuery, ApiError> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_body("/data", format!("Request body is not valid JSON: {e}."))
    })?;
    if doc["data"]["type"] != kind {
        return Err(ApiError::bad_body(
            "/data/type",
            format!("`data.type` must be \"{kind}\"."),
        ));
    }
    let a = &doc["data"]["attributes"];
    let stats: Vec<String> = match a["statistics"].as_array() {
        Some(v) if !v.is_empty() => v
            .iter()
            .map(|s| {
                s.as_str()
                    .filter(|s| allowed_stats.contains(s))
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        attr_err(
                            "statistics",
                            format!(
                                "`{s}` is not a statistic; use {}.",
                                allowed_stats.join(", ")
                            ),
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(attr_err(
                "statistics",
                "`statistics` is required: list one or more statistics.",
            ));
        }
    };
    let (from, to) = timeframe(ctx.now, &a["timeframe"])?;
    if needs_metric {
        let id = a["conversion_metric_id"].as_str().ok_or_else(|| {
            attr_err(
                "conversion_metric_id",
                "`conversion_metric_id` is required (the Placed Order metric's id).",
            )
        })?;
        if ctx.brand.metric_by_id(id).is_none() {
            return Err(attr_err(
                "conversion_metric_id",
                format!(
                    "Metric `{id}` does not exist in this account: list metrics with GET /api/metrics."
                ),
            ));
        }
    }
    let (allowed_groups, required_groups) = group_keys;
    let group_by: Vec<String> = match &a["group_by"] {
        Value::Null => Vec::new(),
        Value::Array(v) => v
            .iter()
            .map(|g| {
                g.as_str()
                    .filter(|g| allowed_groups.contains(g))
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        attr_err(
                            "group_by",
                            format!(
                                "`{g}` cannot be grouped by here; the simulator groups by {}.",
                                allowed_groups.join(", ")
                            ),
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(attr_err("group_by", "`group_by` must be a list.")),
    };
    if !group_by.is_empty()
        && let Some(missing) = required_groups
            .iter()
            .find(|r| !group_by.iter().any(|g| g == *r))
    {
        return Err(attr_err(
            "group_by",
            format!(
                "`group_by` must include {}; `{missing}` is missing.",
                required_groups.join(" and ")
            ),
        ));
    }
    let filter = match &a["filter"] {
        Value::Null => Vec::new(),
        Value::String(f) => {
            let conds = parse_filter(f)
                .map_err(|e| attr_err("filter", format!("Invalid filter `{f}`: {e}.")))?;
            for c in &conds {
                if !filter_fields.contains(&c.field.as_str())
                    || !["equals", "contains-any", "any"].contains(&c.op.as_str())
                {
                    return Err(attr_err(
                        "filter",
                        format!(
                            "`{}({},...)` is not supported; use equals or contains-any on {}.",
                            c.op,
                            c.field,
                            filter_fields.join(", ")
                        ),
                    ));
                }
            }
            conds
        }
        _ => return Err(attr_err("filter", "`filter` must be a string.")),
    };
    Ok(ReportQuery {
        stats,
        from,
        to,
        group_by,
        filter,
    })
}

/// `[from, to)` of a `{"key"}` or `{"start","end"}` timeframe (at most a year).
fn timeframe(now: DateTime<Utc>, tf: &Value) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let day = now.duration_trunc(Duration::days(1)).unwrap_or(now);
    let month_start = |y: i32, m: u32| {
        Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
            .single()
            .unwrap_or(day)
    };
    let week = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
    if let Some(key) = tf["key"].as_str() {
        let (y, m) = (now.year(), now.month());
        let this_month = month_start(y, m);
        let prev_month = if m == 1 {
            month_start(y - 1, 12)
        } else {
            month_start(y, m - 1)
        };
        return Ok(match key {
            "today" => (day, now),
            "yesterday" => (day - Duration::days(1), day),
            "last_7_days" => (day - Duration::days(7), day),
            "last_30_days" => (day - Duration::days(30), day),
            "last_90_days" | "last_3_months" => (day - Duration::days(90), day),
            "last_365_days" | "last_12_months" => (day - Duration::days(365), day),
            "this_week" => (week, now),
            "last_week" => (week - Duration::days(7), week),
            "this_month" => (this_month, now),
            "last_month" => (prev_month, this_month),
            "this_year" => (month_start(y, 1), now),
            "last_year" => (month_start(y - 1, 1), month_start(y, 1)),
            other => {
                return Err(attr_err(
                    "timeframe",
                    format!(
                        "`{other}` is not a timeframe key; use {}.",
                        TIMEFRAME_KEYS.join(", ")
                    ),
                ));
            }
        });
    }
    let (Some(s), Some(e)) = (tf["start"].as_str(), tf["end"].as_str()) else {
        return Err(attr_err(
            "timeframe",
            "`timeframe` is required: give {\"key\": \"last_30_days\"} or {\"start\", \"end\"}.",
        ));
    };
    let (Some(from), Some(to)) = (parse_time(s), parse_time(e)) else {
        return Err(attr_err(
            "timeframe",
            "`start` and `end` must be datetimes.",
        ));
    };
    if to <= from || to - from > Duration::days(366) {
        return Err(attr_err(
            "timeframe",
            "The timeframe must end after it starts and span at most one year.",
        ));
    }
    Ok((from, to))
}

/// Raw counts a result's statistics derive from.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    received: f64,
    bounced: f64,
    spam: f64,
    unsubs: f64,
    opens: f64,
    clicks: f64,
    orders: f64,
    value: f64,
    sms: bool,
}

impl Counts {
    /// The two summed.
    fn plus(self, c: Counts) -> Counts {
        Counts {
            received: self.received + c.received,
            bounced: self.bounced + c.bounced,
            spam: self.spam + c.spam,
            unsubs: self.unsubs + c.unsubs,
            opens: self.opens + c.opens,
            clicks: self.clicks + c.clicks,
            orders: self.orders + c.orders,
            value: self.value + c.value,
            sms: self.sms || c.sms,
        }
    }

    fn scaled(self, k: f64) -> Counts {
        Counts {
            received: self.received * k,
            bounced: self.bounced * k,
            spam: self.spam * k,
            unsubs: self.unsubs * k,
            opens: self.opens * k,
            clicks: self.clicks * k,
            orders: self.orders * k,
            value: self.value * k,
            sms: self.sms,
        }
    }

    /// Statistic `name`; rates use exact counts, counts are rounded.
    fn stat(&self, name: &str) -> Value {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let recipients = self.received + self.bounced;
        let rate = |v: f64| json!((v * 1e6).round() / 1e6);
        let count = |v: f64| json!(v.round() as u64);
        match name {
            "recipients" => count(recipients),
            "delivered" => count(self.received),
            "delivery_rate" => rate(ratio(self.received, recipients)),
            "bounced" | "bounced_or_failed" => count(self.bounced),
            "bounce_rate" | "bounced_or_failed_rate" => rate(ratio(self.bounced, recipients)),
            "failed" => count(0.0),
            "failed_rate" => rate(0.0),
            "spam_complaints" => count(self.spam),
            "spam_complaint_rate" => rate(ratio(self.spam, self.received)),
            "unsubscribes" => count(self.unsubs),
            "unsubscribe_uniques" => count(self.unsubs),
            "unsubscribe_rate" => rate(ratio(self.unsubs, self.received)),
            "opens" => count(self.opens * 1.25),
            "opens_unique" => count(self.opens),
            "open_rate" => rate(ratio(self.opens, self.received)),
            "clicks" => count(self.clicks * 1.3),
            "clicks_unique" => count(self.clicks),
            "click_rate" => rate(ratio(self.clicks, self.received)),
            "click_to_open_rate" => rate(ratio(self.clicks, self.opens)),
            "conversions" | "conversion_uniques" => count(self.orders),
            "conversion_rate" => rate(ratio(self.orders, recipients)),
            "conversion_value" => json!((self.value * 100.0).round() / 100.0),
            "revenue_per_recipient" => {
                json!((ratio(self.value, recipients) * 100.0).round() / 100.0)
            }
            "average_order_value" => {
                json!((ratio(self.value, self.orders) * 100.0).round() / 100.0)
            }
            "message_segment_count_sum" => count(if self.sms { recipients } else { 0.0 }),
            "text_message_spend" | "text_message_credit_usage_amount" => {
                json!(if self.sms {
                    (recipients * 0.01 * 100.0).round() / 100.0
                } else {
                    0.0
                })
            }
            "text_message_roi" => rate(if self.sms {
                ratio(self.value, recipients * 0.01)
            } else {
                0.0
            }),
            _ => json!(0),
        }
    }
}

/// Email traffic counts of the brand over `[from, to)`.
fn email_counts(src: &EventSource, from: i64, to: i64) -> Counts {
    let c = |m| src.count(m, from, to) as f64;
    let (orders, value) = src.count_and_value(SimMetric::PlacedOrder, from, to);
    Counts {
        received: c(SimMetric::ReceivedEmail),
        bounced: c(SimMetric::BouncedEmail),
        spam: c(SimMetric::MarkedSpam),
        unsubs: c(SimMetric::Unsubscribed),
        opens: c(SimMetric::OpenedEmail),
        clicks: c(SimMetric::ClickedEmail),
        orders: orders as f64,
        value,
        sms: false,
    }
}

fn lit_matches(c: &Cond, v: &str) -> bool {
    match &c.value {
        Lit::List(_) => c.value.items().iter().any(|i| i == v),
        other => other.text() == v,
    }
}

/// The grouping keys of the results: the request's, else the endpoint's default.
fn group_keys<'a>(q: &'a ReportQuery, default_keys: &[&'a str]) -> Vec<&'a str> {
    if q.group_by.is_empty() {
        default_keys.to_vec()
    } else {
        q.group_by.iter().map(String::as_str).collect()
    }
}

/// Whether a row's groupings pass the request's filter.
fn passes(q: &ReportQuery, g: &Map<String, Value>) -> bool {
    q.filter.iter().all(|f| {
        g.get(&f.field)
            .and_then(Value::as_str)
            .is_some_and(|v| lit_matches(f, v))
    })
}

/// A row's groupings reduced to `keys`.
fn project(keys: &[&str], g: &Map<String, Value>) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| g.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

/// Result rows: each row's groupings (all keys) and counts, reduced to the
/// requested grouping and statistics.
fn results(
    q: &ReportQuery,
    default_keys: &[&str],
    rows: Vec<(Map<String, Value>, Counts)>,
) -> Vec<Value> {
    let keys = group_keys(q, default_keys);
    let mut out: Vec<(Map<String, Value>, Counts)> = Vec::new();
    for (g, c) in rows {
        if !passes(q, &g) {
            continue;
        }
        let key = project(&keys, &g);
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, acc)) => *acc = acc.plus(c),
            None => out.push((key, c)),
        }
    }
    out.into_iter()
        .map(|(g, c)| {
            let stats: Map<String, Value> =
                q.stats.iter().map(|s| (s.clone(), c.stat(s))).collect();
            json!({ "groupings": g, "statistics": stats })
        })
        .collect()
}

fn report_doc(
    ctx: &Ctx,
    kind: &str,
    results: Vec<Value>,
    rels: Vec<(&str, &str, Vec<String>)>,
) -> Value {
    let id = base62(
        hash(&[
            str_hash(kind),
            str_hash(&ctx.brand.slug),
            ctx.now.timestamp() as u64,
        ]),
        12,
    );
    let mut relationships = Map::new();
    for (rel, ty, ids) in rels {
        let data: Vec<Value> = ids.iter().map(|i| json!({ "type": ty, "id": i })).collect();
        relationships.insert(
            rel.to_owned(),
            json!({ "data": data, "links": ctx.rel(&format!("{kind}s"), &id, rel)["links"] }),
        );
    }
    let mut data = json!({ "type": kind, "attributes": { "results": results } });
    if !relationships.is_empty() {
        data["relationships"] = Value::Object(relationships);
    }
    json!({ "data": data, "links": { "self": ctx.self_link() } })
}

fn flow_weight(role: FlowRole) -> f64 {
    match role {
        FlowRole::AbandonedCheckout => 0.3,
        FlowRole::Welcome => 0.25,
        FlowRole::BrowseAbandonment => 0.2,
        FlowRole::PostPurchase => 0.15,
        FlowRole::Other => 0.1,
    }
}

/// Flow report grouping keys the simulator serves, and the ones a `group_by` must hold.
const FLOW_GROUPS: (&[&str], &[&str]) = (
    &[
        "flow_id",
        "flow_message_id",
        "flow_name",
        "flow_message_name",
        "send_channel",
    ],
    &["flow_id", "flow_message_id"],
);
/// Fields a flow report's filter may name.
const FLOW_FILTER_FIELDS: &[&str] = &[
    "flow_id",
    "flow_name",
    "send_channel",
    "flow_message_id",
    "flow_message_name",
];
/// Groupings of flow results when the request names none.
const FLOW_DEFAULT_KEYS: &[&str] = &["flow_id", "flow_message_id", "send_channel"];

/// A sending flow with what its rows need, worked out once per request.
struct FlowPlan<'a> {
    flow: &'a crate::simulator::portfolio::FlowDef,
    /// Its share of flow traffic.
    weight: f64,
    actions: Vec<ActionDef>,
    /// When a fault stopped it, if one did.
    stopped: Option<DateTime<Utc>>,
}

/// The brand's live flows, ready to be counted over any window.
fn flow_plans<'a>(ctx: &'a Ctx) -> Vec<FlowPlan<'a>> {
    let b = ctx.brand;
    let others = b
        .flows
        .iter()
        .filter(|f| f.role == FlowRole::Other && f.status == "live")
        .count()
        .max(1) as f64;
    b.flows
        .iter()
        .enumerate()
        .filter(|(_, f)| f.status == "live" && !f.archived)
        .map(|(ix, f)| {
            // A flow switched off by a fault sends nothing after it stopped.
            let (status, changed) = flow_state(ctx, f);
            FlowPlan {
                flow: f,
                weight: flow_weight(f.role)
                    / if f.role == FlowRole::Other {
                        others
                    } else {
                        1.0
                    },
                actions: b.flow_actions(ix),
                stopped: (status != "live").then_some(changed),
            }
        })
        .collect()
}

/// One row per sending message of the planned flows over `[from, to)`.
fn flow_rows(
    src: &EventSource,
    plans: &[FlowPlan],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(Map<String, Value>, Counts)> {
    let mut rows = Vec::new();
    let mut whole: Option<(Counts, f64)> = None;
    for plan in plans {
        let end = plan.stopped.map_or(to, |t| to.min(t));
        if end <= from {
            continue;
        }
        let (from_s, to_s) = (from.timestamp(), end.timestamp());
        let count = || {
            (
                email_counts(src, from_s, to_s),
                src.count(SimMetric::StartedCheckout, from_s, to_s) as f64,
            )
        };
        // Most flows share the window: its traffic is counted once.
        let (email, checkouts) = if end == to {
            *whole.get_or_insert_with(count)
        } else {
            count()
        };
        let f = plan.flow;
        let fw = plan.weight;
        let total_w: f64 = plan
            .actions
            .iter()
            .filter_map(|a| a.message.as_ref())
            .map(|m| m.weight)
            .sum();
        for a in &plan.actions {
            let Some(m) = &a.message else { continue };
            if a.status_override.is_some() {
                continue;
            }
            let w = if total_w > 0.0 {
                m.weight / total_w
            } else {
                0.0
            };
            let mut counts = if m.channel == "sms" {
                let sent = checkouts * SMS_PER_CHECKOUT * w;
                Counts {
                    received: sent * 0.98,
                    bounced: sent * 0.02,
                    unsubs: sent * 0.004,
                    clicks: sent * 0.06,
                    sms: true,
                    ..Counts::default()
                }
            } else {
                email.scaled(FLOW_EMAIL_SHARE * fw * w)
            };
            counts.orders = email.orders * FLOW_ORDER_SHARE * fw * w;
            counts.value = email.value * FLOW_ORDER_SHARE * fw * w;
            let mut g = Map::new();
            g.insert("flow_id".into(), json!(f.id));
            g.insert("flow_message_id".into(), json!(m.id));
            g.insert("flow_name".into(), json!(f.name));
            g.insert("flow_message_name".into(), json!(m.name));
            g.insert("send_channel".into(), json!(m.channel));
            rows.push((g, counts));
        }
    }
    rows
}

/// The `flows` and `flow-messages` relationships of the rows reported.
fn flow_rels(
    rows: &[(Map<String, Value>, Counts)],
) -> Vec<(&'static str, &'static str, Vec<String>)> {
    let (mut flow_ids, mut message_ids) = (Vec::<String>::new(), Vec::<String>::new());
    for (g, _) in rows {
        if let Some(id) = g.get("flow_id").and_then(Value::as_str)
            && !flow_ids.iter().any(|f| f == id)
        {
            flow_ids.push(id.to_owned());
        }
        if let Some(id) = g.get("flow_message_id").and_then(Value::as_str)
            && !message_ids.iter().any(|m| m == id)
        {
            message_ids.push(id.to_owned());
        }
    }
    vec![
        ("flows", "flow", flow_ids),
        ("flow-messages", "flow-message", message_ids),
    ]
}

/// `POST /api/flow-values-reports`.
pub(super) fn flow_values(ctx: &Ctx, body: &[u8]) -> Result<Value, ApiError> {
    let q = parse_request(
        ctx,
        body,
        "flow-values-report",
        MESSAGE_STATS,
        true,
        FLOW_GROUPS,
        FLOW_FILTER_FIELDS,
    )?;
    let src = EventSource::new(ctx.brand, &ctx.faults, ctx.now);
    let rows = flow_rows(&src, &flow_plans(ctx), q.from, q.to);
    let rels = flow_rels(&rows);
    let res = results(&q, FLOW_DEFAULT_KEYS, rows);
    Ok(report_doc(ctx, "flow-values-report", res, rels))
}

/// A series' bucket width, and the longest timeframe Klaviyo takes with it.
fn series_interval(body: &[u8]) -> Result<(&'static str, Duration), ApiError> {
    let doc: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match doc["data"]["attributes"]["interval"].as_str() {
        Some("hourly") => Ok(("hourly", Duration::days(7))),
        Some("daily") => Ok(("daily", Duration::days(60))),
        Some("weekly") => Ok(("weekly", Duration::days(366))),
        Some("monthly") => Ok(("monthly", Duration::weeks(52))),
        Some(other) => Err(attr_err(
            "interval",
            format!("`{other}` is not an interval; use daily, hourly, monthly or weekly."),
        )),
        None => Err(attr_err(
            "interval",
            "`interval` is required: daily, hourly, monthly or weekly.",
        )),
    }
}

/// The start of the bucket of `interval` that holds `t`, and the next one's.
fn bucket_of(interval: &str, t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let day = t.duration_trunc(Duration::days(1)).unwrap_or(t);
    match interval {
        "hourly" => {
            let h = t.duration_trunc(Duration::hours(1)).unwrap_or(t);
            (h, h + Duration::hours(1))
        }
        "weekly" => {
            let w = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
            (w, w + Duration::weeks(1))
        }
        "monthly" => {
            let first = |y: i32, m: u32| Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single();
            let start = first(t.year(), t.month()).unwrap_or(day);
            let next = if t.month() == 12 {
                first(t.year() + 1, 1)
            } else {
                first(t.year(), t.month() + 1)
            }
            .unwrap_or(start + Duration::days(31));
            (start, next)
        }
        _ => (day, day + Duration::days(1)),
    }
}

/// `POST /api/flow-series-reports`: the flow values report per bucket of
/// `interval` over the timeframe, each statistic a list (one value per
/// `date_times` entry).
pub(super) fn flow_series(ctx: &Ctx, body: &[u8]) -> Result<Value, ApiError> {
    let q = parse_request(
        ctx,
        body,
        "flow-series-report",
        MESSAGE_STATS,
        true,
        FLOW_GROUPS,
        FLOW_FILTER_FIELDS,
    )?;
    let (interval, longest) = series_interval(body)?;
    if q.to - q.from > longest {
        return Err(attr_err(
            "timeframe",
            format!(
                "With a {interval} interval the timeframe can be at most {} days.",
                longest.num_days()
            ),
        ));
    }
    let src = EventSource::new(ctx.brand, &ctx.faults, ctx.now);
    let plans = flow_plans(ctx);
    let keys = group_keys(&q, FLOW_DEFAULT_KEYS);
    let mut starts = Vec::new();
    let mut groups: Vec<(Map<String, Value>, Vec<Counts>)> = Vec::new();
    let mut all_rows = Vec::new();
    let mut t = bucket_of(interval, q.from).0;
    while t < q.to {
        let (start, next) = bucket_of(interval, t);
        let n = starts.len();
        starts.push(start);
        let rows = flow_rows(&src, &plans, start.max(q.from), next.min(q.to));
        for (g, c) in &rows {
            if !passes(&q, g) {
                continue;
            }
            let key = project(&keys, g);
            let i = match groups.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    groups.push((key, Vec::new()));
                    groups.len() - 1
                }
            };
            let series = &mut groups[i].1;
            series.resize(n + 1, Counts::default());
            series[n] = series[n].plus(*c);
        }
        all_rows.extend(rows.into_iter().filter(|(g, _)| passes(&q, g)));
        t = next;
    }
    let buckets = starts.len();
    let res: Vec<Value> = groups
        .into_iter()
        .map(|(g, mut series)| {
            series.resize(buckets, Counts::default());
            let stats: Map<String, Value> = q
                .stats
                .iter()
                .map(|s| {
                    let values: Vec<Value> = series.iter().map(|c| c.stat(s)).collect();
                    (s.clone(), Value::Array(values))
                })
                .collect();
            json!({ "groupings": g, "statistics": stats })
        })
        .collect();
    let mut doc = report_doc(ctx, "flow-series-report", res, flow_rels(&all_rows));
    doc["data"]["attributes"]["date_times"] =
        json!(starts.iter().map(|t| ts(*t)).collect::<Vec<_>>());
    Ok(doc)
}

/// `POST /api/campaign-values-reports`: sent campaigns whose send time falls in the timeframe.
pub(super) fn campaign_values(ctx: &Ctx, body: &[u8]) -> Result<Value, ApiError> {
    let q = parse_request(
        ctx,
        body,
        "campaign-values-report",
        MESSAGE_STATS,
        true,
        (
            &[
                "campaign_id",
                "campaign_message_id",
                "campaign_message_name",
                "send_channel",
            ],
            &["campaign_id", "campaign_message_id"],
        ),
        &[
            "send_channel",
            "campaign_id",
            "campaign_message_id",
            "campaign_message_name",
        ],
    )?;
    let b = ctx.brand;
    let src = EventSource::new(b, &ctx.faults, ctx.now);
    let audience = b
        .lists
        .first()
        .map_or(0.0, |l| profile_count(ctx, l) as f64);
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    for channel in ["email", "sms"] {
        for c in b.campaigns(channel, ctx.now) {
            let Some(sent) = c
                .send_time
                .filter(|t| c.status == "Sent" && *t >= q.from && *t < q.to)
            else {
                continue;
            };
            let (a, z) = (
                sent.timestamp(),
                (sent + Duration::hours(24))
                    .timestamp()
                    .min(ctx.now.timestamp() + 1),
            );
            let window = email_counts(&src, a, z);
            let recipients = audience * if channel == "email" { 0.92 } else { 0.15 };
            let per = window.received + window.bounced;
            let mut counts = if channel == "email" && per > 0.0 {
                window.scaled(recipients / per)
            } else {
                Counts {
                    received: recipients * 0.98,
                    bounced: recipients * 0.02,
                    unsubs: recipients * 0.003,
                    clicks: recipients * 0.05,
                    sms: true,
                    ..Counts::default()
                }
            };
            let orders_to = (sent + Duration::days(5))
                .timestamp()
                .min(ctx.now.timestamp() + 1);
            let (orders, value) = src.count_and_value(SimMetric::PlacedOrder, a, orders_to);
            counts.orders = orders as f64 * CAMPAIGN_ORDER_SHARE;
            counts.value = value * CAMPAIGN_ORDER_SHARE;
            let mid = super::campaigns::message_id(&c);
            let mut g = Map::new();
            g.insert("campaign_id".into(), json!(c.id));
            g.insert("campaign_message_id".into(), json!(mid));
            g.insert("campaign_message_name".into(), json!(c.name));
            g.insert("send_channel".into(), json!(channel));
            rows.push((g, counts));
            ids.push(c.id.clone());
        }
    }
    let res = results(
        &q,
        &["campaign_id", "campaign_message_id", "send_channel"],
        rows,
    );
    Ok(report_doc(
        ctx,
        "campaign-values-report",
        res,
        vec![("campaigns", "campaign", ids)],
    ))
}

/// `POST /api/form-values-reports`: live forms, from Subscribed to List.
pub(super) fn form_values(ctx: &Ctx, body: &[u8]) -> Result<Value, ApiError> {
    let q = parse_request(
        ctx,
        body,
        "form-values-report",
        FORM_STATS,
        false,
        (&["form_id"], &["form_id"]),
        &["form_id"],
    )?;
    let src = EventSource::new(ctx.brand, &ctx.faults, ctx.now);
    let subs = src.count(
        SimMetric::SubscribedToList,
        q.from.timestamp(),
        q.to.timestamp(),
    ) as f64;
    let mut out = Vec::new();
    for f in ctx.brand.forms().iter().filter(|f| f.status == "live") {
        let g = json!({ "form_id": f.id });
        if !q.filter.iter().all(|c| lit_matches(c, &f.id)) {
            continue;
        }
        let stats: Map<String, Value> = q
            .stats
            .iter()
            .map(|s| (s.clone(), form_stat(s, subs * f.share)))
            .collect();
        out.push(json!({ "groupings": g, "statistics": stats }));
    }
    Ok(report_doc(ctx, "form-values-report", out, Vec::new()))
}

/// `POST /api/form-series-reports`: [`form_values`] per bucket of `interval`.
pub(super) fn form_series(ctx: &Ctx, body: &[u8]) -> Result<Value, ApiError> {
    let q = parse_request(
        ctx,
        body,
        "form-series-report",
        FORM_STATS,
        false,
        (&["form_id"], &["form_id"]),
        &["form_id"],
    )?;
    let (interval, longest) = series_interval(body)?;
    if q.to - q.from > longest {
        return Err(attr_err(
            "timeframe",
            format!(
                "With a {interval} interval the timeframe can be at most {} days.",
                longest.num_days()
            ),
        ));
    }
    let src = EventSource::new(ctx.brand, &ctx.faults, ctx.now);
    let mut starts = Vec::new();
    let mut subs = Vec::new();
    let mut t = bucket_of(interval, q.from).0;
    while t < q.to {
        let (start, next) = bucket_of(interval, t);
        starts.push(start);
        let (a, z) = (start.max(q.from), next.min(q.to));
        subs.push(src.count(SimMetric::SubscribedToList, a.timestamp(), z.timestamp()) as f64);
        t = next;
    }
    let mut out = Vec::new();
    for f in ctx.brand.forms().iter().filter(|f| f.status == "live") {
        if !q.filter.iter().all(|c| lit_matches(c, &f.id)) {
            continue;
        }
        let stats: Map<String, Value> = q
            .stats
            .iter()
            .map(|s| {
                let values: Vec<Value> = subs.iter().map(|n| form_stat(s, n * f.share)).collect();
                (s.clone(), Value::Array(values))
            })
            .collect();
        out.push(json!({ "groupings": { "form_id": f.id }, "statistics": stats }));
    }
    let mut doc = report_doc(ctx, "form-series-report", out, Vec::new());
    doc["data"]["attributes"]["date_times"] =
        json!(starts.iter().map(|t| ts(*t)).collect::<Vec<_>>());
    Ok(doc)
}

/// Form statistic `s` of a form with `submits` submissions (4% of views submit).
fn form_stat(s: &str, submits: f64) -> Value {
    let viewed = submits / 0.04;
    match s {
        "submits" | "submitted_form_step" => json!(submits.round() as u64),
        "submitted_form_step_uniques" => json!((submits * 0.95).round() as u64),
        "viewed_form" | "viewed_form_step" | "qualified_form" => {
            json!(viewed.round() as u64)
        }
        "viewed_form_uniques" | "viewed_form_step_uniques" | "qualified_form_uniques" => {
            json!((viewed * 0.85).round() as u64)
        }
        "closed_form" => json!((viewed - submits).max(0.0).round() as u64),
        "closed_form_uniques" => {
            json!(((viewed - submits) * 0.85).max(0.0).round() as u64)
        }
        "submit_rate" => json!(if viewed > 0.0 {
            ((submits / viewed) * 1e6).round() / 1e6
        } else {
            0.0
        }),
        _ => json!(0),
    }
}
