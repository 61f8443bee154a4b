//! Time as a dependency: nothing reads the wall clock except `SystemClock`.
//!
//! The demo, tests and benchmarks use `SimClock`, which can run faster than real
//! time and be advanced by hand, so an hour of scanning takes seconds.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Debug)]
struct SimState {
    /// Simulated time at `anchor`.
    base: DateTime<Utc>,
    /// Real instant the base was taken at.
    anchor: Instant,
    /// Simulated seconds per real second; 0 freezes the clock.
    speed: f64,
}

/// A simulated clock: starts at a given time, runs at `speed` × real time, and
/// can be advanced or set by hand. Cloning shares the same clock.
#[derive(Debug, Clone)]
pub struct SimClock {
    state: Arc<Mutex<SimState>>,
}

impl SimClock {
    /// A clock frozen at `start` (speed 0): time moves only by `advance`.
    pub fn frozen(start: DateTime<Utc>) -> Self {
        Self::running(start, 0.0)
    }

    /// A clock at `start` that runs `speed` simulated seconds per real second.
    pub fn running(start: DateTime<Utc>, speed: f64) -> Self {
        Self {
            state: Arc::new(Mutex::new(SimState {
                base: start,
                anchor: Instant::now(),
                speed: speed.max(0.0),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        // A poisoned lock only means another thread panicked mid-read of plain
        // data; the state itself is always consistent, so keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_locked(s: &SimState) -> DateTime<Utc> {
        let real = s.anchor.elapsed().as_secs_f64() * s.speed;
        s.base + Duration::milliseconds((real * 1000.0) as i64)
    }

    /// Moves simulated time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut s = self.lock();
        let now = Self::now_locked(&s);
        s.base = now + d;
        s.anchor = Instant::now();
    }

    /// Sets simulated time to `t` (never backwards).
    pub fn set(&self, t: DateTime<Utc>) {
        let mut s = self.lock();
        let now = Self::now_locked(&s);
        s.base = t.max(now);
        s.anchor = Instant::now();
    }

    /// Runs the clock at `speed` from its current time on (0 freezes it).
    pub fn set_speed(&self, speed: f64) {
        let mut s = self.lock();
        s.base = Self::now_locked(&s);
        s.anchor = Instant::now();
        s.speed = speed.max(0.0);
    }

    /// Simulated seconds per real second.
    pub fn speed(&self) -> f64 {
        self.lock().speed
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        Self::now_locked(&self.lock())
    }
}

/// A shared handle to whichever clock the process runs on.
pub type SharedClock = Arc<dyn Clock>;

/// The most recent local time `at` (on a day `on` accepts, within a week) at or
/// before `now`, in UTC. On a DST fold it takes the first of the two times; a
/// time skipped by DST does not happen that day.
pub fn latest_local(
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
    at: chrono::NaiveTime,
    on: impl Fn(chrono::NaiveDate) -> bool,
) -> Option<DateTime<Utc>> {
    let mut day = now.with_timezone(&tz).date_naive();
    for _ in 0..8 {
        if on(day)
            && let Some(t) = tz.from_local_datetime(&day.and_time(at)).earliest()
            && t.with_timezone(&Utc) <= now
        {
            return Some(t.with_timezone(&Utc));
        }
        day = day.pred_opt()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let c = SimClock::frozen(t0);
        assert_eq!(c.now(), t0);
        c.advance(Duration::hours(2));
        assert_eq!(c.now(), t0 + Duration::hours(2));
        c.set(t0); // never backwards
        assert_eq!(c.now(), t0 + Duration::hours(2));
        let shared = c.clone();
        shared.advance(Duration::minutes(1));
        assert_eq!(c.now(), t0 + Duration::minutes(121));
    }
}

#[cfg(test)]
mod latest_local_tests {
    use super::*;
    use chrono::{Datelike, NaiveTime};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn latest_local_finds_the_last_due_time_across_dst_and_weekdays() {
        let ny = chrono_tz::America::New_York;
        let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        // 13:59 UTC on Monday 2 November 2026 is 08:59 EST: the last 09:00 was Sunday's (EDT ended that morning).
        let t = latest_local(ny, utc("2026-11-02T13:59:00Z"), nine, |_| true);
        assert_eq!(t, Some(utc("2026-11-01T14:00:00Z")));
        assert_eq!(
            latest_local(ny, utc("2026-11-02T14:00:00Z"), nine, |_| true),
            Some(utc("2026-11-02T14:00:00Z"))
        );
        // Weekly on Mondays, asked on a Sunday: the Monday before.
        let mon = |d: chrono::NaiveDate| d.weekday() == chrono::Weekday::Mon;
        assert_eq!(
            latest_local(ny, utc("2026-11-08T20:00:00Z"), nine, mon),
            Some(utc("2026-11-02T14:00:00Z"))
        );
        // 02:30 does not exist on 8 March 2026 in New York; the day before's does.
        let half_two = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        assert_eq!(
            latest_local(ny, utc("2026-03-08T12:00:00Z"), half_two, |_| true),
            Some(utc("2026-03-07T07:30:00Z"))
        );
        // 01:30 happens twice on 1 November 2026: the first (EDT) is taken.
        let half_one = NaiveTime::from_hms_opt(1, 30, 0).unwrap();
        assert_eq!(
            latest_local(ny, utc("2026-11-01T07:00:00Z"), half_one, |_| true),
            Some(utc("2026-11-01T05:30:00Z"))
        );
    }
}
