//! The onboarding audit: what a new client's first scan found, as one kickoff
//! summary (by family and severity, the value at stake, and a suggested order
//! of work) instead of an alert per finding. `/audit-report` builds the same
//! summary again, with a Markdown document for the kickoff deck.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::cards::{self, MAX_LINES, finding_line};
use crate::domain::{Money, Severity};
use crate::findings::{Finding, FindingState};
use crate::message::{Accent, Block, Message, RichText, Span};

/// The family a finding's check belongs to (`scan` for what the pipeline
/// itself reports, e.g. an incomplete scan).
pub fn family_of(check_id: &str) -> &'static str {
    crate::checks::find(check_id).map_or("scan", |c| c.family)
}

/// The order to work through them: critical first, then warnings, then
/// opportunities; within each, the most money at stake first, then the oldest.
pub fn order_of_work(found: &[Finding]) -> Vec<&Finding> {
    let mut v: Vec<&Finding> = found.iter().collect();
    v.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| value(b).cmp(&value(a)))
            .then_with(|| a.id.cmp(&b.id))
    });
    v
}

fn findings(n: usize) -> String {
    if n == 1 {
        "1 finding".into()
    } else {
        format!("{n} findings")
    }
}

fn value(f: &Finding) -> i64 {
    f.value.as_ref().map_or(0, |m| m.minor)
}

/// The value at stake over all of them, in the currency they carry.
fn total(found: &[Finding], currency: &str) -> Money {
    Money {
        minor: found
            .iter()
            .filter_map(|f| f.value.as_ref())
            .filter(|m| m.currency == currency)
            .map(|m| m.minor)
            .sum(),
        currency: currency.to_owned(),
    }
}

/// Count per severity, as "1 critical · 2 warning".
fn counts(found: &[&Finding]) -> String {
    let parts: Vec<String> = [Severity::Critical, Severity::Warning, Severity::Opportunity]
        .into_iter()
        .filter_map(|s| {
            let n = found.iter().filter(|f| f.severity == s).count();
            (n > 0).then(|| format!("{n} {s}"))
        })
        .collect();
    parts.join(" · ")
}

/// Findings by family, families in name order.
fn by_family(found: &[Finding]) -> BTreeMap<&'static str, Vec<&Finding>> {
    let mut m: BTreeMap<&'static str, Vec<&Finding>> = BTreeMap::new();
    for f in found {
        m.entry(family_of(&f.check_id)).or_default().push(f);
    }
    m
}

/// The kickoff summary posted once, in the client's channel, after its first scan.
pub fn kickoff_message(
    client_name: &str,
    client: &str,
    currency: &str,
    found: &[Finding],
) -> Message {
    if found.is_empty() {
        return Message::text(
            Accent::Info,
            format!(
                "Onboarding audit for {client_name}: nothing to report. Every check that could run found the account healthy."
            ),
        );
    }
    let at_stake = total(found, currency);
    let mut blocks = vec![
        Block::Header(format!(
            "Onboarding audit for {client_name}: {}, {at_stake} at stake",
            findings(found.len())
        )),
        Block::Context(RichText::plain(format!(
            "{}. These are listed here once instead of alerting one by one.",
            counts(&found.iter().collect::<Vec<_>>())
        ))),
        Block::Fields(
            by_family(found)
                .into_iter()
                .map(|(family, fs)| (family.to_owned(), RichText::plain(counts(&fs))))
                .collect(),
        ),
        Block::Text(RichText(vec![Span::Strong(
            "Suggested order of work".into(),
        )])),
    ];
    let order = order_of_work(found);
    // The header, context, fields, heading and closing hint leave room for this many.
    let room = MAX_LINES.min(45);
    for (i, f) in order.iter().take(room).enumerate() {
        let mut line = vec![Span::Plain(format!("{}. ", i + 1))];
        line.extend(finding_line(f).0);
        blocks.push(Block::Text(RichText(line)));
    }
    let more = order.len().saturating_sub(room);
    let hint = format!(
        "{}Type /findings {client} to work them, or /audit-report {client} for this audit as a document.",
        if more > 0 {
            format!("…and {more} more. ")
        } else {
            String::new()
        }
    );
    blocks.push(Block::Context(RichText::plain(hint)));
    let accent = order
        .first()
        .map_or(Accent::Info, |f| Accent::Severity(f.severity));
    Message { accent, blocks }
}

/// The audit as a Markdown document: every finding, in the order of work,
/// with its family, why it matters, the value at stake and its state now.
pub fn kickoff_markdown(
    client_name: &str,
    currency: &str,
    found: &[Finding],
    scanned_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> String {
    let mut md = format!("# Onboarding audit: {}\n\n", md_text(client_name));
    match scanned_at {
        Some(t) => md.push_str(&format!(
            "First scan: {}. Generated {}.\n\n",
            t.format("%Y-%m-%d %H:%M UTC"),
            now.format("%Y-%m-%d %H:%M UTC")
        )),
        None => md.push_str(&format!(
            "Generated {}.\n\n",
            now.format("%Y-%m-%d %H:%M UTC")
        )),
    }
    if found.is_empty() {
        md.push_str("Nothing to report: every check that could run found the account healthy.\n");
        return md;
    }
    let still_open = found
        .iter()
        .filter(|f| f.state != FindingState::Resolved)
        .count();
    md.push_str(&format!(
        "{} ({}), {} at stake; {still_open} still open.\n\n",
        findings(found.len()),
        counts(&found.iter().collect::<Vec<_>>()),
        total(found, currency)
    ));
    md.push_str("## By family\n\n| family | findings |\n|---|---|\n");
    for (family, fs) in by_family(found) {
        md.push_str(&format!("| {family} | {} |\n", counts(&fs)));
    }
    md.push_str("\n## Suggested order of work\n\n");
    for (i, f) in order_of_work(found).iter().enumerate() {
        md.push_str(&format!(
            "{}. **{}** ({}, {}, {}){} — {}\n",
            i + 1,
            md_text(&f.title),
            f.id,
            f.severity,
            family_of(&f.check_id),
            f.value
                .as_ref()
                .map(|v| format!(", {v} at stake"))
                .unwrap_or_default(),
            md_text(&f.why)
        ));
        if f.state != FindingState::Open {
            md.push_str(&format!("   - now: {}\n", cards::state_line(f)));
        }
    }
    md
}

/// Client-provided text on one line, with Markdown's active characters escaped.
fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClientSlug, FindingId, Fingerprint, Track};

    fn f(id: i64, check: &str, sev: Severity, dollars: Option<f64>) -> Finding {
        let client = ClientSlug::parse("acme").unwrap();
        let now = chrono::Utc::now();
        Finding {
            id: FindingId(id),
            fingerprint: Fingerprint::new(&client, check, &id.to_string()),
            client,
            check_id: check.into(),
            subject: id.to_string(),
            severity: sev,
            track: Track::Now,
            state: FindingState::Open,
            title: format!("{check} #{id}"),
            why: "because".into(),
            deep_link: "https://www.klaviyo.com/dashboard".into(),
            value: dollars.map(|d| Money::from_major(d, "USD")),
            began_at: None,
            detected_at: now,
            last_seen_at: now,
            acknowledged_at: None,
            acknowledged_by: None,
            snoozed_until: None,
            snoozed_by: None,
            snooze_until_worse: false,
            snooze_severity: None,
            snooze_value_minor: None,
            resolved_at: None,
            resolved_by: None,
            resolution: None,
            onboarding: true,
        }
    }

    fn sample() -> Vec<Finding> {
        vec![
            f(1, "list-growth-flat", Severity::Opportunity, None),
            f(2, "flow-core-missing", Severity::Warning, Some(300.0)),
            f(
                3,
                "flow-abandoned-checkout-missing",
                Severity::Critical,
                Some(100.0),
            ),
            f(4, "compliance-postal-address", Severity::Critical, None),
            f(5, "flow-core-missing", Severity::Warning, Some(900.0)),
        ]
    }

    #[test]
    fn work_goes_critical_first_then_by_value() {
        let found = sample();
        let order: Vec<i64> = order_of_work(&found).iter().map(|f| f.id.0).collect();
        assert_eq!(order, [3, 4, 5, 2, 1]);
    }

    #[test]
    fn the_kickoff_groups_by_family_and_totals_the_value() {
        let m = kickoff_message("Acme", "acme", "USD", &sample());
        let text = m.to_plain();
        assert!(text.contains("5 findings"), "{text}");
        assert!(
            text.contains("$1,300.00 at stake") || text.contains("1,300"),
            "{text}"
        );
        assert!(
            text.contains("flows: 2 warning") || text.contains("flows"),
            "{text}"
        );
        let fields = m
            .blocks
            .iter()
            .find_map(|b| match b {
                Block::Fields(fs) => Some(fs.clone()),
                _ => None,
            })
            .unwrap();
        let flows = fields.iter().find(|(k, _)| k == "flows").unwrap();
        assert_eq!(flows.1.to_plain(), "1 critical · 2 warning");
        let first = text.find("1. ").unwrap();
        assert!(text[first..].starts_with("1. F-3"), "{}", &text[first..]);
    }

    #[test]
    fn the_document_escapes_client_text_and_lists_every_finding() {
        let mut found = sample();
        found[0].title = "**bold** [link](http://x) <b>\nsecond line".into();
        let md = kickoff_markdown("Acme | Co", "USD", &found, None, chrono::Utc::now());
        assert!(md.starts_with("# Onboarding audit: Acme \\| Co"));
        assert!(md.contains("\\*\\*bold\\*\\* \\[link\\](http://x) \\<b\\> second line"));
        for i in 1..=5 {
            assert!(md.contains(&format!("F-{i}")), "F-{i} missing:\n{md}");
        }
        assert!(md.contains("| flows | 1 critical · 2 warning |"), "{md}");
    }

    #[test]
    fn a_healthy_first_scan_says_so() {
        let m = kickoff_message("Acme", "acme", "USD", &[]);
        assert!(m.to_plain().contains("nothing to report"));
    }
}
