//! The SLA report: how fast findings got a person's response and a resolution,
//! by severity, per owner and per pod, against targets, with the breaches.
//!
//! A finding **waits for a response** from detection until a person
//! acknowledges or resolves it (or, if nobody did, until a scan cleared it or
//! now). It **waits for resolution** until it is resolved by anyone, or now.
//! Either wait over its severity's target is a breach.

use chrono::{DateTime, Duration, Utc};

use super::renewal::Spread;
use crate::domain::Severity;
use crate::findings::Timing;

/// Targets for one severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Time to a person's response.
    pub ack: Duration,
    /// Time to resolution.
    pub resolve: Duration,
}

/// A finding with who answers for it.
#[derive(Debug, Clone)]
pub struct Owned<'a> {
    /// The finding's timings.
    pub finding: &'a Timing,
    /// Its client's owner, as shown (`U0ANA`), if any.
    pub owner: Option<String>,
    /// Its client's pod, if any.
    pub pod: Option<String>,
}

/// One missed target.
#[derive(Debug, Clone, PartialEq)]
pub struct Breach {
    /// The finding's id and client, e.g. `F-3 acme`.
    pub finding: String,
    /// Its severity.
    pub severity: Severity,
    /// `acknowledge` or `resolve`.
    pub what: &'static str,
    /// How long it took (or has taken so far), hours.
    pub took_hours: f64,
    /// The target, hours.
    pub target_hours: f64,
}

/// Figures for one group (a severity, an owner or a pod).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The group's name.
    pub name: String,
    /// Findings in it.
    pub findings: usize,
    /// Time to a person's response, among those that got one.
    pub to_ack: Option<Spread>,
    /// Time to resolution, among those resolved.
    pub to_resolve: Option<Spread>,
    /// Missed targets.
    pub breaches: usize,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq)]
pub struct Sla {
    /// By severity, critical first.
    pub by_severity: Vec<Line>,
    /// By owner, most breaches first.
    pub by_owner: Vec<Line>,
    /// By pod, most breaches first.
    pub by_pod: Vec<Line>,
    /// Every breach, longest over its target first.
    pub breaches: Vec<Breach>,
}

fn hours(d: Duration) -> f64 {
    d.num_seconds() as f64 / 3600.0
}

/// When a person first answered: an acknowledgement, or a resolution by a person.
fn responded(f: &Timing) -> Option<DateTime<Utc>> {
    let by_person = f.resolved_by.as_deref().is_some_and(|b| b != "lookout");
    match (f.acknowledged_at, f.resolved_at.filter(|_| by_person)) {
        (Some(a), Some(r)) => Some(a.min(r)),
        (a, r) => a.or(r),
    }
}

fn breaches_of(o: &Owned<'_>, target: Target, now: DateTime<Utc>) -> Vec<Breach> {
    let f = o.finding;
    let mut out = Vec::new();
    let waited = responded(f).or(f.resolved_at).unwrap_or(now) - f.detected_at;
    if waited > target.ack {
        out.push(Breach {
            finding: format!("{} {}", f.id, f.client),
            severity: f.severity,
            what: "acknowledge",
            took_hours: hours(waited),
            target_hours: hours(target.ack),
        });
    }
    let open_for = f.resolved_at.unwrap_or(now) - f.detected_at;
    if open_for > target.resolve {
        out.push(Breach {
            finding: format!("{} {}", f.id, f.client),
            severity: f.severity,
            what: "resolve",
            took_hours: hours(open_for),
            target_hours: hours(target.resolve),
        });
    }
    out
}

fn line(name: String, items: &[&Owned<'_>], breaches: usize) -> Line {
    Line {
        name,
        findings: items.len(),
        to_ack: Spread::of(
            items
                .iter()
                .filter_map(|o| responded(o.finding).map(|r| hours(r - o.finding.detected_at)))
                .collect(),
        ),
        to_resolve: Spread::of(
            items
                .iter()
                .filter_map(|o| {
                    o.finding
                        .resolved_at
                        .map(|r| hours(r - o.finding.detected_at))
                })
                .collect(),
        ),
        breaches,
    }
}

/// Builds the report for `findings` (already narrowed to the window and scope).
pub fn sla(findings: &[Owned<'_>], target: impl Fn(Severity) -> Target, now: DateTime<Utc>) -> Sla {
    let breaches_each: Vec<Vec<Breach>> = findings
        .iter()
        .map(|o| breaches_of(o, target(o.finding.severity), now))
        .collect();
    let group = |key: &dyn Fn(&Owned<'_>) -> Option<String>| -> Vec<Line> {
        let mut names: Vec<String> = findings.iter().filter_map(key).collect();
        names.sort();
        names.dedup();
        let mut lines: Vec<Line> = names
            .into_iter()
            .map(|n| {
                let idx: Vec<usize> = (0..findings.len())
                    .filter(|&i| key(&findings[i]).as_deref() == Some(n.as_str()))
                    .collect();
                let items: Vec<&Owned<'_>> = idx.iter().map(|&i| &findings[i]).collect();
                let b = idx.iter().map(|&i| breaches_each[i].len()).sum();
                line(n, &items, b)
            })
            .collect();
        lines.sort_by(|a, b| b.breaches.cmp(&a.breaches).then(a.name.cmp(&b.name)));
        lines
    };
    let by_severity = [Severity::Critical, Severity::Warning, Severity::Opportunity]
        .into_iter()
        .map(|s| {
            let idx: Vec<usize> = (0..findings.len())
                .filter(|&i| findings[i].finding.severity == s)
                .collect();
            let items: Vec<&Owned<'_>> = idx.iter().map(|&i| &findings[i]).collect();
            let b = idx.iter().map(|&i| breaches_each[i].len()).sum();
            line(s.as_str().to_owned(), &items, b)
        })
        .collect();
    let by_owner = group(&|o: &Owned<'_>| o.owner.clone());
    let by_pod = group(&|o: &Owned<'_>| o.pod.clone());
    let mut breaches: Vec<Breach> = breaches_each.into_iter().flatten().collect();
    breaches.sort_by(|a, b| {
        (b.took_hours - b.target_hours)
            .total_cmp(&(a.took_hours - a.target_hours))
            .then(a.finding.cmp(&b.finding))
    });
    Sla {
        by_severity,
        by_owner,
        by_pod,
        breaches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::FindingState;
    use chrono::TimeZone;

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn f(id: i64, client: &str, sev: Severity, detected: i64) -> crate::findings::Finding {
        crate::findings::fixture(id, client, sev, at(detected))
    }

    fn targets(s: Severity) -> Target {
        match s {
            Severity::Critical => Target {
                ack: Duration::hours(1),
                resolve: Duration::hours(24),
            },
            _ => Target {
                ack: Duration::hours(24),
                resolve: Duration::hours(168),
            },
        }
    }

    #[test]
    fn responses_resolutions_and_breaches_by_severity_owner_and_pod() {
        // 1: acme critical, acked after 30 min, resolved by a person after 10 h: on time.
        let mut f1 = f(1, "acme", Severity::Critical, 0);
        f1.acknowledged_at = Some(at(0) + Duration::minutes(30));
        f1.resolved_at = Some(at(10));
        f1.resolved_by = Some("slack:U0ANA".into());
        f1.state = FindingState::Resolved;
        // 2: bluebird critical, acked after 3 h, still open at 48 h: both targets missed.
        let mut f2 = f(2, "bluebird", Severity::Critical, 0);
        f2.acknowledged_at = Some(at(3));
        // 3: acme warning, nobody answered, cleared by a scan after 30 h: a response breach only.
        let mut f3 = f(3, "acme", Severity::Warning, 0);
        f3.resolved_at = Some(at(30));
        f3.resolved_by = Some("lookout".into());
        f3.state = FindingState::Resolved;
        let all: Vec<Timing> = [f1, f2, f3].iter().map(Timing::from).collect();
        let owned: Vec<Owned<'_>> = all
            .iter()
            .map(|x| Owned {
                finding: x,
                owner: Some(
                    if x.client.as_str() == "acme" {
                        "ana"
                    } else {
                        "bo"
                    }
                    .into(),
                ),
                pod: Some("east".into()),
            })
            .collect();
        let r = sla(&owned, targets, at(48));
        let crit = &r.by_severity[0];
        assert_eq!(
            (crit.name.as_str(), crit.findings, crit.breaches),
            ("critical", 2, 2)
        );
        let ack = crit.to_ack.unwrap();
        assert_eq!(
            (ack.count, ack.mean_hours, ack.median_hours),
            (2, 1.75, 1.75)
        );
        assert_eq!(crit.to_resolve.unwrap().mean_hours, 10.0);
        let warn = &r.by_severity[1];
        assert_eq!((warn.findings, warn.breaches), (1, 1));
        assert!(warn.to_ack.is_none(), "a scan clearing it is no response");
        assert_eq!(r.by_severity[2].findings, 0);
        let owners: Vec<(&str, usize, usize)> = r
            .by_owner
            .iter()
            .map(|l| (l.name.as_str(), l.findings, l.breaches))
            .collect();
        assert_eq!(owners, [("bo", 1, 2), ("ana", 2, 1)]);
        assert_eq!(
            (r.by_pod[0].name.as_str(), r.by_pod[0].breaches),
            ("east", 3)
        );
        let got: Vec<(&str, &str, f64)> = r
            .breaches
            .iter()
            .map(|b| (b.finding.as_str(), b.what, b.took_hours))
            .collect();
        // Longest over target first: 48 h vs 24, 30 h vs 24, 3 h vs 1.
        assert_eq!(
            got,
            [
                ("F-2 bluebird", "resolve", 48.0),
                ("F-3 acme", "acknowledge", 30.0),
                ("F-2 bluebird", "acknowledge", 3.0)
            ]
        );
    }
}
