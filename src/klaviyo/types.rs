//! The JSON:API shapes the client returns: loosely typed resources (the
//! snapshot builder turns them into domain types) and metric aggregates.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::klaviyo::KlaviyoError;

/// One JSON:API resource: `{"type", "id", "attributes", "relationships"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Resource {
    /// The resource `type`, e.g. `flow`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The resource id.
    pub id: String,
    /// Attributes as sent (`Null` when absent).
    #[serde(default)]
    pub attributes: Value,
    /// Relationships as sent (`Null` when absent).
    #[serde(default)]
    pub relationships: Value,
}

/// One page of a JSON:API document: its resources and the next link.
#[derive(Debug)]
pub struct Page {
    /// The resources.
    pub data: Vec<Resource>,
    /// `links.next`, if there is another page.
    pub next: Option<String>,
    /// `included`: related resources asked for with `include=` (empty when none).
    pub included: Vec<Resource>,
}

impl Page {
    /// Reads a document; `data` may be a list, one object, or null.
    pub fn from_value(doc: Value) -> Result<Self, KlaviyoError> {
        let Value::Object(mut doc) = doc else {
            return Err(KlaviyoError::Decode(
                "the document is not a JSON object".into(),
            ));
        };
        let data = match doc.remove("data") {
            Some(Value::Array(items)) => items
                .into_iter()
                .map(serde_json::from_value)
                .collect::<Result<Vec<Resource>, _>>()
                .map_err(|e| KlaviyoError::Decode(format!("a resource is malformed: {e}")))?,
            Some(Value::Null) => Vec::new(),
            Some(one @ Value::Object(_)) => vec![
                serde_json::from_value(one)
                    .map_err(|e| KlaviyoError::Decode(format!("a resource is malformed: {e}")))?,
            ],
            Some(_) => {
                return Err(KlaviyoError::Decode(
                    "`data` is neither a list nor an object".into(),
                ));
            }
            None => return Err(KlaviyoError::Decode("the document has no `data`".into())),
        };
        let included = match doc.remove("included") {
            Some(Value::Array(items)) => items
                .into_iter()
                .map(serde_json::from_value)
                .collect::<Result<Vec<Resource>, _>>()
                .map_err(|e| {
                    KlaviyoError::Decode(format!("an included resource is malformed: {e}"))
                })?,
            None | Some(Value::Null) => Vec::new(),
            Some(_) => {
                return Err(KlaviyoError::Decode("`included` is not a list".into()));
            }
        };
        let next = match doc.get("links").and_then(|l| l.get("next")) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(KlaviyoError::Decode("`links.next` is not a string".into()));
            }
        };
        Ok(Self {
            data,
            next,
            included,
        })
    }
}

/// A reporting endpoint: each is a read despite the POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// `POST /api/flow-series-reports`.
    FlowSeries,
    /// `POST /api/campaign-values-reports`.
    CampaignValues,
    /// `POST /api/form-values-reports`.
    FormValues,
    /// `POST /api/form-series-reports`.
    FormSeries,
}

impl ReportKind {
    /// The `data.type` of the request body.
    pub fn type_name(self) -> &'static str {
        match self {
            ReportKind::FlowSeries => "flow-series-report",
            ReportKind::CampaignValues => "campaign-values-report",
            ReportKind::FormValues => "form-values-report",
            ReportKind::FormSeries => "form-series-report",
        }
    }
}

/// One result of a report: its groupings (e.g. `flow_id`) and statistics
/// (a number per statistic for values reports, a list per statistic for series).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReportRow {
    /// Grouping key -> value, e.g. `{"form_id": "Y6nRLr"}`.
    #[serde(default)]
    pub groupings: serde_json::Map<String, Value>,
    /// Statistic -> value (or values, one per `date_times` entry).
    #[serde(default)]
    pub statistics: serde_json::Map<String, Value>,
}

/// A report's answer: `data.attributes.results` and, for series, `date_times`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// One row per grouping.
    pub rows: Vec<ReportRow>,
    /// Bucket starts of a series report, ascending (empty for values reports).
    pub date_times: Vec<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct ReportDoc {
    data: ReportData,
}

#[derive(Deserialize)]
struct ReportData {
    attributes: ReportAttributes,
}

#[derive(Deserialize)]
struct ReportAttributes {
    results: Vec<ReportRow>,
    #[serde(default, deserialize_with = "rfc3339_list_or_null")]
    date_times: Vec<DateTime<Utc>>,
}

/// `date_times` when present, else nothing (values reports have none).
fn rfc3339_list_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<DateTime<Utc>>, D::Error> {
    let v: Option<Vec<Rfc3339>> = Option::deserialize(d)?;
    Ok(v.unwrap_or_default().into_iter().map(|t| t.0).collect())
}

impl Report {
    /// Reads `data.attributes.results` (and `date_times`) from a report document.
    pub fn from_value(doc: Value) -> Result<Self, KlaviyoError> {
        let doc: ReportDoc = serde_json::from_value(doc)
            .map_err(|e| KlaviyoError::Decode(format!("the report is malformed: {e}")))?;
        Ok(Self {
            rows: doc.data.attributes.results,
            date_times: doc.data.attributes.date_times,
        })
    }
}

/// Bucket width of a metric aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// One bucket per hour.
    Hour,
    /// One bucket per day.
    Day,
}

impl Interval {
    /// The word Klaviyo uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Hour => "hour",
            Interval::Day => "day",
        }
    }

    /// The bucket width.
    pub fn width(self) -> Duration {
        match self {
            Interval::Hour => Duration::hours(1),
            Interval::Day => Duration::days(1),
        }
    }
}

/// A metric-aggregates query over `[start, end)`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateQuery {
    /// Metric id.
    pub metric_id: String,
    /// Bucket width.
    pub interval: Interval,
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
    /// `count`, `sum_value` and/or `unique`.
    pub measurements: Vec<&'static str>,
    /// IANA timezone the buckets align to, e.g. `UTC`.
    pub timezone: String,
}

impl AggregateQuery {
    /// The request body Klaviyo expects.
    pub(crate) fn body(&self) -> Value {
        let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        json!({
            "data": {
                "type": "metric-aggregate",
                "attributes": {
                    "metric_id": self.metric_id,
                    "measurements": self.measurements,
                    "interval": self.interval.as_str(),
                    "filter": [
                        format!("greater-or-equal(datetime,{})", ts(self.start)),
                        format!("less-than(datetime,{})", ts(self.end)),
                    ],
                    "timezone": self.timezone,
                }
            }
        })
    }
}

/// The answer to an [`AggregateQuery`]: one value per bucket per measurement.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AggregateSeries {
    /// Bucket starts, ascending.
    pub dates: Vec<DateTime<Utc>>,
    /// `count` per bucket (empty if not requested).
    pub count: Vec<f64>,
    /// `sum_value` per bucket (empty if not requested).
    pub sum_value: Vec<f64>,
}

/// A metric-aggregate document as sent, decoded straight from the bytes:
/// a month of hourly buckets is a few thousand numbers, and a generic JSON
/// tree of them costs several times their size in a scan's memory.
#[derive(Debug, Deserialize)]
pub struct AggregateDoc {
    data: AggregateData,
}

#[derive(Debug, Deserialize)]
struct AggregateData {
    attributes: AggregateAttributes,
}

#[derive(Debug, Deserialize)]
struct AggregateAttributes {
    #[serde(deserialize_with = "rfc3339_list")]
    dates: Vec<DateTime<Utc>>,
    data: Vec<AggregateRow>,
}

/// Reads a list of RFC 3339 times with chrono's RFC 3339 parser: its serde
/// impl goes through the general format parser, several times slower, and a
/// scan reads thousands of these.
fn rfc3339_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<DateTime<Utc>>, D::Error> {
    struct Times;
    impl<'de> serde::de::Visitor<'de> for Times {
        type Value = Vec<DateTime<Utc>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of RFC 3339 times")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
            while let Some(Rfc3339(t)) = seq.next_element()? {
                out.push(t);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Times)
}

/// One RFC 3339 time (see [`rfc3339_list`]).
struct Rfc3339(DateTime<Utc>);

impl<'de> Deserialize<'de> for Rfc3339 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Time;
        impl serde::de::Visitor<'_> for Time {
            type Value = Rfc3339;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an RFC 3339 time")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Rfc3339, E> {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| Rfc3339(t.with_timezone(&Utc)))
                    .map_err(|e| {
                        // A short, one-line excerpt: the value came from outside.
                        let head: String = v.chars().take(40).collect();
                        E::custom(format!(
                            "`{}` is not an RFC 3339 time: {e}",
                            head.escape_debug()
                        ))
                    })
            }
        }
        d.deserialize_str(Time)
    }
}

#[derive(Debug, Deserialize)]
struct AggregateRow {
    measurements: std::collections::HashMap<String, Vec<f64>>,
}

impl AggregateSeries {
    /// Reads `data.attributes.{dates, data[0].measurements}`. A requested
    /// measurement that is missing or of the wrong length is a decode error;
    /// no rows at all means no events (zeros). Public for the decoders'
    /// property tests.
    pub fn from_value(doc: &Value, measurements: &[&str]) -> Result<Self, KlaviyoError> {
        let doc = AggregateDoc::deserialize(doc)
            .map_err(|e| KlaviyoError::Decode(format!("the aggregate is malformed: {e}")))?;
        Self::from_doc(doc, measurements)
    }

    /// The series of a decoded document, checked against what was asked.
    pub fn from_doc(doc: AggregateDoc, measurements: &[&str]) -> Result<Self, KlaviyoError> {
        let AggregateAttributes { dates, data } = doc.data.attributes;
        let mut row = data.into_iter().next();
        let mut series = |name: &str| -> Result<Vec<f64>, KlaviyoError> {
            if !measurements.contains(&name) {
                return Ok(Vec::new());
            }
            let Some(row) = row.as_mut() else {
                return Ok(vec![0.0; dates.len()]);
            };
            let values = row.measurements.remove(name).ok_or_else(|| {
                KlaviyoError::Decode(format!("the aggregate has no `{name}` measurement"))
            })?;
            if values.len() != dates.len() {
                return Err(KlaviyoError::Decode(format!(
                    "the aggregate has {} `{name}` values for {} dates",
                    values.len(),
                    dates.len()
                )));
            }
            Ok(values)
        };
        Ok(Self {
            count: series("count")?,
            sum_value: series("sum_value")?,
            dates,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn pages_read_lists_objects_and_next_links() {
        let p = Page::from_value(json!({
            "data": [{"type": "flow", "id": "F1", "attributes": {"name": "Welcome"}}],
            "links": {"self": "x", "next": "https://a.klaviyo.com/api/flows?page%5Bcursor%5D=2"}
        }))
        .unwrap();
        assert_eq!(p.data.len(), 1);
        assert_eq!(p.data[0].kind, "flow");
        assert_eq!(p.data[0].relationships, Value::Null);
        assert!(p.next.as_deref().unwrap().ends_with("=2"));

        let one = Page::from_value(json!({"data": {"type": "account", "id": "A"}})).unwrap();
        assert_eq!(one.data[0].id, "A");
        assert!(one.next.is_none());
        let last = Page::from_value(json!({"data": [], "links": {"next": null}})).unwrap();
        assert!(last.data.is_empty() && last.next.is_none());
    }

    #[test]
    fn malformed_pages_are_decode_errors() {
        for bad in [
            json!([1, 2]),
            json!({"links": {}}),
            json!({"data": "x"}),
            json!({"data": [{"type": "flow"}]}),
            json!({"data": [], "links": {"next": 5}}),
        ] {
            assert!(
                matches!(Page::from_value(bad.clone()), Err(KlaviyoError::Decode(_))),
                "{bad}"
            );
        }
    }

    fn query() -> AggregateQuery {
        AggregateQuery {
            metric_id: "M1".into(),
            interval: Interval::Hour,
            start: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 11, 1, 2, 0, 0).unwrap(),
            measurements: vec!["count", "sum_value"],
            timezone: "UTC".into(),
        }
    }

    #[test]
    fn aggregate_body_has_the_datetime_filter_pair() {
        let body = query().body();
        let attrs = &body["data"]["attributes"];
        assert_eq!(body["data"]["type"], "metric-aggregate");
        assert_eq!(attrs["interval"], "hour");
        assert_eq!(
            attrs["filter"],
            json!([
                "greater-or-equal(datetime,2026-11-01T00:00:00Z)",
                "less-than(datetime,2026-11-01T02:00:00Z)"
            ])
        );
        assert_eq!(attrs["measurements"], json!(["count", "sum_value"]));
    }

    #[test]
    fn aggregate_series_parse() {
        let doc = json!({"data": {"type": "metric-aggregate", "id": "x", "attributes": {
            "dates": ["2026-11-01T00:00:00+00:00", "2026-11-01T01:00:00+00:00"],
            "data": [{"dimensions": [], "measurements": {"count": [3, 0], "sum_value": [120.5, 0.0]}}]
        }}});
        let s = AggregateSeries::from_value(&doc, &["count", "sum_value"]).unwrap();
        assert_eq!(s.dates.len(), 2);
        assert_eq!(s.count, vec![3.0, 0.0]);
        assert_eq!(s.sum_value, vec![120.5, 0.0]);
        // Not requested: left empty.
        let only = AggregateSeries::from_value(&doc, &["count"]).unwrap();
        assert!(only.sum_value.is_empty());
        // No rows: zeros.
        let empty =
            json!({"data": {"attributes": {"dates": ["2026-11-01T00:00:00Z"], "data": []}}});
        let z = AggregateSeries::from_value(&empty, &["count"]).unwrap();
        assert_eq!(z.count, vec![0.0]);
    }

    #[test]
    fn malformed_aggregates_are_decode_errors() {
        let bad = [
            json!({}),
            json!({"data": {"attributes": {"data": []}}}),
            json!({"data": {"attributes": {"dates": ["yesterday"], "data": []}}}),
            json!({"data": {"attributes": {"dates": ["2026-11-01T00:00:00Z"], "data": [{"measurements": {"count": [1, 2]}}]}}}),
            json!({"data": {"attributes": {"dates": ["2026-11-01T00:00:00Z"], "data": [{"measurements": {"count": ["1"]}}]}}}),
            json!({"data": {"attributes": {"dates": ["2026-11-01T00:00:00Z"], "data": [{"measurements": {}}]}}}),
        ];
        for doc in bad {
            assert!(
                matches!(
                    AggregateSeries::from_value(&doc, &["count"]),
                    Err(KlaviyoError::Decode(_))
                ),
                "{doc}"
            );
        }
    }
}
