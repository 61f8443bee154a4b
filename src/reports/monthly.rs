//! The monthly client report: one agency template, the same sections for
//! every client. What was checked (scans and checks run), what was found and
//! fixed, the items still open at the month's end, and week by week the
//! deliverability (bounce and spam rates from what each scan read) and the
//! revenue at risk (the value of the findings open at each week's end). A
//! pure function over findings and scan records, like the renewal report.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

use super::renewal::{
    Week, cleared_by_itself, hours, human_hours, in_window, money, value_minor, weeks,
};
use crate::findings::{Finding, FindingState};
use crate::store::scans::ScanStat;

/// Most findings listed per section in the document.
pub const MAX_LISTED: usize = 20;

/// A calendar month, by its first day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month(NaiveDate);

impl Month {
    /// The month of a year, when both are real.
    pub fn new(year: i32, month: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, 1).map(Self)
    }

    /// The month a time falls in (UTC).
    pub fn of(t: DateTime<Utc>) -> Self {
        let d = t.date_naive();
        Self(d.with_day(1).unwrap_or(d))
    }

    /// The month before.
    pub fn previous(self) -> Self {
        Self(
            (self.0 - Duration::days(1))
                .with_day(1)
                .unwrap_or(self.0 - Duration::days(28)),
        )
    }

    /// The month after.
    pub fn next(self) -> Self {
        Self(
            (self.0 + Duration::days(32))
                .with_day(1)
                .unwrap_or(self.0 + Duration::days(28)),
        )
    }

    /// Its first moment (UTC).
    pub fn start(self) -> DateTime<Utc> {
        Utc.from_utc_datetime(&self.0.and_time(chrono::NaiveTime::MIN))
    }

    /// Its last moment: the millisecond before the next month starts.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start() - Duration::milliseconds(1)
    }

    /// `October 2026`.
    pub fn label(self) -> String {
        self.0.format("%B %Y").to_string()
    }

    /// `2026-10`.
    pub fn key(self) -> String {
        self.0.format("%Y-%m").to_string()
    }

    /// The most recent month named `month` (1–12) that has begun by `now`:
    /// "october" in November is last October; in September, the year before's.
    pub fn latest_named(month: u32, now: DateTime<Utc>) -> Option<Self> {
        let this = Self::of(now);
        let year = if month <= this.0.month() {
            this.0.year()
        } else {
            this.0.year() - 1
        };
        Self::new(year, month)
    }
}

/// One week of the trend.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendWeek {
    /// The Monday it starts on.
    pub week_start: NaiveDate,
    /// Bounced ÷ received email over the scans that week, when any read it.
    pub bounce_rate: Option<f64>,
    /// Spam complaints ÷ received email.
    pub spam_rate: Option<f64>,
    /// Value of the findings open at the week's end (or the report's end).
    pub at_risk_minor: i64,
}

/// The monthly report's figures for one client.
#[derive(Debug, Clone, PartialEq)]
pub struct Monthly {
    /// Which month.
    pub month: Month,
    /// Start of the window.
    pub from: DateTime<Utc>,
    /// End of the window: the month's end, or now for the month under way.
    pub to: DateTime<Utc>,
    /// Whether the month is still under way.
    pub partial: bool,
    /// The client's reporting currency.
    pub currency: String,
    /// Scans run.
    pub scans: usize,
    /// Scans that could not read the account.
    pub failed_scans: usize,
    /// Most checks one scan ran.
    pub checks_run: u32,
    /// Findings opened.
    pub opened: usize,
    /// Value flagged by them.
    pub flagged_minor: i64,
    /// Findings the team resolved in the month, most valuable first.
    pub fixed: Vec<Finding>,
    /// Findings that cleared on their own in the month.
    pub cleared: usize,
    /// Mean hours from detection to the team's resolution.
    pub mean_hours_to_fix: Option<f64>,
    /// Findings open at the window's end, most severe and valuable first.
    pub open_items: Vec<Finding>,
    /// Week by week: deliverability and revenue at risk.
    pub trend: Vec<TrendWeek>,
    /// Week by week: opened, closed, flagged (the chart).
    pub weeks: Vec<Week>,
}

/// Whether a finding was open at `t`.
fn open_at(f: &Finding, t: DateTime<Utc>) -> bool {
    f.detected_at <= t && f.resolved_at.is_none_or(|r| r > t)
}

/// Builds the report for `month` from the client's findings active during it
/// and its scans; `now` cuts a month under way short.
pub fn monthly(
    findings: &[Finding],
    scans: &[ScanStat],
    month: Month,
    now: DateTime<Utc>,
    currency: &str,
) -> Monthly {
    let from = month.start();
    let to = month.end().min(now);
    let scans: Vec<&ScanStat> = scans
        .iter()
        .filter(|s| in_window(s.started_at, from, to))
        .collect();
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
    let mut fixed: Vec<Finding> = closed
        .iter()
        .filter(|f| !cleared_by_itself(f))
        .map(|f| (*f).clone())
        .collect();
    let fix_hours: Vec<f64> = fixed
        .iter()
        .filter_map(|f| f.resolved_at.map(|r| hours(r - f.detected_at).max(0.0)))
        .collect();
    fixed.sort_by(|a, b| value_minor(b).cmp(&value_minor(a)).then(a.id.cmp(&b.id)));
    let mut open_items: Vec<Finding> = findings
        .iter()
        .filter(|f| open_at(f, to))
        .cloned()
        .collect();
    open_items.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(value_minor(b).cmp(&value_minor(a)))
            .then(a.id.cmp(&b.id))
    });
    let weeks = weeks(findings, from, to);
    let trend = weeks
        .iter()
        .map(|w| {
            let start = Utc.from_utc_datetime(&w.week_start.and_time(chrono::NaiveTime::MIN));
            let end = (start + Duration::days(7) - Duration::milliseconds(1)).min(to);
            let (mut received, mut bounced, mut spam) = (0.0, 0.0, 0.0);
            for s in scans
                .iter()
                .filter(|s| s.started_at >= start && s.started_at <= end)
            {
                if let Some(d) = s.delivery {
                    received += d.received;
                    bounced += d.bounced;
                    spam += d.spam;
                }
            }
            let rate = |n: f64| (received > 0.0).then(|| n / received);
            TrendWeek {
                week_start: w.week_start,
                bounce_rate: rate(bounced),
                spam_rate: rate(spam),
                at_risk_minor: findings
                    .iter()
                    .filter(|f| open_at(f, end))
                    .map(value_minor)
                    .sum(),
            }
        })
        .collect();
    Monthly {
        month,
        from,
        to,
        partial: now < month.end(),
        currency: currency.to_owned(),
        scans: scans.len(),
        failed_scans: scans.iter().filter(|s| s.status != "done").count(),
        checks_run: scans.iter().map(|s| s.checks_run).max().unwrap_or(0),
        opened: opened.len(),
        flagged_minor: opened.iter().map(|f| value_minor(f)).sum(),
        cleared: closed.len() - fixed.len(),
        mean_hours_to_fix: (!fix_hours.is_empty())
            .then(|| fix_hours.iter().sum::<f64>() / fix_hours.len() as f64),
        fixed,
        open_items,
        trend,
        weeks,
    }
}

/// A rate as a percentage with two decimals, or a dash when unknown.
pub fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.2}%", r * 100.0))
        .unwrap_or_else(|| "–".to_owned())
}

impl Monthly {
    /// The report's title line.
    pub fn title(&self, client_name: &str) -> String {
        format!(
            "Monthly report for {client_name}: {}{}",
            self.month.label(),
            if self.partial { " (so far)" } else { "" }
        )
    }

    /// One line per finding for the document: id, title, severity, value.
    fn finding_row(&self, f: &Finding, extra: &str) -> String {
        format!(
            "| {} | {} | {} | {} | {extra} |\n",
            f.id,
            f.title.replace('|', "/").replace('\n', " "),
            f.severity.as_str(),
            money(value_minor(f), &self.currency),
        )
    }

    /// The report as a Markdown document, in the agency's one template.
    pub fn markdown(&self, client_name: &str) -> String {
        let c = &self.currency;
        let day = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
        let mut md = format!(
            "# {}\n\n{} to {}\n\n## What we checked\n\n",
            self.title(client_name),
            day(self.from),
            day(self.to)
        );
        md.push_str(&format!(
            "- {} scans of the Klaviyo account ({} could not read it fully)\n- {} checks on each: flows, campaigns, lists, deliverability, consent and integrations\n",
            self.scans, self.failed_scans, self.checks_run
        ));
        md.push_str("\n## What we found and fixed\n\n| | |\n|---|---|\n");
        md.push_str(&format!("| Findings opened | {} |\n", self.opened));
        md.push_str(&format!(
            "| Value flagged | {} |\n",
            money(self.flagged_minor, c)
        ));
        md.push_str(&format!("| Fixed by the team | {} |\n", self.fixed.len()));
        md.push_str(&format!("| Cleared on their own | {} |\n", self.cleared));
        md.push_str(&format!(
            "| Mean time to fix | {} |\n",
            self.mean_hours_to_fix
                .map(human_hours)
                .unwrap_or_else(|| "–".into())
        ));
        if !self.fixed.is_empty() {
            md.push_str(
                "\n| Fixed | Finding | Severity | Value | Resolved |\n|---|---|---|---|---|\n",
            );
            for f in self.fixed.iter().take(MAX_LISTED) {
                let when = f.resolved_at.map(day).unwrap_or_default();
                md.push_str(&self.finding_row(f, &when));
            }
        }
        md.push_str(&format!(
            "\n## Open items\n\n{} open at {}.\n",
            self.open_items.len(),
            day(self.to)
        ));
        if !self.open_items.is_empty() {
            md.push_str(
                "\n| Open | Finding | Severity | Value | Open for |\n|---|---|---|---|---|\n",
            );
            for f in self.open_items.iter().take(MAX_LISTED) {
                let age = human_hours(hours(self.to - f.detected_at).max(0.0));
                md.push_str(&self.finding_row(f, &age));
            }
        }
        md.push_str(
            "\n## Deliverability and revenue at risk\n\n| Week of | Bounce rate | Spam rate | Revenue at risk |\n|---|---|---|---|\n",
        );
        for w in &self.trend {
            md.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                w.week_start,
                percent(w.bounce_rate),
                percent(w.spam_rate),
                money(w.at_risk_minor, c)
            ));
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Money, Severity};
    use crate::store::scans::Delivery;

    fn t(month: u32, day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, month, day, hour, 0, 0).unwrap()
    }

    fn finding(id: i64, sev: Severity, detected: DateTime<Utc>, value: f64) -> Finding {
        let mut f = crate::findings::fixture(id, "acme", sev, detected);
        f.value = Some(Money::from_major(value, "USD"));
        f
    }

    fn resolved(mut f: Finding, at: DateTime<Utc>, by: &str) -> Finding {
        f.state = FindingState::Resolved;
        f.resolved_at = Some(at);
        f.resolved_by = Some(by.into());
        f
    }

    fn scan(at: DateTime<Utc>, received: f64, bounced: f64, spam: f64) -> ScanStat {
        ScanStat {
            started_at: at,
            status: "done".into(),
            checks_run: 12,
            delivery: Some(Delivery {
                received,
                bounced,
                spam,
            }),
        }
    }

    /// October 2026, built by hand. Weeks (Mondays): Sep 28, Oct 5, 12, 19, 26.
    fn history() -> (Vec<Finding>, Vec<ScanStat>) {
        let findings = vec![
            // Open since September, fixed by the team on Oct 3 ($300): fixed, not opened.
            resolved(
                finding(1, Severity::Critical, t(9, 25, 0), 300.0),
                t(10, 3, 12),
                "slack:U0ANA",
            ),
            // Opened Oct 6, fixed by the team Oct 7 after 24 h ($500).
            resolved(
                finding(2, Severity::Critical, t(10, 6, 9), 500.0),
                t(10, 7, 9),
                "slack:U0BO",
            ),
            // Opened Oct 13, cleared on its own Oct 14 ($40).
            resolved(
                finding(3, Severity::Warning, t(10, 13, 0), 40.0),
                t(10, 14, 0),
                "lookout",
            ),
            // Opened Oct 20 and still open ($200).
            finding(4, Severity::Warning, t(10, 20, 0), 200.0),
            // Opened Oct 28, still open, critical ($50).
            finding(5, Severity::Critical, t(10, 28, 0), 50.0),
            // Opened in November: not this month's.
            finding(6, Severity::Critical, t(11, 2, 0), 999.0),
        ];
        let scans = vec![
            scan(t(10, 1, 0), 1000.0, 10.0, 1.0),
            scan(t(10, 2, 0), 1000.0, 30.0, 1.0),
            scan(t(10, 8, 0), 2000.0, 20.0, 0.0),
            ScanStat {
                started_at: t(10, 15, 0),
                status: "failed".into(),
                checks_run: 0,
                delivery: None,
            },
            scan(t(10, 30, 0), 500.0, 40.0, 2.0),
            scan(t(11, 1, 6), 500.0, 400.0, 0.0),
        ];
        (findings, scans)
    }

    #[test]
    fn october_by_hand() {
        let (findings, scans) = history();
        let october = Month::new(2026, 10).unwrap();
        let r = monthly(&findings, &scans, october, t(11, 29, 0), "USD");
        assert_eq!(r.from, t(10, 1, 0));
        assert!(!r.partial);
        assert_eq!((r.scans, r.failed_scans, r.checks_run), (5, 1, 12));
        assert_eq!(r.opened, 4, "F-2..F-5");
        assert_eq!(r.flagged_minor, 79_000, "$500 + $40 + $200 + $50");
        let fixed: Vec<i64> = r.fixed.iter().map(|f| f.id.0).collect();
        assert_eq!(fixed, [2, 1], "most valuable first");
        assert_eq!(r.cleared, 1);
        // F-1 took 8.5 days (204 h), F-2 24 h.
        assert_eq!(r.mean_hours_to_fix, Some(114.0));
        let open: Vec<i64> = r.open_items.iter().map(|f| f.id.0).collect();
        assert_eq!(open, [5, 4], "critical first, November's excluded");
        let starts: Vec<String> = r.trend.iter().map(|w| w.week_start.to_string()).collect();
        assert_eq!(
            starts,
            [
                "2026-09-28",
                "2026-10-05",
                "2026-10-12",
                "2026-10-19",
                "2026-10-26"
            ]
        );
        // Week of Sep 28: 40 bounces in 2000 received = 2%, 2 spam = 0.1%.
        assert_eq!(r.trend[0].bounce_rate, Some(0.02));
        assert_eq!(r.trend[0].spam_rate, Some(0.001));
        assert_eq!(r.trend[1].bounce_rate, Some(0.01));
        assert_eq!(r.trend[2].bounce_rate, None, "the only scan failed");
        assert_eq!(r.trend[4].bounce_rate, Some(0.08));
        // At risk at each week's end: Oct 4: F-1 fixed on the 3rd → 0; Oct 11: 0;
        // Oct 18: 0 (F-3 cleared); Oct 25: F-4 $200; Oct 31: F-4 + F-5 $250.
        let at_risk: Vec<i64> = r.trend.iter().map(|w| w.at_risk_minor).collect();
        assert_eq!(at_risk, [0, 0, 0, 20_000, 25_000]);
        let md = r.markdown("Acme");
        for want in [
            "# Monthly report for Acme: October 2026",
            "## What we checked",
            "- 5 scans of the Klaviyo account (1 could not read it fully)",
            "| Findings opened | 4 |",
            "| Value flagged | $790 |",
            "| Fixed by the team | 2 |",
            "| Cleared on their own | 1 |",
            "| Mean time to fix | 4.8 days |",
            "## Open items\n\n2 open at 2026-10-31.",
            "| Week of | Bounce rate | Spam rate | Revenue at risk |",
            "| 2026-09-28 | 2.00% | 0.10% | $0 |",
            "| 2026-10-12 | – | – | $0 |",
            "| 2026-10-26 | 8.00% | 0.40% | $250 |",
        ] {
            assert!(md.contains(want), "{want}\n{md}");
        }
    }

    #[test]
    fn a_month_under_way_ends_now() {
        let (findings, scans) = history();
        let r = monthly(
            &findings,
            &scans,
            Month::new(2026, 11).unwrap(),
            t(11, 2, 12),
            "USD",
        );
        assert!(r.partial);
        assert_eq!(r.to, t(11, 2, 12));
        assert_eq!(r.opened, 1);
        assert_eq!(r.scans, 1);
        assert!(r.title("Acme").ends_with("November 2026 (so far)"));
        assert_eq!(r.open_items.len(), 3, "F-4, F-5 and F-6");
    }

    #[test]
    fn months_step_and_name_like_people_say_them() {
        let now = t(11, 29, 0);
        let oct = Month::latest_named(10, now).unwrap();
        assert_eq!(oct.key(), "2026-10");
        assert_eq!(Month::latest_named(12, now).unwrap().key(), "2025-12");
        assert_eq!(Month::of(now).previous().key(), "2026-10");
        let jan = Month::new(2026, 1).unwrap();
        assert_eq!(jan.previous().key(), "2025-12");
        assert_eq!(Month::new(2025, 12).unwrap().next().key(), "2026-01");
        assert_eq!(oct.end(), t(11, 1, 0) - Duration::milliseconds(1));
        assert_eq!(oct.label(), "October 2026");
        assert!(Month::new(2026, 13).is_none());
    }
}
