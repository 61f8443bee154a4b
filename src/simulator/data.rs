//! Procedural events: nothing is stored. The number of events of metric M for
//! brand B in hour H is a hash of (seed, B, M, H) shaped by a daily and weekly
//! curve; each event's second, id, profile and `$value` are hashes too. Faults
//! rewrite the events whose timestamps fall inside their window, to the second,
//! so a fault injected mid-hour at 600x speed takes effect at once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Datelike, Duration, DurationRound, TimeZone, Utc};

use super::faults::{Fault, FaultKind};
use super::hash::{hash, mix, str_hash, unit};
use super::portfolio::{Brand, SimMetric};

/// How far back events exist.
pub(crate) const HISTORY_DAYS: i64 = 90;

/// Share of Received Email that bounces during a bounce spike.
pub(crate) const BOUNCE_SPIKE_RATE: f64 = 0.08;
/// Share of Received Email marked as spam during a spam spike.
pub(crate) const SPAM_SPIKE_RATE: f64 = 0.004;

/// Distinct profiles events are spread over, per brand.
const PROFILE_POOL: u64 = 50_000;

/// One generated event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ev {
    /// Unix seconds.
    pub(crate) ts: i64,
    /// Unique key; the event id is its base-62 form.
    pub(crate) key: u64,
    pub(crate) metric: SimMetric,
    /// `$value` for orders.
    pub(crate) value: Option<f64>,
    /// Index into the brand's profile pool.
    pub(crate) profile: u64,
}

impl Ev {
    /// Sort and cursor key.
    pub(crate) fn order_key(&self) -> (i64, u64) {
        (self.ts, self.key)
    }
}

/// Bucket width of a metric aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interval {
    Hour,
    Day,
    Week,
    Month,
}

impl Interval {
    /// Parses Klaviyo's interval names.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "hour" => Some(Self::Hour),
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            _ => None,
        }
    }

    /// The start of the bucket holding `t` (UTC boundaries; weeks start Monday).
    pub(crate) fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Interval::Hour => t.duration_trunc(Duration::hours(1)).unwrap_or(t),
            Interval::Day => t.duration_trunc(Duration::days(1)).unwrap_or(t),
            Interval::Week => {
                let d = t.duration_trunc(Duration::days(1)).unwrap_or(t);
                d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
            }
            Interval::Month => Utc
                .with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
                .single()
                .unwrap_or(t),
        }
    }

    /// The start of the bucket after the one starting at `t`.
    pub(crate) fn next(self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Interval::Hour => t + Duration::hours(1),
            Interval::Day => t + Duration::days(1),
            Interval::Week => t + Duration::days(7),
            Interval::Month => {
                let (y, m) = if t.month() == 12 {
                    (t.year() + 1, 1)
                } else {
                    (t.year(), t.month() + 1)
                };
                Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
                    .single()
                    .unwrap_or(t + Duration::days(31))
            }
        }
    }
}

/// A metric aggregate: bucket starts, counts and `$value` sums.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Aggregate {
    pub(crate) dates: Vec<DateTime<Utc>>,
    pub(crate) counts: Vec<u64>,
    pub(crate) sums: Vec<f64>,
}

/// Each brand's main-list subscriptions and unsubscriptions over the whole
/// hours of its history, as of the hour they were counted in. A list's
/// profile count sums three months of hours (over 4,000 hashes); segments,
/// lists and campaign reports ask for it on nearly every scan, and the whole
/// hours do not change until the hour does. One entry per brand.
#[derive(Debug, Default)]
pub(crate) struct ListGrowth {
    by_brand: Mutex<HashMap<usize, (i64, u64, u64)>>,
}

impl ListGrowth {
    /// Subscriptions and unsubscriptions in `src`'s whole history (to now).
    pub(crate) fn net(&self, src: &EventSource) -> (u64, u64) {
        let (sub, unsub) = (SimMetric::SubscribedToList, SimMetric::Unsubscribed);
        let (a, z) = (src.start_secs(), src.now_secs() + 1);
        let hour = src.now_secs().div_euclid(3600) * 3600;
        if !src.windows(sub).is_empty() || !src.windows(unsub).is_empty() {
            return (src.count(sub, a, z), src.count(unsub, a, z));
        }
        let key = src.brand.index;
        let cached = self
            .lock()
            .get(&key)
            .filter(|(at, _, _)| *at == hour)
            .map(|&(_, s, u)| (s, u));
        let (whole_s, whole_u) = cached.unwrap_or_else(|| {
            let counted = (src.count(sub, a, hour), src.count(unsub, a, hour));
            self.lock().insert(key, (hour, counted.0, counted.1));
            counted
        });
        (
            whole_s + src.count(sub, hour, z),
            whole_u + src.count(unsub, hour, z),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, (i64, u64, u64)>> {
        // A poisoned lock held plain counts, each written whole: still valid.
        self.by_brand.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A `$value` in whole cents, as sums are kept (no float drift over thousands of orders).
fn cents(v: f64) -> i64 {
    (v * 100.0).round() as i64
}

/// Events of one brand as they stand at `now`, given the brand's faults.
pub(crate) struct EventSource<'a> {
    brand: &'a Brand,
    /// Per metric (indexed like `SimMetric::ALL`), the `[start, end)` seconds
    /// of the faults that rewrite it.
    windows: Vec<Vec<(i64, i64)>>,
    /// Last second at which events exist.
    now_s: i64,
    /// First second at which events exist.
    start_s: i64,
    /// The daily curve by local hour of day: computed once per view, not
    /// once per hour counted (a month of hourly buckets is 720 sines).
    daily: [f64; 24],
    /// Whole unfaulted hours already valued in this view, by `(metric,
    /// hour)`: their count and value in cents. Reports value overlapping
    /// windows (five days after each campaign), at a hash per order.
    valued_hours: RefCell<HashMap<(usize, i64), (u64, i64)>>,
}

impl<'a> EventSource<'a> {
    /// A view of `brand`'s events at `now`; `faults` may include other brands' faults.
    pub(crate) fn new(brand: &'a Brand, faults: &[Fault], now: DateTime<Utc>) -> Self {
        let start =
            now.duration_trunc(Duration::hours(1)).unwrap_or(now) - Duration::days(HISTORY_DAYS);
        let windows = SimMetric::ALL
            .iter()
            .map(|&m| {
                let kind = match m {
                    SimMetric::PlacedOrder => FaultKind::OrdersStop,
                    SimMetric::BouncedEmail => FaultKind::BounceSpike,
                    SimMetric::MarkedSpam => FaultKind::SpamSpike,
                    _ => return Vec::new(),
                };
                faults
                    .iter()
                    .filter(|f| f.brand == brand.slug && f.kind == kind)
                    .map(Fault::window_secs)
                    .collect()
            })
            .collect();
        Self {
            brand,
            windows,
            now_s: now.timestamp(),
            start_s: start.timestamp(),
            // Quietest at 02:00 local, busiest at 14:00; the mean over a day is 1.
            daily: std::array::from_fn(|local| {
                1.0 + 0.6 * (std::f64::consts::TAU * (local as f64 - 8.0) / 24.0).sin()
            }),
            valued_hours: RefCell::new(HashMap::new()),
        }
    }

    /// First second at which events exist (90 days before the current hour).
    pub(crate) fn start_secs(&self) -> i64 {
        self.start_s
    }

    /// Last second at which events exist (now).
    pub(crate) fn now_secs(&self) -> i64 {
        self.now_s
    }

    /// Fault windows that rewrite metric `m`.
    fn windows(&self, m: SimMetric) -> &[(i64, i64)] {
        &self.windows[m.index()]
    }

    /// The unfaulted number of events of `m` in hour `h` (unix hours).
    pub(crate) fn base_count(&self, m: SimMetric, h: i64) -> u64 {
        let b = self.brand;
        let daily = self.daily[(h + b.utc_offset_hours).rem_euclid(24) as usize];
        // 1970-01-01 was a Thursday: day index 2 and 3 are Saturday and Sunday.
        let weekday = (h + b.utc_offset_hours).div_euclid(24).rem_euclid(7);
        let weekly = if weekday == 2 || weekday == 3 {
            1.1
        } else {
            0.96
        };
        let r = hash(&[b.seed, b.index as u64, m.index() as u64, h as u64]);
        let noise = 0.85 + 0.3 * unit(r);
        let expected = b.rates.per_hour(m) * daily * weekly * noise;
        // Stochastic rounding keeps small rates (spam at 0.05/h) right on average.
        let n = (expected + unit(mix(r))).floor().max(0.0) as u64;
        if m == SimMetric::PlacedOrder {
            n.max(b.rates.min_orders_per_hour)
        } else {
            n
        }
    }

    /// The key of unfaulted event number `i` of `m` in hour `h`.
    fn base_key(&self, m: SimMetric, h: i64, i: u64) -> u64 {
        let b = self.brand;
        hash(&[b.seed, b.index as u64, m.index() as u64, h as u64, i, 1])
    }

    /// Unfaulted events of `m` in hour `h`, unsorted, without the `now` cut.
    fn base_events(&self, m: SimMetric, h: i64) -> Vec<Ev> {
        let n = self.base_count(m, h);
        (0..n)
            .map(|i| {
                let k = self.base_key(m, h, i);
                self.event(m, h * 3600 + (k % 3600) as i64, k)
            })
            .collect()
    }

    /// The `$value` of the order with key `k`, in whole cents of the account currency.
    fn order_value(&self, k: u64) -> f64 {
        let v = self.brand.rates.aov * (0.4 + 1.2 * unit(mix(k ^ 0xA5A5)));
        (v * 100.0).round() / 100.0
    }

    fn event(&self, m: SimMetric, ts: i64, k: u64) -> Ev {
        let value = (m == SimMetric::PlacedOrder).then(|| self.order_value(k));
        Ev {
            ts,
            key: k,
            metric: m,
            value,
            profile: mix(k ^ 0x5A5A) % PROFILE_POOL,
        }
    }

    /// Events of `m` in hour `h` as served: faults applied, nothing after
    /// now or before the history start, sorted by `(ts, key)`.
    pub(crate) fn hour_events(&self, m: SimMetric, h: i64) -> Vec<Ev> {
        let windows = self.windows(m);
        let in_window = |ts: i64| windows.iter().any(|&(a, z)| ts >= a && ts < z);
        let mut evs: Vec<Ev> = self
            .base_events(m, h)
            .into_iter()
            .filter(|e| !in_window(e.ts))
            .collect();
        let spike = match m {
            SimMetric::BouncedEmail => Some(BOUNCE_SPIKE_RATE),
            SimMetric::MarkedSpam => Some(SPAM_SPIKE_RATE),
            _ => None,
        };
        if let Some(p) = spike.filter(|_| !windows.is_empty()) {
            let tag = str_hash(m.name());
            for r in self.base_events(SimMetric::ReceivedEmail, h) {
                let k = mix(r.key ^ tag);
                if in_window(r.ts) && unit(k) < p {
                    evs.push(self.event(m, r.ts, k));
                }
            }
        }
        evs.retain(|e| e.ts <= self.now_s && e.ts >= self.start_s);
        evs.sort_by_key(Ev::order_key);
        evs
    }

    /// Whether hour `h` can use `base_count` as is: wholly in the past and
    /// inside the history, and untouched by any fault rewriting `m`.
    fn fast(&self, m: SimMetric, h: i64) -> bool {
        let (a, z) = (h * 3600, h * 3600 + 3600);
        z - 1 <= self.now_s
            && a >= self.start_s
            && !self.windows(m).iter().any(|&(fa, fz)| fa < z && fz > a)
    }

    /// Number of events of `m` with `from_s <= ts < to_s`.
    pub(crate) fn count(&self, m: SimMetric, from_s: i64, to_s: i64) -> u64 {
        self.count_and_cents(m, from_s, to_s, false).0
    }

    /// Number and sum of `$value` of events of `m` with `from_s <= ts < to_s`.
    pub(crate) fn count_and_value(&self, m: SimMetric, from_s: i64, to_s: i64) -> (u64, f64) {
        let (n, cents) = self.count_and_cents(m, from_s, to_s, true);
        (n, cents as f64 / 100.0)
    }

    /// A whole unfaulted hour's count and value in cents, from `base_count`
    /// and the event keys alone, remembered for the view.
    fn valued_hour(&self, m: SimMetric, h: i64) -> (u64, i64) {
        let key = (m.index(), h);
        if let Some(&known) = self.valued_hours.borrow().get(&key) {
            return known;
        }
        let c = self.base_count(m, h);
        let cents = (0..c)
            .map(|i| cents(self.order_value(self.base_key(m, h, i))))
            .sum::<i64>();
        self.valued_hours.borrow_mut().insert(key, (c, cents));
        (c, cents)
    }

    /// The number of events of `m` with `from_s <= ts < to_s` and, when
    /// `with_value`, the sum of their `$value` in cents, in one pass. Whole
    /// hours untouched by faults are counted from `base_count` and summed
    /// from the event keys alone: no events built, sorted or cut.
    fn count_and_cents(
        &self,
        m: SimMetric,
        from_s: i64,
        to_s: i64,
        with_value: bool,
    ) -> (u64, i64) {
        let valued = with_value && m == SimMetric::PlacedOrder;
        let (mut n, mut sum) = (0, 0);
        for h in self.hours(from_s, to_s) {
            let whole = h * 3600 >= from_s && h * 3600 + 3600 <= to_s;
            if whole && self.fast(m, h) {
                // Counting alone is one hash: cheaper than remembering it.
                let (c, s) = if valued {
                    self.valued_hour(m, h)
                } else {
                    (self.base_count(m, h), 0)
                };
                n += c;
                sum += s;
            } else {
                for e in self
                    .hour_events(m, h)
                    .iter()
                    .filter(|e| e.ts >= from_s && e.ts < to_s)
                {
                    n += 1;
                    if valued && let Some(v) = e.value {
                        sum += cents(v);
                    }
                }
            }
        }
        (n, sum)
    }

    fn hours(&self, from_s: i64, to_s: i64) -> impl Iterator<Item = i64> {
        let from_s = from_s.max(self.start_s);
        let to_s = to_s.min(self.now_s + 1);
        let (h0, h1) = (from_s.div_euclid(3600), (to_s - 1).div_euclid(3600));
        (h0..=h1).filter(move |_| from_s < to_s)
    }

    /// Aggregates `m` over `[from, to)` in `interval` buckets.
    pub(crate) fn aggregate(
        &self,
        m: SimMetric,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        interval: Interval,
        with_sums: bool,
    ) -> Aggregate {
        // Hourly buckets of a month are 720: size the vectors once.
        let buckets = match interval {
            Interval::Hour => ((to - from).num_hours().max(0) as usize).saturating_add(2),
            _ => 0,
        };
        let mut out = Aggregate {
            dates: Vec::with_capacity(buckets),
            counts: Vec::with_capacity(buckets),
            sums: Vec::with_capacity(buckets),
        };
        let mut b = interval.floor(from);
        while b < to {
            let next = interval.next(b);
            let (lo, hi) = (b.max(from).timestamp(), next.min(to).timestamp());
            let (n, cents) = self.count_and_cents(m, lo, hi, with_sums);
            out.dates.push(b);
            out.counts.push(n);
            out.sums.push(cents as f64 / 100.0);
            b = next;
        }
        out
    }

    /// Events of any of `metrics` with `lo_s <= ts < hi_s`, in `(ts, key)`
    /// order (newest first when `desc`), strictly after `after` in that order.
    /// Returns up to `limit` events and whether more follow.
    pub(crate) fn list(
        &self,
        metrics: &[SimMetric],
        lo_s: i64,
        hi_s: i64,
        desc: bool,
        after: Option<(i64, u64)>,
        limit: usize,
    ) -> (Vec<Ev>, bool) {
        let mut lo = lo_s.max(self.start_s);
        let mut hi = hi_s.min(self.now_s + 1);
        if let Some((ts, _)) = after {
            // Never revisit hours wholly before the cursor.
            if desc {
                hi = hi.min(ts + 1);
            } else {
                lo = lo.max(ts);
            }
        }
        let mut out = Vec::new();
        if lo >= hi {
            return (out, false);
        }
        let (h0, h1) = (lo.div_euclid(3600), (hi - 1).div_euclid(3600));
        let hours: Box<dyn Iterator<Item = i64>> = if desc {
            Box::new((h0..=h1).rev())
        } else {
            Box::new(h0..=h1)
        };
        for h in hours {
            if metrics
                .iter()
                .all(|&m| self.fast(m, h) && self.base_count(m, h) == 0)
            {
                continue;
            }
            let mut evs: Vec<Ev> = metrics
                .iter()
                .flat_map(|&m| self.hour_events(m, h))
                .filter(|e| e.ts >= lo && e.ts < hi)
                .filter(|e| match after {
                    None => true,
                    Some(c) if desc => e.order_key() < c,
                    Some(c) => e.order_key() > c,
                })
                .collect();
            evs.sort_by_key(Ev::order_key);
            if desc {
                evs.reverse();
            }
            for e in evs {
                if out.len() == limit {
                    return (out, true);
                }
                out.push(e);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::portfolio::build;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, 0).unwrap()
    }

    fn fault(kind: FaultKind, at: DateTime<Utc>, until: Option<DateTime<Utc>>) -> Fault {
        Fault {
            brand: "acme".into(),
            kind,
            at,
            until,
        }
    }

    #[test]
    fn same_seed_same_counts_other_seed_differs() {
        let a = build(5, 3, t0());
        let b = build(5, 3, t0());
        let c = build(6, 3, t0());
        let now = t0();
        let (sa, sb, sc) = (
            EventSource::new(&a[0], &[], now),
            EventSource::new(&b[0], &[], now),
            EventSource::new(&c[0], &[], now),
        );
        let day = |s: &EventSource| -> Vec<u64> {
            let h = now.timestamp() / 3600 - 48;
            (h..h + 24)
                .map(|h| s.base_count(SimMetric::ViewedProduct, h))
                .collect()
        };
        assert_eq!(day(&sa), day(&sb));
        assert_ne!(day(&sa), day(&sc));
        let h = now.timestamp() / 3600 - 5;
        assert_eq!(
            sa.hour_events(SimMetric::PlacedOrder, h),
            sb.hour_events(SimMetric::PlacedOrder, h)
        );
    }

    #[test]
    fn counts_match_listed_events_and_stop_at_now() {
        let p = build(5, 1, t0());
        let now = t0();
        let s = EventSource::new(&p[0], &[], now);
        let from = now.timestamp() - 6 * 3600 - 123;
        let to = now.timestamp() + 3600;
        let n = s.count(SimMetric::StartedCheckout, from, to);
        let (evs, more) = s.list(
            &[SimMetric::StartedCheckout],
            from,
            to,
            false,
            None,
            100_000,
        );
        assert!(!more);
        assert_eq!(n, evs.len() as u64);
        assert!(evs.iter().all(|e| e.ts <= now.timestamp()));
        assert!(evs.windows(2).all(|w| w[0].order_key() < w[1].order_key()));
        // Nothing before the 90-day history.
        let old = now.timestamp() - 100 * 86_400;
        assert_eq!(s.count(SimMetric::ViewedProduct, old, old + 86_400), 0);
    }

    #[test]
    fn list_growth_remembered_by_the_hour_matches_counting_it_all() {
        let p = build(5, 3, t0());
        let growth = ListGrowth::default();
        let direct = |s: &EventSource| {
            let (a, z) = (s.start_secs(), s.now_secs() + 1);
            (
                s.count(SimMetric::SubscribedToList, a, z),
                s.count(SimMetric::Unsubscribed, a, z),
            )
        };
        // Twice in one hour (the second from memory), then into the next hours.
        for (brand, minutes) in [(0, 0), (0, 20), (1, 20), (0, 45), (0, 95), (2, 300)] {
            let now = t0() + Duration::minutes(minutes);
            let s = EventSource::new(&p[brand], &[], now);
            let got = growth.net(&s);
            assert_eq!(got, direct(&s), "brand {brand} at +{minutes} min");
            assert!(got.0 > 0, "a main list gains subscribers");
        }
        assert_eq!(growth.lock().len(), 3, "one entry per brand");
    }

    #[test]
    fn paging_by_cursor_visits_every_event_once_both_ways() {
        let p = build(5, 1, t0());
        let s = EventSource::new(&p[0], &[], t0());
        let all = SimMetric::ALL;
        let (lo, hi) = (t0().timestamp() - 3 * 3600, t0().timestamp() + 1);
        let (whole, _) = s.list(&all, lo, hi, false, None, 1_000_000);
        for desc in [false, true] {
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let (page, more) = s.list(&all, lo, hi, desc, after, 97);
                after = page.last().map(Ev::order_key);
                seen.extend(page);
                if !more {
                    break;
                }
            }
            if desc {
                seen.reverse();
            }
            assert_eq!(seen, whole);
        }
    }

    #[test]
    fn healthy_brands_rates_are_in_range() {
        let now = t0();
        for b in build(11, 3, now).iter() {
            let s = EventSource::new(b, &[], now);
            let (from, to) = (now.timestamp() - 30 * 86_400, now.timestamp());
            let c = |m| s.count(m, from, to) as f64;
            let recv = c(SimMetric::ReceivedEmail);
            let bounce = c(SimMetric::BouncedEmail) / recv;
            let spam = c(SimMetric::MarkedSpam) / recv;
            let unsub = c(SimMetric::Unsubscribed) / recv;
            assert!(
                (0.002..0.004).contains(&bounce),
                "{} bounce {bounce}",
                b.slug
            );
            assert!((0.00005..0.0005).contains(&spam), "{} spam {spam}", b.slug);
            assert!(
                (0.0005..0.0015).contains(&unsub),
                "{} unsub {unsub}",
                b.slug
            );
            assert!(c(SimMetric::SubscribedToList) > c(SimMetric::Unsubscribed));
            // Orders every hour, at least 2 an hour on average, no gap over 3 h.
            let orders = c(SimMetric::PlacedOrder);
            assert!(orders / (30.0 * 24.0) >= 2.0, "{} orders/h", b.slug);
            let (evs, _) = s.list(&[SimMetric::PlacedOrder], from, to, false, None, 1_000_000);
            let max_gap = evs.windows(2).map(|w| w[1].ts - w[0].ts).max().unwrap_or(0);
            assert!(max_gap <= 3 * 3600, "{} gap {max_gap}s", b.slug);
            assert!(evs.iter().all(|e| e.value.is_some_and(|v| v > 0.0)));
        }
    }

    #[test]
    fn orders_stop_zeroes_orders_only_inside_the_window() {
        let p = build(5, 1, t0());
        let now = t0();
        let at = now - Duration::minutes(200);
        let until = now - Duration::minutes(50);
        let faults = vec![fault(FaultKind::OrdersStop, at, Some(until))];
        let clean = EventSource::new(&p[0], &[], now);
        let faulty = EventSource::new(&p[0], &faults, now);
        let (a, z) = (at.timestamp(), until.timestamp());
        let m = SimMetric::PlacedOrder;
        assert!(clean.count(m, a, z) > 0);
        assert_eq!(faulty.count(m, a, z), 0);
        let before = now.timestamp() - 86_400;
        assert_eq!(faulty.count(m, before, a), clean.count(m, before, a));
        assert_eq!(
            faulty.count(m, z, now.timestamp() + 1),
            clean.count(m, z, now.timestamp() + 1)
        );
        // Checkouts go on.
        let c = SimMetric::StartedCheckout;
        assert_eq!(faulty.count(c, a, z), clean.count(c, a, z));
        // Another brand's fault changes nothing here.
        let other = vec![Fault {
            brand: "bluebird".into(),
            ..faults[0].clone()
        }];
        assert_eq!(
            EventSource::new(&p[0], &other, now).count(m, a, z),
            clean.count(m, a, z)
        );
    }

    #[test]
    fn bounce_spike_is_eight_percent_inside_the_window() {
        let p = build(5, 1, t0());
        let now = t0();
        let at = now - Duration::hours(30);
        let faults = vec![fault(FaultKind::BounceSpike, at, None)];
        let s = EventSource::new(&p[0], &faults, now);
        let (a, z) = (at.timestamp(), now.timestamp() + 1);
        let rate = s.count(SimMetric::BouncedEmail, a, z) as f64
            / s.count(SimMetric::ReceivedEmail, a, z) as f64;
        assert!((0.07..0.09).contains(&rate), "rate {rate}");
        let before = a - 7 * 86_400;
        let clean = EventSource::new(&p[0], &[], now);
        assert_eq!(
            s.count(SimMetric::BouncedEmail, before, a),
            clean.count(SimMetric::BouncedEmail, before, a)
        );
        let spam = vec![fault(FaultKind::SpamSpike, at, None)];
        let s = EventSource::new(&p[0], &spam, now);
        let rate = s.count(SimMetric::MarkedSpam, a, z) as f64
            / s.count(SimMetric::ReceivedEmail, a, z) as f64;
        assert!((0.002..0.006).contains(&rate), "spam rate {rate}");
    }

    #[test]
    fn aggregates_bucket_counts_and_values() {
        let p = build(5, 1, t0());
        let now = t0();
        let s = EventSource::new(&p[0], &[], now);
        let from = now - Duration::days(2);
        let agg = s.aggregate(SimMetric::PlacedOrder, from, now, Interval::Hour, true);
        // 09:30 two days ago to 09:30 now: the first and last buckets are partial.
        assert_eq!(agg.dates.len(), 49);
        assert_eq!(agg.dates[0], Interval::Hour.floor(from));
        let total: u64 = agg.counts.iter().sum();
        assert_eq!(
            total,
            s.count(SimMetric::PlacedOrder, from.timestamp(), now.timestamp())
        );
        assert!(agg.sums.iter().sum::<f64>() > 0.0);
        let days = s.aggregate(SimMetric::PlacedOrder, from, now, Interval::Day, false);
        assert_eq!(days.counts.iter().sum::<u64>(), total);
        assert!(days.sums.iter().all(|v| *v == 0.0));
        let noval = s.aggregate(SimMetric::ViewedProduct, from, now, Interval::Day, true);
        assert!(noval.sums.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn interval_boundaries() {
        let t = Utc.with_ymd_and_hms(2026, 12, 16, 13, 45, 0).unwrap();
        assert_eq!(
            Interval::Week.floor(t),
            Utc.with_ymd_and_hms(2026, 12, 14, 0, 0, 0).unwrap()
        );
        let m = Interval::Month.floor(t);
        assert_eq!(
            Interval::Month.next(m),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(Interval::parse("minute"), None);
    }
}
