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

/// `lookout bench scan` scans every account at the real rate limits, never
/// draws a 429, and can never beat the floor it reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scan_bench_scans_every_account_at_or_above_the_floor() {
    use lookout::bench::{ScanBench, scan};
    let re = regex::Regex::new(
        r"^scan: accounts=3 calls=\d+ wall_s=\d+\.\d\d floor_s=\d+\.\d\d ratio=\d+\.\d{3} http_429=0 peak_rss_mb=\d+\.\d$",
    )
    .unwrap();
    for sequential in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let opts = ScanBench {
            accounts: 3,
            sequential,
            ..Default::default()
        };
        let f = scan(&opts, dir.path()).await.unwrap();
        assert_eq!(f.scanned, 3, "{f:?}");
        assert_eq!(f.http_429, 0, "paced under the limits: {f:?}");
        assert!(f.calls >= 3 * 10, "a full scan reads many endpoints: {f:?}");
        // At 3 metric aggregates a second, a scan's aggregates alone take a second or more.
        assert!(f.floor_s >= 1.0, "{f:?}");
        assert!(
            f.wall_s >= f.floor_s,
            "nothing beats Klaviyo's limits: {f:?}"
        );
        let expected_peak = if sequential { 1 } else { 3 };
        assert_eq!(f.peak_concurrency, expected_peak, "{f:?}");
        assert!(f.peak_rss_mb > 0.0);
        assert!(re.is_match(&f.last_line()), "{}", f.last_line());
    }
}
