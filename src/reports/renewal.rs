//! The renewal report: what Lookout caught and what the team fixed for one
//! client over a trailing window, set against the manual weekly check it
//! replaces. Pure functions over the client's findings, so every figure is
//! tested against a hand-built history.
//!
//! Definitions (also in the README):
//! - **Flagged**: the at-stake value of the findings opened in the window, as
//!   last measured (checks price an ongoing problem by how long it has run).
//! - **Recovered**: for each finding the team resolved in the window, its daily
//!   value (value ÷ days from when the problem began to resolution, at least
//!   one) × the 3.5 days a manual weekly check takes on average to notice.
//! - **Lead time**: detection minus when the problem began (findings that know
//!   when it began). **Response**: detection to acknowledgement, and to
//!   resolution by the team.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::domain::Money;
use crate::findings::{Finding, FindingState};

/// A manual weekly check notices a problem 3.5 days after it starts on average.
pub const MANUAL_MEAN_HOURS: f64 = 84.0;
/// …and 7 days after at worst.
pub const MANUAL_WORST_HOURS: f64 = 168.0;
/// Longest list of top findings in the report.
pub const TOP: usize = 5;

/// Mean and median of a set of durations, in hours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// How many durations.
    pub count: usize,
    /// Mean hours.
    pub mean_hours: f64,
    /// Median hours.
    pub median_hours: f64,
}

impl Spread {
    /// The spread of `hours`, or `None` when there are none.
    pub fn of(mut hours: Vec<f64>) -> Option<Self> {
        if hours.is_empty() {
            return None;
        }
        hours.sort_by(f64::total_cmp);
        let n = hours.len();
        let median = if n % 2 == 1 {
            hours[n / 2]
        } else {
            (hours[n / 2 - 1] + hours[n / 2]) / 2.0
        };
        Some(Self {
            count: n,
            mean_hours: hours.iter().sum::<f64>() / n as f64,
            median_hours: median,
        })
    }
}

/// One week of the window: what opened and closed, and the value flagged
/// (the chart's points, so the document and the chart show the same weeks).
pub use super::chart::WeeklyPoint as Week;

/// The renewal report's figures for one client.
#[derive(Debug, Clone, PartialEq)]
pub struct Renewal {
    /// Start of the window.
    pub from: DateTime<Utc>,
    /// End of the window.
    pub to: DateTime<Utc>,
    /// The client's reporting currency.
    pub currency: String,
    /// Findings opened in the window.
    pub opened: usize,
    /// Findings closed in the window.
    pub closed: usize,
    /// …of which resolved by the team.
    pub closed_by_team: usize,
    /// …of which cleared on their own (the check stopped seeing them).
    pub cleared: usize,
    /// Opened in the window and still open at its end.
    pub still_open: usize,
    /// Value flagged, minor units.
    pub flagged_minor: i64,
    /// Opened findings without a value method.
    pub unpriced: usize,
    /// Value recovered, minor units.
    pub recovered_minor: i64,
    /// Detection lead time.
    pub lead: Option<Spread>,
    /// Detection to acknowledgement.
    pub to_ack: Option<Spread>,
    /// Detection to resolution by the team.
    pub to_resolve: Option<Spread>,
    /// The most valuable findings opened in the window, most valuable first.
    pub top: Vec<Finding>,
    /// Week by week, oldest first.
    pub weeks: Vec<Week>,
}

/// A duration in hours.
pub(crate) fn hours(d: Duration) -> f64 {
    d.num_seconds() as f64 / 3600.0
}

/// The window includes its end: a report asked for now counts what just happened.
pub(crate) fn in_window(t: DateTime<Utc>, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    t >= from && t <= to
}

/// Whether Lookout (a scan) rather than a person resolved it.
pub(crate) fn cleared_by_itself(f: &Finding) -> bool {
    f.resolved_by.as_deref() == Some("lookout")
}

/// A finding's value in minor units, 0 when it has none.
pub(crate) fn value_minor(f: &Finding) -> i64 {
    f.value.as_ref().map(|v| v.minor).unwrap_or(0)
}

/// Builds the report from the client's findings (any superset of those opened
/// or closed in `[from, to]`; others are ignored).
pub fn renewal(
    findings: &[Finding],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    currency: &str,
) -> Renewal {
    let opened: Vec<&Finding> = findings
        .iter()
        .filter(|f| in_window(f.detected_at, from, to))
        .collect();
    let closed: Vec<&Finding> = findings
        .iter()
        .filter(|f| {
            f.state == FindingState::Resolved
                && f.resolved_at.is_some_and(|r| in_window(r, from, to))
        })
        .collect();
    let by_team: Vec<&Finding> = closed
        .iter()
        .copied()
        .filter(|f| !cleared_by_itself(f))
        .collect();
    let recovered_minor = by_team
        .iter()
        .map(|f| {
            let began = f.began_at.unwrap_or(f.detected_at);
            let end = f.resolved_at.unwrap_or(f.last_seen_at);
            let days = (hours(end - began) / 24.0).max(1.0);
            (value_minor(f) as f64 / days * MANUAL_MEAN_HOURS / 24.0).round() as i64
        })
        .sum();
    let mut top: Vec<Finding> = opened
        .iter()
        .filter(|f| value_minor(f) > 0)
        .map(|f| (*f).clone())
        .collect();
    top.sort_by(|a, b| value_minor(b).cmp(&value_minor(a)).then(a.id.cmp(&b.id)));
    top.truncate(TOP);
    Renewal {
        from,
        to,
        currency: currency.to_owned(),
        opened: opened.len(),
        closed: closed.len(),
        closed_by_team: by_team.len(),
        cleared: closed.len() - by_team.len(),
        still_open: opened.iter().filter(|f| f.state.is_active()).count(),
        flagged_minor: opened.iter().map(|f| value_minor(f)).sum(),
        unpriced: opened.iter().filter(|f| f.value.is_none()).count(),
        recovered_minor,
        lead: Spread::of(
            opened
                .iter()
                .filter_map(|f| f.began_at.map(|b| hours(f.detected_at - b).max(0.0)))
                .collect(),
        ),
        to_ack: Spread::of(
            opened
                .iter()
                .filter_map(|f| f.acknowledged_at.map(|a| hours(a - f.detected_at).max(0.0)))
                .collect(),
        ),
        to_resolve: Spread::of(
            by_team
                .iter()
                .filter_map(|f| f.resolved_at.map(|r| hours(r - f.detected_at).max(0.0)))
                .collect(),
        ),
        top,
        weeks: weeks(findings, from, to),
    }
}

/// Week-by-week counts, each week starting on a Monday.
pub(crate) fn weeks(findings: &[Finding], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Week> {
    let monday = |d: NaiveDate| d - Duration::days(i64::from(d.weekday().num_days_from_monday()));
    let first = monday(from.date_naive());
    let mut out = Vec::new();
    let mut start = first;
    while start <= to.date_naive() && out.len() < 60 {
        out.push(Week {
            week_start: start,
            opened: 0,
            closed: 0,
            flagged_minor: 0,
        });
        start += Duration::days(7);
    }
    let index = |t: DateTime<Utc>| -> Option<usize> {
        in_window(t, from, to).then(|| ((t.date_naive() - first).num_days() / 7) as usize)
    };
    for f in findings {
        if let Some(w) = index(f.detected_at).and_then(|i| out.get_mut(i)) {
            w.opened += 1;
            w.flagged_minor += value_minor(f);
        }
        if f.state == FindingState::Resolved
            && let Some(w) = f.resolved_at.and_then(index).and_then(|i| out.get_mut(i))
        {
            w.closed += 1;
        }
    }
    out
}

/// Hours as people read them: `45 min`, `6.5 h`, `3.2 days`.
pub fn human_hours(h: f64) -> String {
    if h < 1.0 {
        format!("{} min", (h * 60.0).round())
    } else if h < 48.0 {
        format!("{:.1} h", h)
    } else {
        format!("{:.1} days", h / 24.0)
    }
}

/// Money in the report's currency.
pub fn money(minor: i64, currency: &str) -> String {
    Money {
        minor,
        currency: currency.to_owned(),
    }
    .to_string()
}

impl Renewal {
    /// How many times faster than the manual weekly check Lookout noticed, on average.
    pub fn speedup(&self) -> Option<f64> {
        self.lead
            .filter(|l| l.mean_hours > 0.0)
            .map(|l| MANUAL_MEAN_HOURS / l.mean_hours)
    }

    /// The report as a Markdown document for the client deck.
    pub fn markdown(&self, client_name: &str) -> String {
        let c = &self.currency;
        let day = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
        let spread = |s: Option<Spread>| match s {
            Some(s) => format!(
                "{} mean, {} median ({} findings)",
                human_hours(s.mean_hours),
                human_hours(s.median_hours),
                s.count
            ),
            None => "no data".to_owned(),
        };
        let mut md = format!(
            "# {client_name}: what Lookout caught, {} to {}\n\n",
            day(self.from),
            day(self.to)
        );
        md.push_str("| | |\n|---|---|\n");
        md.push_str(&format!("| Findings opened | {} |\n", self.opened));
        md.push_str(&format!(
            "| Findings closed | {} ({} by the team, {} cleared on their own) |\n",
            self.closed, self.closed_by_team, self.cleared
        ));
        md.push_str(&format!("| Still open | {} |\n", self.still_open));
        md.push_str(&format!(
            "| Value flagged | {}{} |\n",
            money(self.flagged_minor, c),
            if self.unpriced > 0 {
                format!(" (+{} findings without a dollar method)", self.unpriced)
            } else {
                String::new()
            }
        ));
        md.push_str(&format!(
            "| Value recovered | {} |\n",
            money(self.recovered_minor, c)
        ));
        md.push_str(&format!(
            "| Detection lead time | {} |\n",
            spread(self.lead)
        ));
        md.push_str(&format!(
            "| Time to acknowledge | {} |\n",
            spread(self.to_ack)
        ));
        md.push_str(&format!(
            "| Time to resolve | {} |\n",
            spread(self.to_resolve)
        ));
        md.push_str(&format!(
            "| A manual weekly check | {} on average, {} at worst |\n",
            human_hours(MANUAL_MEAN_HOURS),
            human_hours(MANUAL_WORST_HOURS)
        ));
        if let Some(x) = self.speedup() {
            md.push_str(&format!("| Caught sooner by | {x:.0}× |\n"));
        }
        if !self.top.is_empty() {
            md.push_str(
                "\n## Top findings by value\n\n| Finding | Value | State |\n|---|---|---|\n",
            );
            for f in &self.top {
                md.push_str(&format!(
                    "| {} {} | {} | {} |\n",
                    f.id,
                    f.title.replace('|', "/"),
                    money(value_minor(f), c),
                    f.state.as_str()
                ));
            }
        }
        md.push_str(
            "\n## Week by week\n\n| Week of | Opened | Closed | Flagged |\n|---|---|---|---|\n",
        );
        for w in &self.weeks {
            md.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                w.week_start,
                w.opened,
                w.closed,
                money(w.flagged_minor, c)
            ));
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Severity;
    use chrono::TimeZone;

    fn t(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 9, day, hour, 0, 0).unwrap()
    }

    fn finding(id: i64, detected: DateTime<Utc>, value: Option<f64>) -> Finding {
        let mut f = crate::findings::fixture(id, "acme", Severity::Critical, detected);
        f.value = value.map(|v| Money::from_major(v, "USD"));
        f
    }

    fn resolved(mut f: Finding, at: DateTime<Utc>, by: &str) -> Finding {
        f.state = FindingState::Resolved;
        f.resolved_at = Some(at);
        f.resolved_by = Some(by.into());
        f
    }

    /// A hand-built September: five findings, every figure worked out by hand.
    fn history() -> Vec<Finding> {
        // 1: began 1 Sep 00:00, found 1 Sep 06:00, acked 07:00, fixed by ana 2 Sep 06:00 ($480).
        let mut f1 = finding(1, t(1, 6), Some(480.0));
        f1.began_at = Some(t(1, 0));
        f1.acknowledged_at = Some(t(1, 7));
        let f1 = resolved(f1, t(2, 6), "slack:U0ANA");
        // 2: began 3 Sep 00:00, found 3 Sep 12:00, acked 15:00, still open ($1,000).
        let mut f2 = finding(2, t(3, 12), Some(1000.0));
        f2.began_at = Some(t(3, 0));
        f2.acknowledged_at = Some(t(3, 15));
        // 3: found 8 Sep 00:00, cleared by a scan 9 Sep 00:00 ($50).
        let f3 = resolved(finding(3, t(8, 0), Some(50.0)), t(9, 0), "lookout");
        // 4: found 10 Sep, no value, resolved by bo on 20 Sep after 4 days' problem.
        let mut f4 = finding(4, t(10, 0), None);
        f4.began_at = Some(t(9, 0));
        let f4 = resolved(f4, t(20, 0), "discord:42");
        // 5: found in August, resolved by ana in the window ($700, began 28 Aug 00:00).
        let mut f5 = finding(
            5,
            Utc.with_ymd_and_hms(2026, 8, 30, 0, 0, 0).unwrap(),
            Some(700.0),
        );
        f5.began_at = Some(Utc.with_ymd_and_hms(2026, 8, 28, 0, 0, 0).unwrap());
        let f5 = resolved(f5, t(4, 0), "slack:U0ANA");
        vec![f1, f2, f3, f4, f5]
    }

    #[test]
    fn every_figure_matches_the_hand_built_history() {
        let r = renewal(&history(), t(1, 0), t(29, 0), "USD");
        assert_eq!(r.opened, 4, "1, 2, 3 and 4; 5 opened in August");
        assert_eq!(r.closed, 4, "1, 3, 4 and 5");
        assert_eq!((r.closed_by_team, r.cleared), (3, 1));
        assert_eq!(r.still_open, 1);
        assert_eq!(r.flagged_minor, 48_000 + 100_000 + 5_000);
        assert_eq!(r.unpriced, 1);
        // 1: $480 over 30 h = 1.25 days -> $384/day × 3.5 = $1,344.
        // 4: no value -> 0. 5: $700 over 7 days -> $100/day × 3.5 = $350.
        assert_eq!(r.recovered_minor, 134_400 + 35_000);
        // Lead times: 6 h (1), 12 h (2), 24 h (4).
        let lead = r.lead.unwrap();
        assert_eq!(
            (lead.count, lead.mean_hours, lead.median_hours),
            (3, 14.0, 12.0)
        );
        // Acknowledged: 1 h (1), 3 h (2).
        let ack = r.to_ack.unwrap();
        assert_eq!((ack.mean_hours, ack.median_hours), (2.0, 2.0));
        // Resolved by the team: 24 h (1), 240 h (4), 120 h (5).
        let res = r.to_resolve.unwrap();
        assert_eq!(
            (res.count, res.mean_hours, res.median_hours),
            (3, 128.0, 120.0)
        );
        assert_eq!(r.speedup(), Some(6.0), "84 h manual vs 14 h");
        let top: Vec<i64> = r.top.iter().map(|f| f.id.0).collect();
        assert_eq!(
            top,
            [2, 1, 3],
            "valued findings opened in the window, most first"
        );
    }

    #[test]
    fn weeks_start_on_monday_and_count_what_happened_in_them() {
        let r = renewal(&history(), t(1, 0), t(29, 0), "USD");
        // 1 September 2026 is a Tuesday: the first week starts Monday 31 August.
        let starts: Vec<String> = r.weeks.iter().map(|w| w.week_start.to_string()).collect();
        assert_eq!(
            starts,
            [
                "2026-08-31",
                "2026-09-07",
                "2026-09-14",
                "2026-09-21",
                "2026-09-28"
            ]
        );
        let counts: Vec<(u32, u32, i64)> = r
            .weeks
            .iter()
            .map(|w| (w.opened, w.closed, w.flagged_minor))
            .collect();
        assert_eq!(
            counts,
            [
                (2, 2, 148_000),
                (2, 1, 5_000),
                (0, 1, 0),
                (0, 0, 0),
                (0, 0, 0)
            ]
        );
    }

    #[test]
    fn an_empty_window_has_no_spreads_and_still_reads() {
        let r = renewal(&[], t(1, 0), t(29, 0), "EUR");
        assert_eq!((r.opened, r.closed, r.flagged_minor), (0, 0, 0));
        assert!(r.lead.is_none() && r.speedup().is_none());
        let md = r.markdown("Acme");
        assert!(md.contains("| Findings opened | 0 |"), "{md}");
        assert!(md.contains("no data"));
    }

    #[test]
    fn the_markdown_carries_every_figure() {
        let md = renewal(&history(), t(1, 0), t(29, 0), "USD").markdown("Acme | Outfitters");
        for want in [
            "| Findings opened | 4 |",
            "| Findings closed | 4 (3 by the team, 1 cleared on their own) |",
            "| Value flagged | $1,530 (+1 findings without a dollar method) |",
            "| Value recovered | $1,694 |",
            "| Detection lead time | 14.0 h mean, 12.0 h median (3 findings) |",
            "| A manual weekly check | 3.5 days on average, 7.0 days at worst |",
            "| Caught sooner by | 6× |",
            "| F-2 Finding 2 | $1,000 | open |",
            "| 2026-08-31 | 2 | 2 | $1,480 |",
        ] {
            assert!(md.contains(want), "{want}\n{md}");
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_hours(0.5), "30 min");
        assert_eq!(human_hours(6.5), "6.5 h");
        assert_eq!(human_hours(84.0), "3.5 days");
    }
}
