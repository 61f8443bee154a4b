//! Checks: email deliverability (bounce, spam complaint, unsubscribe, open and
//! click rates; audiences; sender authentication; unsubscribe links).
//!
//! **Rate checks** (`deliv-bounce-rate`, `deliv-spam-rate`,
//! `deliv-unsubscribe-rate`) judge three sources, each under its own subject so
//! each holds its own finding:
//! - `campaigns`: the three newest sent email campaigns that the campaign values
//!   report covers, rates weighted by recipients (Klaviyo's own "last three
//!   campaigns" view);
//! - `flows`: the last 7 complete days of every flow's daily series,
//!   Σ events ÷ Σ recipients;
//! - `email`: the spike path, events over Received Email in the last 24 hourly
//!   buckets of activity (the subject predates the other two and is kept so open
//!   findings carry over); or, when the day is under the line, the last whole
//!   hour and the current one at the critical line with a few events at least
//!   (`recent_min_events`), so a spike shows within minutes, not hours.
//!
//! These three run on pulses too (their cadence is pulse): a pulse reads the
//! latest hours of the four metrics again and carries the rest of the last full
//! scan's activity, and the report paths, which a pulse does not read, judge an
//! open finding on the last full scan's reports (below), so a pulse neither
//! raises nor clears anything the reports say.
//!
//! A source is judged only when at least 200 recipients are in it (below that
//! one bounce swings the rate by half a percent). Lines are Klaviyo's own ranges
//! (CHECKS.md), in percent. The checks need only Activity (the spike path): when
//! the campaign values report or the flow series could not be fetched, the
//! fetch records a gap and the scan's `scan-incomplete` note names it. Because
//! the check still runs, a finding already open on a report source whose data is
//! missing this scan is judged on the previous snapshot's report instead, so
//! missing data never clears it. Per-client overrides, for each check id:
//! `<id>.warning` and `<id>.critical` (percent, e.g.
//! `deliv-bounce-rate.warning = 1.0`) and `<id>.min_received` (default 200).
//! An open finding stays open until its rate falls under `HYSTERESIS` × the
//! warning line. Unsubscribes are a warning from 0.3% (batched) and critical
//! from 0.7%, Klaviyo's critical band, where they are posted at once.
//!
//! Value at stake (bounce and spam only), kept deliberately simple:
//! `revenue per recipient × recipients in the next 30 days × over-line fraction`,
//! the over-line fraction being rate − warning line (as a fraction of
//! recipients): the extra share of mail that bounces or complains beyond the
//! acceptable level if the rate holds for a month. Per source: for `email`,
//! 28-day Placed Order value ÷ 28-day Received Email, and 30 × the daily
//! Received Email; for `campaigns`, the three campaigns' attributed revenue ÷
//! their recipients, and the recipients of the campaigns sent in the last 30
//! days; for `flows`, the 7 days' attributed revenue ÷ recipients, and 30/7 of
//! the week's recipients. Conservative on purpose (it ignores wider inbox
//! filtering), so the dollar figure in renewal reports is one a client will
//! believe.
//!
//! **Open-rate cliff**: the newest sent email campaign's unique open rate
//! against the median of the (up to) 8 sent before it; at least 4 of them and
//! 1,000 recipients in the newest are needed. Overrides:
//! `deliv-open-rate-cliff.drop` (percent, default 40),
//! `deliv-open-rate-cliff.min_history` (4), `deliv-open-rate-cliff.min_recipients`
//! (1,000). Value: the earlier campaigns' revenue per recipient × the newest
//! campaign's recipients × the relative drop (the sends that no longer reached
//! an inbox).
//!
//! **Click rate**: recipient-weighted unique click rate of the last three
//! campaigns under 1% (`deliv-click-rate-low.line`, percent;
//! `deliv-click-rate-low.min_received`, 200). An open finding holds until the
//! rate is back above the line ÷ `HYSTERESIS`.
//!
//! **Unengaged sends**: an email campaign sent in the last 30 days whose
//! included audiences hold a list of more than 50,000 profiles and no segment
//! whose name says engaged (`deliv-unengaged-sends.min_list`,
//! `deliv-unengaged-sends.days`). Excluded audiences are not in the snapshot.
//!
//! **Sending domain**: from the client profile's `sending_domain` (nothing
//! known: quiet). SPF or DKIM failing, no DMARC record, DMARC not aligned, or a
//! blank domain are a warning, critical for bulk senders (Gmail and Yahoo
//! enforce these since February 2024). `deliv-sending-domain.dmarc_policy`
//! (0 `none`, the default; 1 `quarantine`; 2 `reject`) asks for a stricter
//! DMARC policy. It needs the Account part only so that a scan that fetched
//! nothing skips it.
//!
//! **Unsubscribe link**: campaigns carry no template id in the snapshot, so
//! every template is judged: one without `{% unsubscribe_url %}`,
//! `{% unsubscribe %}`, `{% unsubscribe_link %}` or a link whose address
//! contains "unsubscribe" is critical. `deliv-one-click-unsubscribe.max_age_days`
//! (default 0: no limit) judges only templates edited in that many days.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::integrations::{daily_count, daily_value, fmt_count, fmt_share};
use super::{Cadence, Check, CheckInput, HYSTERESIS, Observation, links};
use crate::config::ClientProfile;
use crate::domain::{Money, Severity, Track};
use crate::scan::snapshot::{Campaign, CampaignStats, FlowSeries, KnownMetric, Part, Snapshot};

/// The checks of this family.
pub const CHECKS: &[Check] = &[
    Check {
        id: BOUNCE.id,
        family: "deliverability",
        summary: "Bounce rate of the last 3 campaigns, 7 days of flows or the last 24 h at or above 0.8% (critical at 1.5%), or of the last 2 h at the critical line",
        threshold: "≥ 0.8% warning, ≥ 1.5% critical",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Pulse,
        needs: &[Part::Activity],
        run: bounce_rate,
    },
    Check {
        id: SPAM.id,
        family: "deliverability",
        summary: "Spam complaint rate of the last 3 campaigns, 7 days of flows or the last 24 h at or above 0.08% (critical at 0.15%), or of the last 2 h at the critical line",
        threshold: "≥ 0.08% warning, ≥ 0.15% critical",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Pulse,
        needs: &[Part::Activity],
        run: spam_rate,
    },
    Check {
        id: UNSUBSCRIBE.id,
        family: "deliverability",
        summary: "Unsubscribe rate of the last 3 campaigns, 7 days of flows or the last 24 h at or above 0.3% (critical at 0.7%), or of the last 2 h at the critical line",
        threshold: "≥ 0.3% warning, ≥ 0.7% critical",
        default_severity: Severity::Warning,
        track: Track::Eventually,
        cadence: Cadence::Pulse,
        needs: &[Part::Activity],
        run: unsubscribe_rate,
    },
    Check {
        id: OPEN_CLIFF,
        family: "deliverability",
        summary: "The newest campaign's unique open rate fell far below the median of the 8 before it (inbox to spam)",
        threshold: "≥ 40% below the median of the previous 8 campaigns",
        default_severity: Severity::Critical,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Campaigns, Part::CampaignReport],
        run: open_rate_cliff,
    },
    Check {
        id: CLICK_LOW,
        family: "deliverability",
        summary: "Unique click rate of the last 3 campaigns in Klaviyo's critical range",
        threshold: "< 1%",
        default_severity: Severity::Opportunity,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Campaigns, Part::CampaignReport],
        run: click_rate_low,
    },
    Check {
        id: UNENGAGED_SENDS,
        family: "deliverability",
        summary: "A campaign sent to a whole large list rather than an engaged segment",
        threshold: "in the last 30 days, a list > 50,000 and no engaged segment",
        default_severity: Severity::Warning,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Campaigns, Part::Lists, Part::Segments],
        run: unengaged_sends,
    },
    Check {
        id: SENDING_DOMAIN,
        family: "deliverability",
        summary: "The branded sending domain lacks SPF, DKIM or an aligned DMARC record",
        threshold: "any missing (critical for bulk senders)",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Account],
        run: sending_domain,
    },
    Check {
        id: UNSUBSCRIBE_LINK,
        family: "deliverability",
        summary: "An email template without an unsubscribe link",
        threshold: "missing",
        default_severity: Severity::Critical,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Templates],
        run: unsubscribe_link,
    },
];

const OPEN_CLIFF: &str = "deliv-open-rate-cliff";
const CLICK_LOW: &str = "deliv-click-rate-low";
const UNENGAGED_SENDS: &str = "deliv-unengaged-sends";
const SENDING_DOMAIN: &str = "deliv-sending-domain";
const UNSUBSCRIBE_LINK: &str = "deliv-one-click-unsubscribe";

/// One rate check's definition.
struct RateRule {
    id: &'static str,
    metric: KnownMetric,
    /// Words for titles, e.g. `Bounce rate`.
    name: &'static str,
    warning_pct: f64,
    critical_pct: f64,
    /// Severity at or above the critical line.
    critical_severity: Severity,
    /// Track below the critical line.
    track: Track,
    /// Whether a value at stake is computed.
    priced: bool,
    /// The rate in a campaign's statistics (a fraction).
    campaign_rate: fn(&CampaignStats) -> f64,
    /// The daily event counts in a flow's series.
    flow_events: fn(&FlowSeries) -> &[f64],
    /// Fewest events in the recent window for a spike there to count: at
    /// baseline rates so many in two hours almost never happen by chance.
    recent_min_events: f64,
    /// What to do, one sentence.
    advice: &'static str,
}

const BOUNCE: RateRule = RateRule {
    id: "deliv-bounce-rate",
    metric: KnownMetric::BouncedEmail,
    name: "Bounce rate",
    warning_pct: 0.8,
    critical_pct: 1.5,
    critical_severity: Severity::Critical,
    track: Track::Now,
    priced: true,
    campaign_rate: |c| c.bounce_rate,
    flow_events: |f| &f.bounced,
    recent_min_events: 5.0,
    advice: "Look for a recent import or an old segment in the last sends, suppress the \
             bounced addresses and pause sends to that audience.",
};

const SPAM: RateRule = RateRule {
    id: "deliv-spam-rate",
    metric: KnownMetric::MarkedEmailAsSpam,
    name: "Spam complaint rate",
    warning_pct: 0.08,
    critical_pct: 0.15,
    critical_severity: Severity::Critical,
    track: Track::Now,
    priced: true,
    campaign_rate: |c| c.spam_complaint_rate,
    flow_events: |f| &f.spam_complaints,
    // Complaints are rarer: three in two hours is already far off baseline.
    recent_min_events: 3.0,
    advice: "Gmail and Yahoo filter senders above 0.3%: send only to engaged segments \
             and check the latest campaigns' audiences and frequency.",
};

const UNSUBSCRIBE: RateRule = RateRule {
    id: "deliv-unsubscribe-rate",
    metric: KnownMetric::Unsubscribed,
    name: "Unsubscribe rate",
    warning_pct: 0.3,
    critical_pct: 0.7,
    // Klaviyo's critical band: the audience is rejecting the mail outright.
    critical_severity: Severity::Critical,
    // Below the critical line it costs list size slowly: batched.
    track: Track::Eventually,
    priced: false,
    campaign_rate: |c| c.unsubscribe_rate,
    flow_events: |f| &f.unsubscribes,
    recent_min_events: 5.0,
    advice: "Review send frequency and targeting of the latest campaigns.",
};

/// Hours the spike path's recent window spans: the last whole hour and the current one.
const RECENT_HOURS: i64 = 2;

/// Minimum recipients in a source before a rate means anything.
const MIN_RECEIVED: f64 = 200.0;

/// Float noise allowance so a rate exactly on a line counts as on it.
const EPSILON_PCT: f64 = 1e-9;

/// Days of future sends the value at stake covers.
const HORIZON_DAYS: f64 = 30.0;

/// Campaigns in Klaviyo's "last three campaigns" view.
const LAST_CAMPAIGNS: usize = 3;

/// Days of flow series the flow path judges.
const FLOW_DAYS: i64 = 7;

fn bounce_rate(input: &CheckInput<'_>) -> Vec<Observation> {
    evaluate(input, &BOUNCE)
}

fn spam_rate(input: &CheckInput<'_>) -> Vec<Observation> {
    evaluate(input, &SPAM)
}

fn unsubscribe_rate(input: &CheckInput<'_>) -> Vec<Observation> {
    evaluate(input, &UNSUBSCRIBE)
}

/// `0.8%`, `0.08%`, `0.15%`, `2.4%`: two decimals below 1%, trailing zeros dropped.
fn fmt_pct(p: f64) -> String {
    if p >= 1.0 {
        format!("{p:.1}%")
    } else {
        let s = format!("{p:.2}");
        format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// The spike path's subject: the account's email as a whole.
const SUBJECT: &str = "email";
/// The campaign path's subject.
const CAMPAIGNS: &str = "campaigns";
/// The flow path's subject.
const FLOWS: &str = "flows";

/// A rate rule's lines for this client.
struct Lines {
    warning: f64,
    critical: f64,
    min_received: f64,
}

impl Lines {
    fn of(p: &ClientProfile, rule: &RateRule) -> Self {
        Self {
            warning: p.threshold(&format!("{}.warning", rule.id), rule.warning_pct),
            critical: p.threshold(&format!("{}.critical", rule.id), rule.critical_pct),
            min_received: p.threshold(&format!("{}.min_received", rule.id), MIN_RECEIVED),
        }
    }

    /// Whether `pct` is at or over the warning line (or, while `subject`'s
    /// finding is open, over the hysteresis line).
    fn over(&self, input: &CheckInput<'_>, rule: &RateRule, subject: &str, pct: f64) -> bool {
        let line = if input.is_open(rule.id, subject) {
            self.warning * HYSTERESIS
        } else {
            self.warning
        };
        pct.is_finite() && pct + EPSILON_PCT >= line
    }

    fn critical(&self, pct: f64) -> bool {
        pct + EPSILON_PCT >= self.critical
    }

    /// `at or above Klaviyo's critical line of 1.5%` / `over the 0.8% warning line`.
    fn level(&self, pct: f64) -> String {
        if self.critical(pct) {
            format!(
                "at or above Klaviyo's critical line of {}",
                fmt_pct(self.critical)
            )
        } else {
            format!("over the {} warning line", fmt_pct(self.warning))
        }
    }

    /// Severity and track of an occurrence at `pct`.
    fn grade(&self, rule: &RateRule, pct: f64) -> (Severity, Track) {
        if self.critical(pct) {
            let sev = rule.critical_severity;
            // Critical findings are posted at once whatever the family's track.
            let track = if sev == Severity::Critical {
                Track::Now
            } else {
                rule.track
            };
            (sev, track)
        } else {
            (Severity::Warning, rule.track)
        }
    }
}

/// Where a report source's data comes from this time.
struct Source<'a> {
    snapshot: &'a Snapshot,
    now: DateTime<Utc>,
    /// Read from the previous snapshot because this scan could not fetch it.
    stale: bool,
}

impl Source<'_> {
    /// A sentence to append when the data is the previous scan's.
    fn note(&self) -> String {
        if self.stale {
            format!(
                " (This scan could not read the report: judged on the scan of {} UTC.)",
                self.now.format("%Y-%m-%d %H:%M")
            )
        } else {
            String::new()
        }
    }
}

/// This scan's data when `has` it; otherwise, for a finding already open on
/// `subject`, the previous snapshot's, so a missing report never clears it.
fn source<'a>(
    input: &CheckInput<'a>,
    check: &str,
    subject: &str,
    has: fn(&Snapshot) -> bool,
) -> Option<Source<'a>> {
    if has(input.snapshot) {
        return Some(Source {
            snapshot: input.snapshot,
            now: input.now,
            stale: false,
        });
    }
    let prev = input.previous.filter(|p| has(p))?;
    input.is_open(check, subject).then_some(Source {
        snapshot: prev,
        now: prev.taken_at,
        stale: true,
    })
}

fn evaluate(input: &CheckInput<'_>, rule: &RateRule) -> Vec<Observation> {
    let lines = Lines::of(input.profile, rule);
    let mut out = Vec::new();
    out.extend(spike(input, rule, &lines));
    out.extend(campaign_rates(input, rule, &lines));
    out.extend(flow_rates(input, rule, &lines));
    out
}

/// The 24-hour path over hourly activity.
fn spike(input: &CheckInput<'_>, rule: &RateRule, lines: &Lines) -> Option<Observation> {
    let warning = lines.warning;
    let received = input.snapshot.activity_of(KnownMetric::ReceivedEmail)?;
    // A metric absent from the activity does not exist in the account: zero events.
    let events = input.snapshot.activity_of(rule.metric);
    let since = input.now - Duration::hours(24);
    let window = |from: DateTime<Utc>| {
        let sent = received.count_between(from, input.now);
        let ev = events.map_or(0.0, |a| a.count_between(from, input.now));
        (ev, sent, 100.0 * ev / sent)
    };
    // The day's rate, the catalogue's line; else a spike in the last two
    // hours (read by every pulse), held to the critical line and a few events
    // so the noise of a small sample cannot raise it.
    let day = window(since);
    let hour = input.now.duration_trunc(Duration::hours(1)).ok()?;
    let recent = window(hour - Duration::hours(RECENT_HOURS - 1));
    // Written so NaN counts (malformed aggregates) fail the tests and stay quiet.
    let (total_events, total_received, pct, span) =
        if day.1 >= lines.min_received && day.1 > 0.0 && lines.over(input, rule, SUBJECT, day.2) {
            (day.0, day.1, day.2, "24 h")
        } else if recent.1 >= lines.min_received
            && recent.0 >= rule.recent_min_events
            && recent.2 + EPSILON_PCT >= lines.critical
        {
            (recent.0, recent.1, recent.2, "2 h")
        } else {
            return None;
        };
    let (severity, track) = lines.grade(rule, pct);

    /// Fewest sends in an hour for that hour's rate to count.
    const MIN_HOURLY_SENDS: f64 = 50.0;
    /// Fewest events in an hour for that hour to count as over the line.
    const MIN_HOURLY_EVENTS: f64 = 3.0;
    // The problem began where the current run of over-the-line hours began:
    // walk back from now over hours that had sends and stop at the first one
    // under the line, so an isolated noisy night hour does not backdate it.
    let began_at: Option<DateTime<Utc>> = events.and_then(|ev| {
        let hours: Vec<(DateTime<Utc>, f64)> = received
            .iter()
            // Hours with few sends say nothing about a rate: one bounce out of
            // ten is 10%. Skip them rather than let them start or stop a run.
            .filter(|(t, r, _)| *t >= since && *t < input.now && *r >= MIN_HOURLY_SENDS)
            .map(|(t, r, _)| (t, r))
            .collect();
        let mut start = None;
        for (t, r) in hours.into_iter().rev() {
            let n = ev.count_between(t, t + Duration::hours(1));
            // At a few hundred sends an hour a single bounce crosses the line by
            // chance; three in one hour at baseline rates almost never happens.
            let over = n >= MIN_HOURLY_EVENTS && 100.0 * n / r + EPSILON_PCT >= warning;
            if !over {
                break;
            }
            start = Some(t);
        }
        start
    });

    let value_at_stake = if rule.priced {
        daily_value(input.snapshot, KnownMetric::PlacedOrder, input.now).and_then(|revenue| {
            let sends = daily_count(input.snapshot, KnownMetric::ReceivedEmail, input.now)?;
            price(input, revenue / sends, sends * HORIZON_DAYS, pct, warning)
        })
    } else {
        None
    };
    Some(Observation {
        check: rule.id.to_owned(),
        subject: SUBJECT.to_owned(),
        severity,
        track,
        title: format!("{} {} over the last {span}", rule.name, fmt_pct(pct)),
        why: format!(
            "{} of {} emails received in the last {span} ({}), {}. {}",
            fmt_count(total_events),
            fmt_count(total_received),
            fmt_pct(pct),
            lines.level(pct),
            rule.advice
        ),
        deep_link: links::deliverability(),
        value_at_stake,
        began_at,
    })
}

/// Revenue per recipient × recipients to come × over-line fraction (see module
/// doc); `None` when under a cent or not computable.
fn price(
    input: &CheckInput<'_>,
    per_recipient: f64,
    recipients: f64,
    pct: f64,
    warning: f64,
) -> Option<Money> {
    let over = (pct - warning).max(0.0) / 100.0;
    let amount = per_recipient * recipients * over;
    if !amount.is_finite() {
        return None;
    }
    // Under a cent (e.g. exactly on the line) is no value at stake.
    let money = Money::from_major(amount, &input.profile.currency);
    (money.minor > 0).then_some(money)
}

/// Whether `c` is a sent email campaign (status compared case-insensitively).
fn is_sent_email(c: &Campaign) -> bool {
    c.channel.trim().eq_ignore_ascii_case("email") && c.status.trim().eq_ignore_ascii_case("sent")
}

/// A sent email campaign with its statistics.
struct Sent<'a> {
    campaign: &'a Campaign,
    at: DateTime<Utc>,
    stats: &'a CampaignStats,
}

/// Sent email campaigns that the report covers with some recipients, newest first.
fn sent_with_stats(snapshot: &Snapshot, now: DateTime<Utc>) -> Vec<Sent<'_>> {
    let stats: BTreeMap<&str, &CampaignStats> = snapshot
        .campaign_report
        .iter()
        .flatten()
        // A malformed row (NaN, negative) is no evidence either way.
        .filter(|s| s.recipients.is_finite() && s.recipients > 0.0)
        .map(|s| (s.campaign_id.as_str(), s))
        .collect();
    let mut sent: Vec<Sent<'_>> = snapshot
        .campaigns
        .iter()
        .flatten()
        .filter(|c| is_sent_email(c))
        .filter_map(|c| {
            let at = c.send_time.filter(|t| *t <= now)?;
            let stats = stats.get(c.id.as_str())?;
            Some(Sent {
                campaign: c,
                at,
                stats,
            })
        })
        .collect();
    sent.sort_by_key(|s| std::cmp::Reverse(s.at));
    sent
}

/// Recipient-weighted rate (percent) over `sent`, and the recipients.
fn weighted_pct(sent: &[Sent<'_>], rate: impl Fn(&CampaignStats) -> f64) -> (f64, f64) {
    let mut recipients = 0.0;
    let mut events = 0.0;
    for s in sent {
        let r = rate(s.stats);
        if r.is_finite() {
            recipients += s.stats.recipients;
            events += r * s.stats.recipients;
        }
    }
    (100.0 * events / recipients, recipients)
}

/// `the last 3 campaigns`, `the last campaign`.
fn last_n(n: usize) -> String {
    if n == 1 {
        "the last campaign".to_owned()
    } else {
        format!("the last {n} campaigns")
    }
}

/// `"A", "B" and "C"`.
fn quoted_names(sent: &[Sent<'_>]) -> String {
    let names: Vec<String> = sent
        .iter()
        .map(|s| format!("\"{}\"", s.campaign.name))
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

fn has_campaign_report(s: &Snapshot) -> bool {
    s.campaigns.is_some() && s.campaign_report.is_some()
}

/// The campaign path: the last three sent email campaigns.
fn campaign_rates(input: &CheckInput<'_>, rule: &RateRule, lines: &Lines) -> Option<Observation> {
    let src = source(input, rule.id, CAMPAIGNS, has_campaign_report)?;
    let all = sent_with_stats(src.snapshot, src.now);
    let last = all.get(..LAST_CAMPAIGNS.min(all.len()))?;
    let newest = last.first()?;
    let (pct, recipients) = weighted_pct(last, rule.campaign_rate);
    // Written so NaN sums fail the test and stay quiet.
    let enough = recipients >= lines.min_received && recipients > 0.0;
    if !enough || !lines.over(input, rule, CAMPAIGNS, pct) {
        return None;
    }
    let (severity, track) = lines.grade(rule, pct);
    // The run of campaigns each over the line, from the newest back.
    let began_at = last
        .iter()
        .take_while(|s| 100.0 * (rule.campaign_rate)(s.stats) + EPSILON_PCT >= lines.warning)
        .last()
        .map(|s| s.at);
    let value_at_stake = if rule.priced {
        // Revenue per recipient over the campaigns whose revenue is known.
        let (revenue, base) = last
            .iter()
            .filter(|s| s.stats.conversion_value.is_finite())
            .fold((0.0, 0.0), |(v, r), s| {
                (v + s.stats.conversion_value, r + s.stats.recipients)
            });
        // The last 30 days' campaign volume stands in for the next 30 days'.
        let month: f64 = all
            .iter()
            .filter(|s| s.at > src.now - Duration::days(30))
            .map(|s| s.stats.recipients)
            .sum();
        price(input, revenue / base, month, pct, lines.warning)
    } else {
        None
    };
    let n = last.len();
    Some(Observation {
        check: rule.id.to_owned(),
        subject: CAMPAIGNS.to_owned(),
        severity,
        track,
        title: format!("{} {} over {}", rule.name, fmt_pct(pct), last_n(n)),
        why: format!(
            "{} of {} recipients of {} ({}), weighted by recipients ({}), {}. {}{}",
            fmt_count(pct * recipients / 100.0),
            fmt_count(recipients),
            last_n(n),
            quoted_names(last),
            fmt_pct(pct),
            lines.level(pct),
            rule.advice,
            src.note()
        ),
        deep_link: links::campaign(&newest.campaign.id),
        value_at_stake,
        began_at,
    })
}

/// One day of all flows together: recipients, events, attributed revenue.
#[derive(Default, Clone, Copy)]
struct FlowDay {
    recipients: f64,
    events: f64,
    value: f64,
}

/// The flow path: Σ events ÷ Σ recipients over the last 7 complete days.
fn flow_rates(input: &CheckInput<'_>, rule: &RateRule, lines: &Lines) -> Option<Observation> {
    let src = source(input, rule.id, FLOWS, |s| s.flow_series.is_some())?;
    let from = src.now - Duration::days(FLOW_DAYS + 1);
    let mut days: BTreeMap<DateTime<Utc>, FlowDay> = BTreeMap::new();
    // Events per flow over the window, to link the flow with the most.
    let mut per_flow: Vec<(&str, f64)> = Vec::new();
    for series in src.snapshot.flow_series.iter().flatten() {
        let events = (rule.flow_events)(series);
        let mut flow_events = 0.0;
        for (i, r) in series.recipients.iter().enumerate() {
            let start = series.start + FlowSeries::DAY * i as i32;
            // Complete days only (today's partial day would read low), at most 7.
            if start <= from || start + FlowSeries::DAY > src.now {
                continue;
            }
            let e = events.get(i).copied().unwrap_or(0.0);
            let v = series.conversion_value.get(i).copied().unwrap_or(0.0);
            if !(r.is_finite() && e.is_finite() && *r >= 0.0 && e >= 0.0) {
                continue;
            }
            let d = days.entry(start).or_default();
            d.recipients += r;
            d.events += e;
            if v.is_finite() {
                d.value += v;
            }
            flow_events += e;
        }
        per_flow.push((series.flow_id.as_str(), flow_events));
    }
    let recipients: f64 = days.values().map(|d| d.recipients).sum();
    let events: f64 = days.values().map(|d| d.events).sum();
    if !(recipients >= lines.min_received && recipients > 0.0) {
        return None;
    }
    let pct = 100.0 * events / recipients;
    if !lines.over(input, rule, FLOWS, pct) {
        return None;
    }
    let (severity, track) = lines.grade(rule, pct);
    /// Fewest recipients in a day for that day to start or stop a run.
    const MIN_DAILY: f64 = 50.0;
    let mut began_at = None;
    for (start, d) in days.iter().rev().filter(|(_, d)| d.recipients >= MIN_DAILY) {
        if 100.0 * d.events / d.recipients + EPSILON_PCT < lines.warning {
            break;
        }
        began_at = Some(*start);
    }
    let value_at_stake = if rule.priced {
        let revenue: f64 = days.values().map(|d| d.value).sum();
        let covered = days.len() as f64;
        price(
            input,
            revenue / recipients,
            recipients * HORIZON_DAYS / covered,
            pct,
            lines.warning,
        )
    } else {
        None
    };
    let worst = per_flow
        .iter()
        .filter(|(_, e)| *e > 0.0)
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let (deep_link, most) = match worst {
        Some((id, e)) => (
            links::flow(id),
            format!(" The linked flow has the most of them ({}).", fmt_count(*e)),
        ),
        None => (links::deliverability(), String::new()),
    };
    Some(Observation {
        check: rule.id.to_owned(),
        subject: FLOWS.to_owned(),
        severity,
        track,
        title: format!(
            "{} {} in flows over the last {} days",
            rule.name,
            fmt_pct(pct),
            days.len()
        ),
        why: format!(
            "{} of {} flow recipients over the last {} days ({}), {}.{most} {}{}",
            fmt_count(events),
            fmt_count(recipients),
            days.len(),
            fmt_pct(pct),
            lines.level(pct),
            rule.advice,
            src.note()
        ),
        deep_link,
        value_at_stake,
        began_at,
    })
}

/// Median of `values` (mean of the middle two for an even count).
fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => v.get(n / 2).copied(),
        _ => Some((v.get(n / 2 - 1)? + v.get(n / 2)?) / 2.0),
    }
}

fn open_rate_cliff(input: &CheckInput<'_>) -> Vec<Observation> {
    let p = input.profile;
    let drop_line = p.threshold(&format!("{OPEN_CLIFF}.drop"), 40.0) / 100.0;
    let min_history = p
        .threshold(&format!("{OPEN_CLIFF}.min_history"), 4.0)
        .max(1.0);
    let min_recipients = p.threshold(&format!("{OPEN_CLIFF}.min_recipients"), 1_000.0);
    /// Campaigns the baseline median covers.
    const HISTORY: usize = 8;
    let sent = sent_with_stats(input.snapshot, input.now);
    let Some((newest, before)) = sent.split_first() else {
        return Vec::new();
    };
    let before = &before[..HISTORY.min(before.len())];
    let history: Vec<f64> = before
        .iter()
        .map(|s| s.stats.open_rate)
        .filter(|r| r.is_finite() && *r > 0.0)
        .collect();
    let open = newest.stats.open_rate;
    if (history.len() as f64) < min_history
        || newest.stats.recipients < min_recipients
        || !open.is_finite()
    {
        return Vec::new();
    }
    let Some(typical) = median(&history) else {
        return Vec::new();
    };
    let drop = 1.0 - open / typical;
    let line = if input.is_open(OPEN_CLIFF, CAMPAIGNS) {
        drop_line * HYSTERESIS
    } else {
        drop_line
    };
    if !(drop.is_finite() && drop + 1e-12 >= line) {
        return Vec::new();
    }
    let revenue: f64 = before
        .iter()
        .map(|s| s.stats.conversion_value)
        .filter(|v| v.is_finite())
        .sum();
    let base: f64 = before.iter().map(|s| s.stats.recipients).sum();
    let affected = newest.stats.recipients * drop.min(1.0);
    let amount = revenue / base * affected;
    let value_at_stake = amount
        .is_finite()
        .then(|| Money::from_major(amount, &input.profile.currency))
        .filter(|m| m.minor > 0);
    let c = newest.campaign;
    vec![Observation {
        check: OPEN_CLIFF.to_owned(),
        subject: CAMPAIGNS.to_owned(),
        severity: Severity::Critical,
        track: Track::Now,
        title: format!(
            "Open rate of \"{}\" fell to {} (usually {})",
            c.name,
            fmt_share(open),
            fmt_share(typical)
        ),
        why: format!(
            "Its unique open rate was {} against a median of {} over the {} campaigns before \
             it: {} lower (line: {} lower). A drop that sharp usually means the mail went to \
             spam rather than the inbox: check the deliverability hub, the audience and the \
             content of this send before the next one.",
            fmt_share(open),
            fmt_share(typical),
            history.len(),
            fmt_share(drop),
            fmt_share(drop_line),
        ),
        deep_link: links::campaign(&c.id),
        value_at_stake,
        began_at: Some(newest.at),
    }]
}

fn click_rate_low(input: &CheckInput<'_>) -> Vec<Observation> {
    let p = input.profile;
    let line_pct = p.threshold(&format!("{CLICK_LOW}.line"), 1.0);
    let min_received = p.threshold(&format!("{CLICK_LOW}.min_received"), MIN_RECEIVED);
    let sent = sent_with_stats(input.snapshot, input.now);
    let last = &sent[..LAST_CAMPAIGNS.min(sent.len())];
    let Some(newest) = last.first() else {
        return Vec::new();
    };
    let (pct, recipients) = weighted_pct(last, |s| s.click_rate);
    // An open finding holds until the rate is clearly back above the line.
    let line = if input.is_open(CLICK_LOW, CAMPAIGNS) {
        line_pct / HYSTERESIS
    } else {
        line_pct
    };
    if !(recipients >= min_received && recipients > 0.0 && pct.is_finite() && pct < line) {
        return Vec::new();
    }
    let began_at = last
        .iter()
        .take_while(|s| 100.0 * s.stats.click_rate < line_pct)
        .last()
        .map(|s| s.at);
    vec![Observation {
        check: CLICK_LOW.to_owned(),
        subject: CAMPAIGNS.to_owned(),
        severity: Severity::Opportunity,
        track: Track::Eventually,
        title: format!("Click rate {} over {}", fmt_pct(pct), last_n(last.len())),
        why: format!(
            "{} of {} recipients of {} ({}) clicked ({}, weighted by recipients), under \
             Klaviyo's critical line of {}. Content, offers or audience are not landing: test \
             a clearer call to action and send to engaged segments.",
            fmt_count(pct * recipients / 100.0),
            fmt_count(recipients),
            last_n(last.len()),
            quoted_names(last),
            fmt_pct(pct),
            fmt_pct(line_pct),
        ),
        deep_link: links::campaign(&newest.campaign.id),
        value_at_stake: None,
        began_at,
    }]
}

/// Whether a segment's name says it holds engaged profiles ("Engaged (90
/// days)", "Engagement - 30d"), not the opposite ("Unengaged", "Not engaged").
fn says_engaged(name: &str) -> bool {
    let lower = name.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words.iter().enumerate().any(|(i, w)| {
        let negated = i > 0 && matches!(words.get(i - 1), Some(&"not" | &"non" | &"no"));
        matches!(*w, "engaged" | "engagement") && !negated
    })
}

fn unengaged_sends(input: &CheckInput<'_>) -> Vec<Observation> {
    let p = input.profile;
    let min_list = p.threshold(&format!("{UNENGAGED_SENDS}.min_list"), 50_000.0);
    let days = p.threshold(&format!("{UNENGAGED_SENDS}.days"), 30.0);
    let since = input.now - Duration::seconds((days * 86_400.0) as i64);
    let s = input.snapshot;
    let lists: BTreeMap<&str, (&str, u64)> = s
        .lists
        .iter()
        .flatten()
        .filter_map(|l| Some((l.id.as_str(), (l.name.as_str(), l.profile_count?))))
        .collect();
    let engaged: BTreeMap<&str, &str> = s
        .segments
        .iter()
        .flatten()
        .filter(|g| says_engaged(&g.name))
        .map(|g| (g.id.as_str(), g.name.as_str()))
        .collect();
    s.campaigns
        .iter()
        .flatten()
        .filter(|c| is_sent_email(c))
        .filter_map(|c| {
            let at = c.send_time.filter(|t| *t >= since && *t <= input.now)?;
            if c.included_audiences
                .iter()
                .any(|a| engaged.contains_key(a.as_str()))
            {
                return None;
            }
            let (_, (name, count)) = c
                .included_audiences
                .iter()
                .filter_map(|a| lists.get_key_value(a.as_str()))
                .filter(|(_, (_, n))| *n as f64 > min_list)
                .max_by_key(|(_, (_, n))| *n)?;
            Some(Observation {
                check: UNENGAGED_SENDS.to_owned(),
                subject: c.id.clone(),
                severity: Severity::Warning,
                track: Track::Eventually,
                title: format!(
                    "Campaign \"{}\" went to the whole list \"{name}\" ({} profiles)",
                    c.name,
                    fmt_count(*count as f64)
                ),
                why: format!(
                    "It was sent on {} UTC to the list \"{name}\" of {} profiles (line: more \
                     than {}) with no engaged segment among its audiences. Mailing people who \
                     stopped opening drags opens down and complaints up: send to an engaged \
                     segment, or exclude the unengaged.",
                    at.format("%Y-%m-%d %H:%M"),
                    fmt_count(*count as f64),
                    fmt_count(min_list),
                ),
                deep_link: links::campaign(&c.id),
                value_at_stake: None,
                began_at: Some(at),
            })
        })
        .collect()
}

/// Strength of a DMARC policy: `none` 0, `quarantine` 1, `reject` 2.
fn dmarc_rank(policy: &str) -> u8 {
    let p = policy.trim().to_ascii_lowercase();
    match p.trim_start_matches("p=") {
        "reject" => 2,
        "quarantine" => 1,
        _ => 0,
    }
}

fn sending_domain(input: &CheckInput<'_>) -> Vec<Observation> {
    let p = input.profile;
    let Some(d) = &p.sending_domain else {
        return Vec::new();
    };
    let wanted = p
        .threshold(&format!("{SENDING_DOMAIN}.dmarc_policy"), 0.0)
        .clamp(0.0, 2.0);
    let domain = d.domain.trim();
    let mut problems: Vec<String> = Vec::new();
    if domain.is_empty() {
        problems.push("no branded sending domain is set up".to_owned());
    } else {
        if !d.spf {
            problems.push("SPF does not pass".to_owned());
        }
        if !d.dkim {
            problems.push("DKIM does not pass".to_owned());
        }
        match d.dmarc.as_deref() {
            None => problems.push("there is no DMARC record".to_owned()),
            Some(policy) => {
                if !d.aligned {
                    problems.push("DMARC is not aligned with the From domain".to_owned());
                }
                if f64::from(dmarc_rank(policy)) < wanted {
                    let want = if wanted > 1.0 { "reject" } else { "quarantine" };
                    problems.push(format!(
                        "the DMARC policy is \"{}\" where this client needs at least \"{want}\"",
                        policy.trim()
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        return Vec::new();
    }
    let severity = if p.bulk_sender {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let shown = if domain.is_empty() { "(none)" } else { domain };
    let bulk = if p.bulk_sender {
        " This client sends in bulk, where Gmail and Yahoo reject or junk mail that fails them."
    } else {
        ""
    };
    vec![Observation {
        check: SENDING_DOMAIN.to_owned(),
        subject: "sending-domain".to_owned(),
        severity,
        track: Track::Now,
        title: match problems.len() {
            1 => format!("Sending domain {shown}: {}", problems[0]),
            n => format!(
                "Sending domain {shown}: {} (and {} more)",
                problems[0],
                n - 1
            ),
        },
        why: format!(
            "For the sending domain {shown}: {}. Gmail and Yahoo require SPF, DKIM and a DMARC \
             record aligned with the From domain (since February 2024).{bulk} Fix the DNS \
             records shown in Klaviyo's sending domain settings.",
            problems.join("; "),
        ),
        deep_link: links::sending_domains(),
        value_at_stake: None,
        began_at: None,
    }]
}

/// Whether template HTML holds an unsubscribe link: one of Klaviyo's tags, or
/// a link whose address contains "unsubscribe".
pub(crate) fn has_unsubscribe(html: &str) -> bool {
    let lower = html.to_lowercase();
    // Klaviyo tags, whatever the spacing inside `{% ... %}`.
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("{%") {
        let after = &rest[i + 2..];
        let end = after.find("%}").unwrap_or(after.len());
        // `{% unsubscribe 'Opt out' %}` takes the link text after the tag name.
        let tag = after[..end].split_whitespace().next().unwrap_or("");
        if matches!(tag, "unsubscribe" | "unsubscribe_url" | "unsubscribe_link") {
            return true;
        }
        rest = after;
    }
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("href") {
        let after = rest[i + 4..].trim_start();
        rest = &rest[i + 4..];
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        let address = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or(""),
        };
        if address.contains("unsubscribe") {
            return true;
        }
    }
    false
}

fn unsubscribe_link(input: &CheckInput<'_>) -> Vec<Observation> {
    let max_age = input
        .profile
        .threshold(&format!("{UNSUBSCRIBE_LINK}.max_age_days"), 0.0);
    input
        .snapshot
        .templates
        .iter()
        .flatten()
        .filter(|t| {
            max_age <= 0.0 || (input.now - t.updated).num_seconds() as f64 <= max_age * 86_400.0
        })
        .filter(|t| !has_unsubscribe(&t.html))
        .map(|t| Observation {
            check: UNSUBSCRIBE_LINK.to_owned(),
            subject: t.id.clone(),
            severity: Severity::Critical,
            track: Track::Now,
            title: format!("Template \"{}\" has no unsubscribe link", t.name),
            why: format!(
                "Its HTML (last edited {} UTC) has no {{% unsubscribe_url %}} tag or unsubscribe \
                 link. Marketing mail must carry a working opt-out (CAN-SPAM, PECR, CASL) and \
                 Gmail and Yahoo junk bulk mail without one-click unsubscribe: add Klaviyo's \
                 unsubscribe link before the template is sent again.",
                t.updated.format("%Y-%m-%d %H:%M")
            ),
            deep_link: links::template(&t.id),
            value_at_stake: None,
            began_at: Some(t.updated),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, NOW};
    use crate::scan::snapshot::KnownMetric::{
        BouncedEmail, MarkedEmailAsSpam, ReceivedEmail, Unsubscribed,
    };

    /// Sets the last 24 h to `received`/h and `events`/h of `m`.
    fn day_of(m: KnownMetric, received: f64, events: f64) -> crate::scan::snapshot::Snapshot {
        let mut s = fixtures::healthy();
        fixtures::set_last_hours(&mut s, ReceivedEmail, 24, received);
        fixtures::set_last_hours(&mut s, m, 24, events);
        s
    }

    #[test]
    fn healthy_rates_are_quiet() {
        let s = fixtures::healthy();
        for id in [BOUNCE.id, SPAM.id, UNSUBSCRIBE.id] {
            assert!(fixtures::run(id, &s, None).is_empty(), "{id}");
        }
    }

    #[test]
    fn bounce_spike_for_a_few_hours_crosses_the_line() {
        // The simulator's spike: 8% of sends for three hours, on a 0.3% baseline.
        let mut s = fixtures::healthy();
        fixtures::map_hourly(&mut s, BouncedEmail, |i, c| {
            if i >= fixtures::HOURS - 3 { 80.0 } else { c }
        });
        let obs = fixtures::run(BOUNCE.id, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.title, "Bounce rate 1.3% over the last 24 h");
        assert_eq!(o.subject, "email");
        assert_eq!(o.deep_link, "https://www.klaviyo.com/deliverability");
        assert_eq!(o.began_at, Some(NOW - Duration::hours(3)));
        // 303 bounces of 24,000 = 1.2625%. Revenue per recipient 7,680/24,000 =
        // 0.32; × 720,000 next-month recipients × 0.4625% over the line.
        let v = o.value_at_stake.as_ref().map(Money::major).unwrap_or(0.0);
        let expected = 0.32 * 720_000.0 * ((303.0 / 240.0) - 0.8) / 100.0;
        assert!((v - expected).abs() < 1.0, "{v} vs {expected}");
    }

    #[test]
    fn a_spike_in_the_last_hours_is_critical_before_the_day_crosses_the_line() {
        // 2% of the last hour's 1,000 sends bounced: the day is still at 0.37%.
        let mut s = fixtures::healthy();
        fixtures::map_hourly(&mut s, BouncedEmail, |i, c| {
            if i == fixtures::HOURS - 1 { 20.0 } else { c }
        });
        let obs = fixtures::run(BOUNCE.id, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Critical);
        assert_eq!(o.subject, "email");
        assert_eq!(o.title, "Bounce rate 2.0% over the last 2 h");
        assert!(o.why.contains("in the last 2 h"), "{}", o.why);
        assert_eq!(o.began_at, Some(NOW - Duration::hours(1)));
        // Three complaints in the last hour: far off a 0.02% baseline.
        let mut s = fixtures::healthy();
        fixtures::map_hourly(&mut s, MarkedEmailAsSpam, |i, c| {
            if i == fixtures::HOURS - 1 { 3.0 } else { c }
        });
        let obs = fixtures::run(SPAM.id, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].severity, Severity::Critical);
        assert!(
            obs[0].title.ends_with("over the last 2 h"),
            "{}",
            obs[0].title
        );
    }

    #[test]
    fn the_last_hours_stay_quiet_under_the_critical_line_or_on_a_few_events() {
        // Over the warning line but under the critical one in the last hours.
        let mut s = fixtures::healthy();
        fixtures::map_hourly(&mut s, BouncedEmail, |i, c| {
            if i == fixtures::HOURS - 1 { 12.0 } else { c }
        });
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
        // A small sender: 4 of 250 is 1.6%, but four bounces prove little.
        let mut s = fixtures::healthy();
        fixtures::set_last_hours(&mut s, ReceivedEmail, 24, 250.0);
        fixtures::set_last_hours(&mut s, BouncedEmail, 24, 0.0);
        fixtures::map_hourly(&mut s, BouncedEmail, |i, c| {
            if i == fixtures::HOURS - 1 { 4.0 } else { c }
        });
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
        // Five of them is a spike.
        fixtures::map_hourly(&mut s, BouncedEmail, |i, c| {
            if i == fixtures::HOURS - 1 { 5.0 } else { c }
        });
        assert_eq!(fixtures::run(BOUNCE.id, &s, None).len(), 1);
    }

    #[test]
    fn a_noisy_hour_earlier_in_the_day_does_not_backdate_a_spike() {
        let mut s = fixtures::healthy();
        fixtures::map_hourly(&mut s, BouncedEmail, |i, c| {
            if i == fixtures::HOURS - 20 || i >= fixtures::HOURS - 3 {
                80.0
            } else {
                c
            }
        });
        let obs = fixtures::run(BOUNCE.id, &s, None);
        assert_eq!(obs[0].began_at, Some(NOW - Duration::hours(3)));
    }

    #[test]
    fn an_open_finding_holds_until_the_rate_is_clearly_under_the_line() {
        // 0.7%: under the 0.8% line, above 80% of it.
        let s = day_of(BouncedEmail, 1000.0, 7.0);
        assert!(
            fixtures::run(BOUNCE.id, &s, None).is_empty(),
            "a new finding needs the line"
        );
        let open: std::collections::HashSet<String> =
            ["deliv-bounce-rate/email".to_string()].into();
        let profile = fixtures::profile();
        let input = CheckInput {
            open: &open,
            ..fixtures::input(&s, None, &profile)
        };
        let held = evaluate(&input, &BOUNCE);
        assert_eq!(held.len(), 1, "an open one stays open at 0.7%");
        assert_eq!(held[0].severity, Severity::Warning);
        // 0.6% is clearly under (below 0.64%): it clears.
        let low = day_of(BouncedEmail, 1000.0, 6.0);
        let input = CheckInput {
            open: &open,
            ..fixtures::input(&low, None, &profile)
        };
        assert!(evaluate(&input, &BOUNCE).is_empty());
    }

    #[test]
    fn bounce_rate_lines_are_inclusive() {
        // Exactly 0.8%: warning. Just under: nothing. Exactly 1.5%: critical.
        let at = day_of(BouncedEmail, 1000.0, 8.0);
        assert_eq!(
            fixtures::run(BOUNCE.id, &at, None)[0].severity,
            Severity::Warning
        );
        let under = day_of(BouncedEmail, 1000.0, 7.99);
        assert!(fixtures::run(BOUNCE.id, &under, None).is_empty());
        let crit = day_of(BouncedEmail, 1000.0, 15.0);
        let obs = fixtures::run(BOUNCE.id, &crit, None);
        assert_eq!(obs[0].severity, Severity::Critical);
        assert_eq!(obs[0].title, "Bounce rate 1.5% over the last 24 h");
        // A steady over-line day began with the window.
        assert_eq!(obs[0].began_at, Some(NOW - Duration::hours(24)));
        // 0.7 points over the line: 0.7% of next month's 230,400 of revenue.
        let v = obs[0]
            .value_at_stake
            .as_ref()
            .map(Money::major)
            .unwrap_or(0.0);
        assert!((v - 0.32 * 720_000.0 * 0.007).abs() < 0.01, "{v}");
        // Exactly on the line: reported, but nothing over it to price.
        let obs = fixtures::run(BOUNCE.id, &at, None);
        assert_eq!(obs[0].value_at_stake, None);
    }

    #[test]
    fn too_few_received_is_not_judged() {
        // 199 received with 10% bounces: not enough mail to judge; 200 is.
        let mut s = fixtures::healthy();
        fixtures::set_last_hours(&mut s, ReceivedEmail, 24, 0.0);
        fixtures::set_last_hours(&mut s, BouncedEmail, 24, 0.0);
        fixtures::map_hourly(&mut s, ReceivedEmail, |i, c| {
            if i == fixtures::HOURS - 1 { 199.0 } else { c }
        });
        fixtures::map_hourly(&mut s, BouncedEmail, |i, c| {
            if i == fixtures::HOURS - 1 { 20.0 } else { c }
        });
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
        fixtures::map_hourly(&mut s, ReceivedEmail, |i, c| {
            if i == fixtures::HOURS - 1 { 200.0 } else { c }
        });
        assert_eq!(fixtures::run(BOUNCE.id, &s, None).len(), 1);
        // No Received Email metric at all: nothing to judge.
        let mut s = day_of(BouncedEmail, 1000.0, 50.0);
        fixtures::remove_metric(&mut s, ReceivedEmail);
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
    }

    #[test]
    fn spam_rate_warning_and_critical() {
        let at = day_of(MarkedEmailAsSpam, 10_000.0, 8.0);
        let obs = fixtures::run(SPAM.id, &at, None);
        assert_eq!(obs[0].severity, Severity::Warning);
        assert_eq!(obs[0].title, "Spam complaint rate 0.08% over the last 24 h");
        let crit = day_of(MarkedEmailAsSpam, 10_000.0, 15.0);
        let obs = fixtures::run(SPAM.id, &crit, None);
        assert_eq!(obs[0].severity, Severity::Critical);
        assert!(obs[0].value_at_stake.is_some());
        let under = day_of(MarkedEmailAsSpam, 10_000.0, 7.0);
        assert!(fixtures::run(SPAM.id, &under, None).is_empty());
    }

    #[test]
    fn unsubscribe_rate_is_critical_from_0_7_percent_and_unpriced() {
        let high = day_of(Unsubscribed, 1000.0, 7.0);
        let obs = fixtures::run(UNSUBSCRIBE.id, &high, None);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].severity, Severity::Critical);
        // Critical is posted at once, whatever the check's batched default.
        assert_eq!(obs[0].track, Track::Now);
        assert_eq!(obs[0].value_at_stake, None);
        assert!(
            obs[0].why.contains("critical line of 0.7%"),
            "{}",
            obs[0].why
        );
        let warn = day_of(Unsubscribed, 1000.0, 6.9);
        let obs = fixtures::run(UNSUBSCRIBE.id, &warn, None);
        assert_eq!(obs[0].severity, Severity::Warning);
        assert_eq!(obs[0].track, Track::Eventually);
        let at = day_of(Unsubscribed, 1000.0, 3.0);
        assert_eq!(fixtures::run(UNSUBSCRIBE.id, &at, None).len(), 1);
        let under = day_of(Unsubscribed, 1000.0, 2.9);
        assert!(fixtures::run(UNSUBSCRIBE.id, &under, None).is_empty());
    }

    #[test]
    fn client_override_raises_the_line() {
        let s = day_of(BouncedEmail, 1000.0, 10.0);
        assert_eq!(fixtures::run(BOUNCE.id, &s, None).len(), 1);
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert("deliv-bounce-rate.warning".into(), 1.2);
        assert!(fixtures::run_with(BOUNCE.id, &s, None, &profile).is_empty());
        profile.currency = "EUR".into();
        profile
            .thresholds
            .insert("deliv-bounce-rate.warning".into(), 0.5);
        let obs = fixtures::run_with(BOUNCE.id, &s, None, &profile);
        assert_eq!(
            obs[0].value_at_stake.as_ref().map(|m| m.currency.as_str()),
            Some("EUR")
        );
    }

    #[test]
    fn metric_absent_means_zero_events() {
        let mut s = fixtures::healthy();
        fixtures::remove_metric(&mut s, BouncedEmail);
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
    }

    #[test]
    fn percentages_read_naturally() {
        assert_eq!(fmt_pct(0.8), "0.8%");
        assert_eq!(fmt_pct(0.08), "0.08%");
        assert_eq!(fmt_pct(0.15), "0.15%");
        assert_eq!(fmt_pct(2.4), "2.4%");
        assert_eq!(fmt_pct(0.0), "0%");
        assert_eq!(fmt_pct(0.3), "0.3%");
    }

    // ---- The campaign and flow paths of the rate checks ----

    use crate::checks::fixtures::{
        ABANDONED_CHECKOUT, CAMPAIGN_TEMPLATE, LAST_SENT, NEWSLETTER, SERIES_DAYS, WEEKLY_SENT,
    };
    use crate::config::SendingDomain;
    use crate::scan::snapshot::Snapshot;

    fn stats_mut<'a>(s: &'a mut Snapshot, id: &str) -> &'a mut CampaignStats {
        s.campaign_report
            .as_mut()
            .and_then(|r| r.iter_mut().find(|c| c.campaign_id == id))
            .unwrap_or_else(|| panic!("no stats for {id}"))
    }

    fn series_mut<'a>(s: &'a mut Snapshot, id: &str) -> &'a mut FlowSeries {
        s.flow_series
            .as_mut()
            .and_then(|r| r.iter_mut().find(|f| f.flow_id == id))
            .unwrap_or_else(|| panic!("no series for {id}"))
    }

    fn weekly(k: usize) -> String {
        format!("CMPW{k:02}")
    }

    fn sent_at(s: &mut Snapshot, id: &str) -> Option<DateTime<Utc>> {
        fixtures::campaign_mut(s, id).send_time
    }

    /// The healthy account with the three newest campaigns' bounce rates set.
    fn bounces(rates: [f64; 3]) -> Snapshot {
        let mut s = fixtures::healthy();
        for (k, r) in rates.iter().enumerate() {
            stats_mut(&mut s, &weekly(k)).bounce_rate = *r;
        }
        s
    }

    fn only(obs: &[Observation], subject: &str) -> Vec<Observation> {
        obs.iter()
            .filter(|o| o.subject == subject)
            .cloned()
            .collect()
    }

    #[test]
    fn bounce_rate_over_the_last_three_campaigns_is_judged_by_recipients() {
        let mut s = bounces([0.015, 0.010, 0.004]);
        let obs = fixtures::run(BOUNCE.id, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.subject, "campaigns");
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.title, "Bounce rate 0.97% over the last 3 campaigns");
        assert!(o.why.contains("1,160 of 120,000 recipients"), "{}", o.why);
        assert!(o.why.contains("\"Weekly Newsletter #12\""), "{}", o.why);
        assert_eq!(o.deep_link, links::campaign(LAST_SENT));
        // The run of over-line campaigns began with the second newest.
        assert_eq!(o.began_at, sent_at(&mut s, "CMPW01"));
        // $9,600 over 120,000 recipients; 160,000 campaign recipients in the
        // last 30 days; 0.1667 points over the line.
        let v = o.value_at_stake.as_ref().map(Money::major).unwrap_or(0.0);
        let expected = 9_600.0 / 120_000.0 * 160_000.0 * (2.9 / 3.0 - 0.8) / 100.0;
        assert!((v - expected).abs() < 0.01, "{v} vs {expected}");

        // A small send with a high rate does not outweigh two full ones.
        let mut s = bounces([0.05, 0.003, 0.003]);
        stats_mut(&mut s, LAST_SENT).recipients = 1_000.0;
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
    }

    #[test]
    fn campaign_bounce_rate_lines_and_severity() {
        // Weighted 0.79%: under the line.
        let s = bounces([0.0079, 0.0079, 0.0079]);
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
        let s = bounces([0.008, 0.008, 0.008]);
        assert_eq!(
            fixtures::run(BOUNCE.id, &s, None)[0].severity,
            Severity::Warning
        );
        let s = bounces([0.016, 0.015, 0.014]);
        let obs = fixtures::run(BOUNCE.id, &s, None);
        assert_eq!(obs[0].severity, Severity::Critical);
        assert!(
            obs[0].why.contains("critical line of 1.5%"),
            "{}",
            obs[0].why
        );
        // Older campaigns do not count: only the newest three.
        let mut s = fixtures::healthy();
        for k in 3..WEEKLY_SENT {
            stats_mut(&mut s, &weekly(k)).bounce_rate = 0.05;
        }
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
    }

    #[test]
    fn newest_campaign_not_yet_in_the_report_and_sms_do_not_count() {
        // The report has not caught up with the newest send: the three before it.
        let mut s = bounces([0.003, 0.012, 0.012]);
        stats_mut(&mut s, "CMPW03").bounce_rate = 0.012;
        if let Some(r) = s.campaign_report.as_mut() {
            r.retain(|c| c.campaign_id != LAST_SENT);
        }
        let obs = fixtures::run(BOUNCE.id, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].deep_link, links::campaign("CMPW01"));
        // An SMS campaign's statistics never enter the email rate.
        let mut s = fixtures::healthy();
        if let Some(r) = s.campaign_report.as_mut() {
            let mut sms = fixtures::campaign_stats("CMPSMS01");
            sms.bounce_rate = 0.5;
            r.push(sms);
        }
        fixtures::campaign_mut(&mut s, "CMPSMS01").send_time = Some(NOW - Duration::hours(1));
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
    }

    #[test]
    fn unsubscribe_rate_of_campaigns_is_critical_from_0_7_percent() {
        let mut s = fixtures::healthy();
        for k in 0..3 {
            stats_mut(&mut s, &weekly(k)).unsubscribe_rate = 0.008;
        }
        let obs = fixtures::run(UNSUBSCRIBE.id, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].subject, "campaigns");
        assert_eq!(obs[0].severity, Severity::Critical);
        assert_eq!(obs[0].track, Track::Now);
        assert_eq!(obs[0].value_at_stake, None);
        for k in 0..3 {
            stats_mut(&mut s, &weekly(k)).unsubscribe_rate = 0.004;
        }
        let obs = fixtures::run(UNSUBSCRIBE.id, &s, None);
        assert_eq!(obs[0].severity, Severity::Warning);
        assert_eq!(obs[0].track, Track::Eventually);
    }

    #[test]
    fn spam_rate_of_campaigns_and_its_override() {
        let mut s = fixtures::healthy();
        for k in 0..3 {
            stats_mut(&mut s, &weekly(k)).spam_complaint_rate = 0.001;
        }
        let obs = fixtures::run(SPAM.id, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(
            obs[0].title,
            "Spam complaint rate 0.1% over the last 3 campaigns"
        );
        assert_eq!(obs[0].severity, Severity::Warning);
        assert!(obs[0].value_at_stake.is_some());
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert("deliv-spam-rate.warning".into(), 0.12);
        assert!(fixtures::run_with(SPAM.id, &s, None, &profile).is_empty());
    }

    #[test]
    fn an_open_campaign_finding_holds_under_the_line() {
        let s = bounces([0.007, 0.007, 0.007]);
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
        let open: std::collections::HashSet<String> =
            ["deliv-bounce-rate/campaigns".to_string()].into();
        let profile = fixtures::profile();
        let input = CheckInput {
            open: &open,
            ..fixtures::input(&s, None, &profile)
        };
        let held = evaluate(&input, &BOUNCE);
        assert_eq!(held.len(), 1, "{held:?}");
        assert_eq!(held[0].subject, "campaigns");
        let low = bounces([0.006, 0.006, 0.006]);
        let input = CheckInput {
            open: &open,
            ..fixtures::input(&low, None, &profile)
        };
        assert!(evaluate(&input, &BOUNCE).is_empty());
    }

    #[test]
    fn missing_reports_do_not_skip_the_check_nor_clear_an_open_finding() {
        let mut s = day_of(BouncedEmail, 1000.0, 10.0);
        s.campaign_report = None;
        s.flow_series = None;
        // The 24-hour path still runs and reports.
        let obs = fixtures::run(BOUNCE.id, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].subject, "email");

        // The previous scan saw bad campaigns and the finding is open: it is
        // judged on that report rather than cleared by the missing one.
        let mut prev = fixtures::previous();
        for k in 0..3 {
            stats_mut(&mut prev, &weekly(k)).bounce_rate = 0.01;
        }
        let profile = fixtures::profile();
        let open: std::collections::HashSet<String> =
            ["deliv-bounce-rate/campaigns".to_string()].into();
        let input = CheckInput {
            open: &open,
            ..fixtures::input(&s, Some(&prev), &profile)
        };
        let held = only(&evaluate(&input, &BOUNCE), "campaigns");
        assert_eq!(held.len(), 1);
        assert!(
            held[0].why.contains("could not read the report"),
            "{}",
            held[0].why
        );
        // Nothing open: the stale report raises nothing new.
        let fresh = fixtures::input(&s, Some(&prev), &profile);
        assert!(only(&evaluate(&fresh, &BOUNCE), "campaigns").is_empty());
        // With this scan's report, this scan's numbers win (healthy: it clears).
        let healthy = fixtures::healthy();
        let input = CheckInput {
            open: &open,
            ..fixtures::input(&healthy, Some(&prev), &profile)
        };
        assert!(evaluate(&input, &BOUNCE).is_empty());
    }

    /// Daily recipients of all healthy flows together.
    const FLOW_SENDS: f64 = 60.0 + 80.0 + 120.0 + 90.0;
    /// Daily bounces of the healthy flows other than the abandoned checkout.
    const OTHER_BOUNCES: f64 = (60.0 + 120.0 + 90.0) * 0.003;

    /// Sets the checkout flow's bounces on the days whose index satisfies `days`.
    fn checkout_bounces(s: &mut Snapshot, per_day: f64, days: impl Fn(usize) -> bool) {
        let f = series_mut(s, ABANDONED_CHECKOUT);
        for (i, b) in f.bounced.iter_mut().enumerate() {
            if days(i) {
                *b = per_day;
            }
        }
    }

    #[test]
    fn bounce_rate_of_flows_over_the_last_seven_days() {
        let mut s = fixtures::healthy();
        checkout_bounces(&mut s, 2.4, |_| true);
        let obs = fixtures::run(BOUNCE.id, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.subject, "flows");
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.title, "Bounce rate 0.92% in flows over the last 7 days");
        assert!(o.why.contains("of 2,450 flow recipients"), "{}", o.why);
        assert_eq!(o.deep_link, links::flow(ABANDONED_CHECKOUT));
        let midnight = NOW - Duration::hours(12);
        assert_eq!(o.began_at, Some(midnight - Duration::days(7)));
        let pct = 100.0 * (OTHER_BOUNCES + 2.4) / FLOW_SENDS;
        let expected = 1_800.0 / FLOW_SENDS * FLOW_SENDS * 30.0 * (pct - 0.8) / 100.0;
        let v = o.value_at_stake.as_ref().map(Money::major).unwrap_or(0.0);
        assert!((v - expected).abs() < 0.01, "{v} vs {expected}");
    }

    #[test]
    fn flow_window_is_seven_complete_days() {
        let last = SERIES_DAYS - 1;
        // Bad for the last three days only: over the line overall, began three days ago.
        let mut s = fixtures::healthy();
        checkout_bounces(&mut s, 4.8, |i| i + 3 > last);
        let obs = fixtures::run(BOUNCE.id, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let midnight = NOW - Duration::hours(12);
        assert_eq!(obs[0].began_at, Some(midnight - Duration::days(3)));
        // Bad only before the window: nothing.
        let mut s = fixtures::healthy();
        checkout_bounces(&mut s, 20.0, |i| i + 7 <= last);
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
        // Today's partial day is left out, however bad.
        let mut s = fixtures::healthy();
        let f = series_mut(&mut s, ABANDONED_CHECKOUT);
        f.recipients.push(30.0);
        f.bounced.push(30.0);
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
        // Just under the line over the week: nothing.
        let mut s = fixtures::healthy();
        checkout_bounces(
            &mut s,
            0.8 * FLOW_SENDS / 100.0 - OTHER_BOUNCES - 0.01,
            |_| true,
        );
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
    }

    #[test]
    fn spam_rate_of_flows_escalates_to_critical() {
        let mut s = fixtures::healthy();
        let f = series_mut(&mut s, ABANDONED_CHECKOUT);
        f.spam_complaints.iter_mut().for_each(|c| *c = 0.6);
        let obs = fixtures::run(SPAM.id, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].subject, "flows");
        assert_eq!(obs[0].severity, Severity::Critical);
        // Raised for this client: a warning.
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert("deliv-spam-rate.critical".into(), 0.2);
        let obs = fixtures::run_with(SPAM.id, &s, None, &profile);
        assert_eq!(obs[0].severity, Severity::Warning);
    }

    // ---- Open-rate cliff ----

    fn opens(newest: f64) -> Snapshot {
        let mut s = fixtures::healthy();
        stats_mut(&mut s, LAST_SENT).open_rate = newest;
        s
    }

    #[test]
    fn an_open_rate_cliff_is_critical_and_priced() {
        let mut s = opens(0.20);
        let obs = fixtures::run(OPEN_CLIFF, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Critical);
        assert_eq!(o.track, Track::Now);
        assert_eq!(
            o.title,
            "Open rate of \"Weekly Newsletter #12\" fell to 20% (usually 38%)"
        );
        assert!(o.why.contains("over the 8 campaigns before"), "{}", o.why);
        assert!(o.why.contains("47.4% lower"), "{}", o.why);
        assert_eq!(o.deep_link, links::campaign(LAST_SENT));
        assert_eq!(o.began_at, sent_at(&mut s, LAST_SENT));
        // $0.08 a recipient × 40,000 recipients × the 47.4% that no longer opened.
        let v = o.value_at_stake.as_ref().map(Money::major).unwrap_or(0.0);
        let expected = 0.08 * 40_000.0 * (1.0 - 0.20 / 0.38);
        assert!((v - expected).abs() < 0.01, "{v} vs {expected}");
    }

    #[test]
    fn open_rate_near_the_line_and_history_rules() {
        assert!(fixtures::run(OPEN_CLIFF, &opens(0.23), None).is_empty());
        assert_eq!(fixtures::run(OPEN_CLIFF, &opens(0.228), None).len(), 1);
        // The median is of the 8 before only: older campaigns do not drag it.
        let mut s = opens(0.20);
        for k in 5..=8 {
            stats_mut(&mut s, &weekly(k)).open_rate = 0.30;
        }
        for k in 9..WEEKLY_SENT {
            stats_mut(&mut s, &weekly(k)).open_rate = 0.05;
        }
        // Median 34%: a 41% drop (against all eleven it would be 30%, 33%).
        assert_eq!(fixtures::run(OPEN_CLIFF, &s, None).len(), 1);
        // Three earlier campaigns are too few for a median.
        let mut s = opens(0.10);
        if let Some(r) = s.campaign_report.as_mut() {
            r.truncate(4);
        }
        assert!(fixtures::run(OPEN_CLIFF, &s, None).is_empty());
        // A small send is not judged.
        let mut s = opens(0.10);
        stats_mut(&mut s, LAST_SENT).recipients = 900.0;
        assert!(fixtures::run(OPEN_CLIFF, &s, None).is_empty());
    }

    #[test]
    fn open_rate_cliff_override_and_hysteresis() {
        let s = opens(0.20);
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{OPEN_CLIFF}.drop"), 50.0);
        assert!(fixtures::run_with(OPEN_CLIFF, &s, None, &profile).is_empty());
        // 36.8% lower: not a new cliff, but an open one holds (line 32%).
        let s = opens(0.24);
        assert!(fixtures::run(OPEN_CLIFF, &s, None).is_empty());
        let open: std::collections::HashSet<String> = [format!("{OPEN_CLIFF}/campaigns")].into();
        let profile = fixtures::profile();
        let input = CheckInput {
            open: &open,
            ..fixtures::input(&s, None, &profile)
        };
        assert_eq!(open_rate_cliff(&input).len(), 1);
        let s = opens(0.27);
        let input = CheckInput {
            open: &open,
            ..fixtures::input(&s, None, &profile)
        };
        assert!(open_rate_cliff(&input).is_empty());
    }

    // ---- Click rate ----

    fn clicks(rates: [f64; 3]) -> Snapshot {
        let mut s = fixtures::healthy();
        for (k, r) in rates.iter().enumerate() {
            stats_mut(&mut s, &weekly(k)).click_rate = *r;
        }
        s
    }

    #[test]
    fn a_click_rate_under_one_percent_is_an_opportunity() {
        let mut s = clicks([0.009, 0.009, 0.011]);
        let obs = fixtures::run(CLICK_LOW, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Opportunity);
        assert_eq!(o.track, Track::Eventually);
        assert_eq!(o.subject, "campaigns");
        assert_eq!(o.title, "Click rate 0.97% over the last 3 campaigns");
        assert_eq!(o.value_at_stake, None);
        assert_eq!(o.began_at, sent_at(&mut s, "CMPW01"));
        assert!(fixtures::run(CLICK_LOW, &clicks([0.0101; 3]), None).is_empty());
        assert!(fixtures::run(CLICK_LOW, &fixtures::healthy(), None).is_empty());
    }

    #[test]
    fn click_rate_override_and_hysteresis() {
        let mut profile = fixtures::profile();
        profile.thresholds.insert(format!("{CLICK_LOW}.line"), 2.0);
        let s = clicks([0.018; 3]);
        assert_eq!(fixtures::run_with(CLICK_LOW, &s, None, &profile).len(), 1);
        assert!(fixtures::run(CLICK_LOW, &s, None).is_empty());
        let open: std::collections::HashSet<String> = [format!("{CLICK_LOW}/campaigns")].into();
        let profile = fixtures::profile();
        let s = clicks([0.011; 3]);
        let input = CheckInput {
            open: &open,
            ..fixtures::input(&s, None, &profile)
        };
        assert_eq!(click_rate_low(&input).len(), 1, "1.1% holds an open one");
        let s = clicks([0.013; 3]);
        let input = CheckInput {
            open: &open,
            ..fixtures::input(&s, None, &profile)
        };
        assert!(click_rate_low(&input).is_empty());
    }

    // ---- Unengaged sends ----

    fn big_newsletter(count: u64) -> Snapshot {
        let mut s = fixtures::healthy();
        if let Some(l) = s
            .lists
            .as_mut()
            .and_then(|l| l.iter_mut().find(|l| l.id == NEWSLETTER))
        {
            l.profile_count = Some(count);
        }
        s
    }

    #[test]
    fn campaigns_to_a_whole_large_list_are_flagged() {
        let mut s = big_newsletter(62_000);
        let obs = fixtures::run(UNENGAGED_SENDS, &s, None);
        // Four weekly sends in the last 30 days (the fifth is 31 days old).
        let ids: Vec<&str> = obs.iter().map(|o| o.subject.as_str()).collect();
        assert_eq!(ids, ["CMPW00", "CMPW01", "CMPW02", "CMPW03"]);
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Eventually);
        assert_eq!(
            o.title,
            "Campaign \"Weekly Newsletter #12\" went to the whole list \"Newsletter\" (62,000 profiles)"
        );
        assert!(o.why.contains("more than 50,000"), "{}", o.why);
        assert_eq!(o.began_at, sent_at(&mut s, LAST_SENT));
        assert_eq!(o.deep_link, links::campaign(LAST_SENT));
        // An engaged segment among its audiences: fine. The unengaged one is not.
        fixtures::campaign_mut(&mut s, LAST_SENT)
            .included_audiences
            .push("SEGENGAGED30".into());
        fixtures::campaign_mut(&mut s, "CMPW01")
            .included_audiences
            .push(fixtures::UNENGAGED.into());
        let obs = fixtures::run(UNENGAGED_SENDS, &s, None);
        let ids: Vec<&str> = obs.iter().map(|o| o.subject.as_str()).collect();
        assert_eq!(ids, ["CMPW01", "CMPW02", "CMPW03"]);
    }

    #[test]
    fn lists_at_the_line_and_the_override() {
        assert!(fixtures::run(UNENGAGED_SENDS, &big_newsletter(50_000), None).is_empty());
        assert!(!fixtures::run(UNENGAGED_SENDS, &big_newsletter(50_001), None).is_empty());
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{UNENGAGED_SENDS}.min_list"), 70_000.0);
        let s = big_newsletter(62_000);
        assert!(fixtures::run_with(UNENGAGED_SENDS, &s, None, &profile).is_empty());
    }

    #[test]
    fn segment_names_that_say_engaged() {
        assert!(says_engaged("Engaged (30 days)"));
        assert!(says_engaged("90-day engagement"));
        assert!(!says_engaged("Unengaged (180+ days)"));
        assert!(!says_engaged("Not engaged 1y"));
        assert!(!says_engaged("Non-engaged"));
        assert!(!says_engaged("VIP (3+ orders)"));
    }

    // ---- Sending domain ----

    fn domain(spf: bool, dkim: bool, dmarc: Option<&str>, aligned: bool) -> ClientProfile {
        let mut p = fixtures::profile();
        p.sending_domain = Some(SendingDomain {
            domain: "send.acme.com".into(),
            spf,
            dkim,
            dmarc: dmarc.map(str::to_owned),
            aligned,
        });
        p
    }

    #[test]
    fn sending_domain_without_dkim_is_a_warning_and_critical_for_bulk_senders() {
        let s = fixtures::healthy();
        let mut p = domain(true, false, Some("none"), true);
        let obs = fixtures::run_with(SENDING_DOMAIN, &s, None, &p);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].severity, Severity::Warning);
        assert_eq!(
            obs[0].title,
            "Sending domain send.acme.com: DKIM does not pass"
        );
        assert_eq!(obs[0].deep_link, links::sending_domains());
        p.bulk_sender = true;
        let obs = fixtures::run_with(SENDING_DOMAIN, &s, None, &p);
        assert_eq!(obs[0].severity, Severity::Critical);
        assert!(obs[0].why.contains("sends in bulk"), "{}", obs[0].why);
    }

    #[test]
    fn malformed_reports_never_panic_or_report_nonsense() {
        let mut s = fixtures::healthy();
        stats_mut(&mut s, LAST_SENT).recipients = f64::NAN;
        let w1 = stats_mut(&mut s, "CMPW01");
        w1.bounce_rate = f64::NAN;
        w1.open_rate = f64::INFINITY;
        w1.click_rate = -1.0;
        let w2 = stats_mut(&mut s, "CMPW02");
        w2.conversion_value = f64::NAN;
        w2.bounce_rate = 0.05;
        let f = series_mut(&mut s, ABANDONED_CHECKOUT);
        f.recipients
            .iter_mut()
            .step_by(2)
            .for_each(|r| *r = f64::NAN);
        f.bounced.truncate(3);
        f.conversion_value = vec![f64::INFINITY; 2];
        let profile = fixtures::profile();
        let mut seen = 0;
        for c in CHECKS {
            let obs = c
                .evaluate(&fixtures::input(&s, None, &profile))
                .unwrap_or_else(|e| panic!("{e:?}"));
            for o in obs {
                seen += 1;
                let text = format!("{} {}", o.title, o.why).to_ascii_lowercase();
                assert!(!text.contains("nan") && !text.contains("inf"), "{o:?}");
                assert!(
                    o.value_at_stake.as_ref().is_none_or(|m| m.minor > 0),
                    "{o:?}"
                );
            }
        }
        assert!(seen >= 1);
        // The campaign bounce rate reads the sound rows: W02 and W03, 2.65%,
        // priced on W01 and W03 (W02's revenue is unknown).
        let obs = fixtures::run(BOUNCE.id, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].title, "Bounce rate 2.6% over the last 3 campaigns");
        let v = obs[0]
            .value_at_stake
            .as_ref()
            .map(Money::major)
            .unwrap_or(0.0);
        // 0.08 a recipient × 120,000 campaign recipients this month (W00 has no count).
        let expected = 0.08 * 120_000.0 * (2.65 - 0.8) / 100.0;
        assert!((v - expected).abs() < 0.01, "{v} vs {expected}");
    }

    #[test]
    fn sending_domain_needs_every_record() {
        let s = fixtures::healthy();
        // Unknown: quiet. Everything in place with p=none: quiet.
        assert!(fixtures::run(SENDING_DOMAIN, &s, None).is_empty());
        let good = domain(true, true, Some("none"), true);
        assert!(fixtures::run_with(SENDING_DOMAIN, &s, None, &good).is_empty());
        let no_dmarc = domain(true, true, None, true);
        let obs = fixtures::run_with(SENDING_DOMAIN, &s, None, &no_dmarc);
        assert!(
            obs[0].why.contains("there is no DMARC record"),
            "{}",
            obs[0].why
        );
        let unaligned = domain(true, true, Some("reject"), false);
        let obs = fixtures::run_with(SENDING_DOMAIN, &s, None, &unaligned);
        assert!(obs[0].why.contains("not aligned"), "{}", obs[0].why);
        let no_spf = domain(false, true, Some("none"), true);
        assert_eq!(
            fixtures::run_with(SENDING_DOMAIN, &s, None, &no_spf).len(),
            1
        );
        let bare = domain(false, false, None, false);
        let obs = fixtures::run_with(SENDING_DOMAIN, &s, None, &bare);
        assert_eq!(
            obs[0].title,
            "Sending domain send.acme.com: SPF does not pass (and 2 more)"
        );
    }

    #[test]
    fn sending_domain_override_asks_for_a_stricter_dmarc_policy() {
        let s = fixtures::healthy();
        let mut p = domain(true, true, Some("p=none"), true);
        p.thresholds
            .insert(format!("{SENDING_DOMAIN}.dmarc_policy"), 1.0);
        let obs = fixtures::run_with(SENDING_DOMAIN, &s, None, &p);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert!(
            obs[0].why.contains("at least \"quarantine\""),
            "{}",
            obs[0].why
        );
        let mut p = domain(true, true, Some("quarantine"), true);
        p.thresholds
            .insert(format!("{SENDING_DOMAIN}.dmarc_policy"), 1.0);
        assert!(fixtures::run_with(SENDING_DOMAIN, &s, None, &p).is_empty());
    }

    // ---- Unsubscribe link ----

    fn with_campaign_html(html: &str) -> Snapshot {
        let mut s = fixtures::healthy();
        if let Some(t) = s
            .templates
            .as_mut()
            .and_then(|t| t.iter_mut().find(|t| t.id == CAMPAIGN_TEMPLATE))
        {
            t.html = html.to_owned();
        }
        s
    }

    #[test]
    fn a_template_without_an_unsubscribe_link_is_critical() {
        let html = fixtures::healthy_html("Sale").replace(
            "<a href=\"{% unsubscribe_url %}\">Unsubscribe</a>",
            "To unsubscribe, reply.",
        );
        let s = with_campaign_html(&html);
        let obs = fixtures::run(UNSUBSCRIBE_LINK, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.subject, CAMPAIGN_TEMPLATE);
        assert_eq!(o.severity, Severity::Critical);
        assert_eq!(o.track, Track::Now);
        assert_eq!(
            o.title,
            "Template \"Newsletter Base\" has no unsubscribe link"
        );
        assert_eq!(o.deep_link, links::template(CAMPAIGN_TEMPLATE));
        assert!(o.began_at.is_some());
    }

    #[test]
    fn unsubscribe_links_in_their_usual_forms() {
        for html in [
            "<p>{%unsubscribe%}</p>",
            "<p>{% unsubscribe 'Opt out' %}</p>",
            "<a href={% unsubscribe_link %}>x</a>",
            "<a HREF = 'https://acme.example.com/Unsubscribe?id=1'>Leave</a>",
            "<a href=https://acme.example.com/unsubscribe>Leave</a>",
        ] {
            assert!(has_unsubscribe(html), "{html}");
        }
        for html in [
            "<p>unsubscribe</p>",
            "<a href=\"https://acme.example.com/shop\">unsubscribe</a>",
            "<p>{% manage_preferences %}</p>",
            "{{ unsubscribe_url }}",
        ] {
            assert!(!has_unsubscribe(html), "{html}");
        }
    }

    #[test]
    fn unsubscribe_link_override_judges_only_recent_templates() {
        // The campaign template was last edited 18 days before the scan.
        let s = with_campaign_html("<p>Hello</p>");
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{UNSUBSCRIBE_LINK}.max_age_days"), 10.0);
        assert!(fixtures::run_with(UNSUBSCRIBE_LINK, &s, None, &profile).is_empty());
        profile
            .thresholds
            .insert(format!("{UNSUBSCRIBE_LINK}.max_age_days"), 30.0);
        assert_eq!(
            fixtures::run_with(UNSUBSCRIBE_LINK, &s, None, &profile).len(),
            1
        );
    }
}
