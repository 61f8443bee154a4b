//! `lookout bench …`: speed and memory targets, measured outside the test suite.
//!
//! `reports` times the report commands over a year of history; `scan` scans
//! a simulated portfolio at Klaviyo's real rate limits and compares the wall
//! time with the floor those limits set; `latency` measures, in simulated
//! time, how long after a fault starts its finding reaches chat; `load` runs
//! several `lookout run` processes on one database for a simulated hour.

mod latency;
mod load;
mod reports;
mod scan;

pub use latency::{Cadence, KindFigures, LatencyBench, LatencyFigures, latency};
pub use load::{ACK_TARGET_MS, LoadBench, LoadFigures, load};
pub use reports::{REPORT_TARGET_MS, ReportsBench, ReportsFigures, reports};
pub use scan::{ScanBench, ScanFigures, scan};

/// The `q` quantile (nearest rank) of `v`, or 0 when empty.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}
