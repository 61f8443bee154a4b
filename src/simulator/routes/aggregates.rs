//! `POST /api/metric-aggregates`: the heaviest answer the simulator gives (a
//! month of hourly buckets is 720 dates and as many numbers per measurement),
//! so its document is written straight into one buffer: no `serde_json::Value`
//! tree and no `String` per date. Keys come in the order a `Value` object
//! would print them (sorted), so the bytes match the tree-built document.

use axum::body::Bytes;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use serde_json::Value;

use super::super::data::{EventSource, Interval};
use super::super::hash::{base62, hash, str_hash};
use super::super::jsonapi::{ApiError, parse_filter, parse_time, ts};
use super::{Ctx, MAX_BUCKETS};

/// The measurements Klaviyo computes, in the order a JSON object prints them.
const MEASUREMENTS: [&str; 3] = ["count", "sum_value", "unique"];

/// Answers a metric-aggregate query with the document's JSON text.
pub(super) fn metric_aggregates(ctx: &Ctx, body: &Bytes) -> Result<String, ApiError> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_body("/data", format!("Request body is not valid JSON: {e}."))
    })?;
    if doc["data"]["type"] != "metric-aggregate" {
        return Err(ApiError::bad_body(
            "/data/type",
            "`data.type` must be \"metric-aggregate\".",
        ));
    }
    let attrs = &doc["data"]["attributes"];
    let metric_id = attrs["metric_id"].as_str().ok_or_else(|| {
        ApiError::bad_body("/data/attributes/metric_id", "`metric_id` is required.")
    })?;
    let metric = ctx.brand.metric_by_id(metric_id).ok_or_else(|| {
        ApiError::bad_body(
            "/data/attributes/metric_id",
            format!("Metric `{metric_id}` does not exist in this account: list metrics with GET /api/metrics."),
        )
    })?;
    let measurements: Vec<&str> = attrs["measurements"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if measurements.is_empty() || measurements.iter().any(|m| !MEASUREMENTS.contains(m)) {
        return Err(ApiError::bad_body(
            "/data/attributes/measurements",
            "`measurements` must list one or more of count, sum_value, unique.",
        ));
    }
    let interval = match &attrs["interval"] {
        Value::Null => Interval::Day,
        v => v.as_str().and_then(Interval::parse).ok_or_else(|| {
            ApiError::bad_body(
                "/data/attributes/interval",
                "`interval` must be hour, day, week or month.",
            )
        })?,
    };
    if attrs["by"].as_array().is_some_and(|a| !a.is_empty()) {
        return Err(ApiError::bad_body(
            "/data/attributes/by",
            "The simulator does not group metric aggregates: omit `by`.",
        ));
    }
    if !matches!(&attrs["timezone"], Value::Null | Value::String(_)) {
        return Err(ApiError::bad_body(
            "/data/attributes/timezone",
            "`timezone` must be a string such as \"UTC\".",
        ));
    }
    let need = || {
        ApiError::bad_body(
            "/data/attributes/filter",
            "`filter` must hold greater-or-equal(datetime,...) and less-than(datetime,...).",
        )
    };
    let (mut from, mut to) = (None, None);
    for f in attrs["filter"].as_array().ok_or_else(need)? {
        let text = f.as_str().ok_or_else(need)?;
        let conds = parse_filter(text).map_err(|e| {
            ApiError::bad_body(
                "/data/attributes/filter",
                format!("Invalid filter `{text}`: {e}."),
            )
        })?;
        for c in conds {
            let t = (c.field == "datetime")
                .then(|| parse_time(&c.value.text()))
                .flatten();
            match (c.op.as_str(), t) {
                ("greater-or-equal", Some(t)) => from = Some(t),
                ("less-than", Some(t)) => to = Some(t),
                _ => {
                    return Err(ApiError::bad_body(
                        "/data/attributes/filter",
                        format!(
                            "Unsupported filter `{text}`: use greater-or-equal(datetime,...) and less-than(datetime,...)."
                        ),
                    ));
                }
            }
        }
    }
    let (Some(from), Some(to)) = (from, to) else {
        return Err(need());
    };
    if to <= from || to - from > Duration::days(366) {
        return Err(ApiError::bad_body(
            "/data/attributes/filter",
            "The datetime range must be non-empty and at most one year.",
        ));
    }
    if interval == Interval::Hour && (to - from).num_hours() as usize > MAX_BUCKETS {
        return Err(ApiError::bad_body(
            "/data/attributes/interval",
            format!(
                "Too many hourly buckets (max {MAX_BUCKETS}): use a shorter range or a wider interval."
            ),
        ));
    }
    let src = EventSource::new(ctx.brand, &ctx.faults, ctx.now);
    let agg = src.aggregate(
        metric.kind,
        from,
        to,
        interval,
        measurements.contains(&"sum_value"),
    );
    let id = base62(
        hash(&[
            str_hash(metric_id),
            from.timestamp() as u64,
            to.timestamp() as u64,
        ]),
        12,
    );
    // `fields[metric-aggregate]` keeps only the attributes it names.
    let kept = ctx
        .q
        .fields
        .iter()
        .find(|(t, _)| t == "metric-aggregate")
        .map(|(_, names)| names);
    let keep = |name: &str| kept.is_none_or(|n| n.iter().any(|x| x == name));
    let doc = AggregateDoc {
        id: &id,
        self_link: &ctx.self_link(),
        dates: keep("dates").then_some(agg.dates.as_slice()),
        measurements: keep("data").then_some(measurements.as_slice()),
        counts: &agg.counts,
        sums: &agg.sums,
    };
    Ok(doc.write())
}

/// What the aggregate document says; `None` leaves an attribute out.
struct AggregateDoc<'a> {
    id: &'a str,
    self_link: &'a str,
    dates: Option<&'a [DateTime<Utc>]>,
    measurements: Option<&'a [&'a str]>,
    counts: &'a [u64],
    sums: &'a [f64],
}

impl AggregateDoc<'_> {
    /// The document's JSON text.
    fn write(&self) -> String {
        // About 30 bytes a date and 8 a number: one allocation for most answers.
        let mut out = Vec::with_capacity(256 + self.counts.len() * 48);
        out.extend_from_slice(br#"{"data":{"attributes":{"#);
        if let Some(measurements) = self.measurements {
            out.extend_from_slice(br#""data":[{"dimensions":[],"measurements":{"#);
            // Each asked measurement once, in key order, as an object prints them.
            let mut first = true;
            for m in MEASUREMENTS.iter().filter(|m| measurements.contains(m)) {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_str(&mut out, m);
                out.extend_from_slice(b":[");
                if *m == "sum_value" {
                    write_numbers(&mut out, self.sums.iter().copied());
                } else {
                    // Counts are whole numbers sent as floats (`12.0`), as Klaviyo does.
                    write_numbers(&mut out, self.counts.iter().map(|&c| c as f64));
                }
                out.push(b']');
            }
            out.extend_from_slice(b"}}]");
            if self.dates.is_some() {
                out.push(b',');
            }
        }
        if let Some(dates) = self.dates {
            out.extend_from_slice(br#""dates":["#);
            for (i, d) in dates.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'"');
                write_time(&mut out, *d);
                out.push(b'"');
            }
            out.push(b']');
        }
        out.extend_from_slice(br#"},"id":"#);
        write_str(&mut out, self.id);
        out.extend_from_slice(br#","links":{"self":"#);
        write_str(&mut out, self.self_link);
        out.extend_from_slice(br#"},"type":"metric-aggregate"},"links":{"self":"#);
        write_str(&mut out, self.self_link);
        out.extend_from_slice(b"}}");
        // Only JSON text (valid UTF-8 strings and ASCII) was written.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// A JSON string literal, escaped as serde_json escapes it.
fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail, and a &str always serializes.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Comma-separated numbers, formatted as serde_json formats an `f64`
/// (`12.0`, `1234.56`; non-finite as `null`).
fn write_numbers(out: &mut Vec<u8>, values: impl Iterator<Item = f64>) {
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // As above: writing an f64 to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &v);
    }
}

/// `t` as [`ts`] formats it (`2026-11-01T10:00:00+00:00`), without the
/// formatting machinery or a `String` per date.
fn write_time(out: &mut Vec<u8>, t: DateTime<Utc>) {
    let year = t.year();
    if !(0..=9999).contains(&year) {
        out.extend_from_slice(ts(t).as_bytes());
        return;
    }
    let digits = |out: &mut Vec<u8>, v: u32, n: usize| {
        let mut buf = [b'0'; 4];
        let mut v = v;
        for slot in buf[..n].iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.extend_from_slice(&buf[..n]);
    };
    digits(out, year as u32, 4);
    out.push(b'-');
    digits(out, t.month(), 2);
    out.push(b'-');
    digits(out, t.day(), 2);
    out.push(b'T');
    digits(out, t.hour(), 2);
    out.push(b':');
    digits(out, t.minute(), 2);
    out.push(b':');
    digits(out, t.second(), 2);
    out.extend_from_slice(b"+00:00");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn times_match_the_shared_formatter() {
        for t in [
            Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2027, 1, 9, 3, 4, 5).unwrap(),
            Utc.with_ymd_and_hms(999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(12_000, 1, 1, 0, 0, 0).unwrap(),
        ] {
            let mut out = Vec::new();
            write_time(&mut out, t);
            assert_eq!(String::from_utf8(out).unwrap(), ts(t));
        }
    }

    /// The document as a `Value` tree would build it.
    fn tree(d: &AggregateDoc) -> Value {
        let mut attrs = serde_json::Map::new();
        if let Some(ms) = d.measurements {
            let mut values = serde_json::Map::new();
            for m in ms {
                let series: Vec<Value> = match *m {
                    "sum_value" => d.sums.iter().map(|v| json!(v)).collect(),
                    _ => d.counts.iter().map(|c| json!(*c as f64)).collect(),
                };
                values.insert((*m).to_owned(), Value::Array(series));
            }
            attrs.insert(
                "data".into(),
                json!([{ "dimensions": [], "measurements": values }]),
            );
        }
        if let Some(dates) = d.dates {
            attrs.insert(
                "dates".into(),
                json!(dates.iter().map(|t| ts(*t)).collect::<Vec<_>>()),
            );
        }
        json!({
            "data": {
                "type": "metric-aggregate",
                "id": d.id,
                "attributes": attrs,
                "links": { "self": d.self_link },
            },
            "links": { "self": d.self_link },
        })
    }

    #[test]
    fn written_documents_equal_the_tree_built_ones_byte_for_byte() {
        let t0 = Utc.with_ymd_and_hms(2026, 10, 3, 0, 0, 0).unwrap();
        let dates: Vec<_> = (0..50).map(|h| t0 + Duration::hours(h)).collect();
        let counts: Vec<u64> = (0..50).map(|h| (h * 7 % 13) as u64).collect();
        let sums: Vec<f64> = (0..50).map(|h| h as f64 * 12.34 + 0.01).collect();
        let link = "http://127.0.0.1:9/api/metric-aggregates?x=\"a\"&y=<b>";
        let ms: [&[&str]; 4] = [
            &["count"],
            &["sum_value", "count", "count"],
            &["unique", "sum_value"],
            &["count", "sum_value", "unique"],
        ];
        for m in ms {
            for (with_dates, with_data) in [(true, true), (true, false), (false, true)] {
                let d = AggregateDoc {
                    id: "AbC123xyz456",
                    self_link: link,
                    dates: with_dates.then_some(dates.as_slice()),
                    measurements: with_data.then_some(m),
                    counts: &counts,
                    sums: &sums,
                };
                let text = d.write();
                assert_eq!(text, tree(&d).to_string(), "{m:?} {with_dates} {with_data}");
            }
        }
    }
}
