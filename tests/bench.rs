//! `lookout bench reports` builds the history it promises and prints its last
//! line in the issue's format (figures are measured by the bench, not here).

use lookout::bench::{ReportsBench, reports};

#[tokio::test]
async fn the_reports_bench_builds_its_history_and_reports_each_figure() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ReportsBench {
        findings: 400,
        days: 40,
        runs: 1,
        ..Default::default()
    };
    let f = reports(&opts, dir.path()).await.unwrap();
    assert_eq!(
        f.findings, 400,
        "every planned finding was detected by a scan"
    );
    assert!(
        f.events > f.findings,
        "people and scans acted on them: {} events",
        f.events
    );
    for ms in [f.renewal_ms, f.report_ms, f.sla_ms] {
        assert!(ms > 0.0 && ms.is_finite());
    }
    let line = f.last_line();
    let re = regex::Regex::new(
        r"^reports: findings=400 renewal_ms=\d+\.\d report_ms=\d+\.\d sla_ms=\d+\.\d$",
    )
    .unwrap();
    assert!(re.is_match(&line), "{line}");
}
