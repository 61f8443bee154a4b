//! Scheduled chat traffic: daily and weekly digests, the catch-up when quiet
//! hours end, and snoozes whose time has come.

use chrono::{DateTime, Datelike, TimeZone, Utc};

use crate::app::{App, AppError};
use crate::clock::latest_local;
use crate::config::ConfigError;
use crate::domain::Severity;
use crate::findings::{Finding, Findings};
use crate::outbox;
use crate::routing::{self, Digest, Mode};
use crate::store::schedules;

impl App {
    /// Ends snoozes whose time has come and routes the re-raise.
    pub async fn wake_snoozes(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let woke = Findings::wake_due_snoozes(&mut tx, now).await?;
        for change in &woke {
            if let Ok(entry) = self.clients.get(&change.finding.client) {
                let mode = self.mode_for(&mut tx, &entry.profile.slug, now).await?;
                routing::route_change_in(&mut tx, &entry.route, change, now, mode).await?;
            }
        }
        tx.commit().await?;
        if !woke.is_empty() {
            self.deliverer.notify();
        }
        Ok(woke.len())
    }

    /// Posts the daily and weekly digests when their local time has come.
    pub async fn run_digests(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut posted = 0;
        for digest in [Digest::DailyTriage, Digest::Weekly] {
            let Some(slot) = self.digest_slot(digest, now)? else {
                continue;
            };
            let key = match digest {
                Digest::DailyTriage => "digest:daily",
                Digest::Weekly => "digest:weekly",
            };
            let mut tx = self.store.begin().await?;
            let last = schedules::last_run(&mut tx, key).await?;
            if last.is_some_and(|l| l >= slot) {
                continue;
            }
            // A fresh install starts counting from now instead of posting a
            // digest for a morning that passed before it was running.
            let first_run = last.is_none();
            // Another process on the database took this slot meanwhile.
            if !schedules::claim_run(&mut tx, key, slot, slot).await? {
                continue;
            }
            for entry in self.clients.all().iter().filter(|_| !first_run) {
                if self.mode_for(&mut tx, &entry.profile.slug, now).await? == Mode::Muted {
                    continue; // its summary at the end of maintenance covers it
                }
                let active = Findings::active(&mut tx, Some(&entry.profile.slug), None).await?;
                if let Some(message) = routing::digest_message(digest, &entry.route, &active) {
                    outbox::post_to_each(&mut tx, entry.route.channel_refs(), &message, now)
                        .await?;
                    posted += 1;
                }
            }
            tx.commit().await?;
        }
        if posted > 0 {
            self.deliverer.notify();
        }
        Ok(posted)
    }

    /// The most recent time this digest was due (in UTC), if it has ever been due.
    fn digest_slot(
        &self,
        digest: Digest,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, AppError> {
        let tz = self.config.agency.tz()?;
        let at = chrono::NaiveTime::from_hms_opt(self.config.agency.daily_digest_hour, 0, 0)
            .ok_or_else(|| ConfigError::Invalid("agency.daily_digest_hour must be 0-23".into()))?;
        let weekday = self.config.agency.weekly_day()?;
        Ok(latest_local(tz, now, at, |day| match digest {
            Digest::DailyTriage => true,
            Digest::Weekly => day.weekday() == weekday,
        }))
    }

    /// When quiet hours end, mentions each owner once for critical findings
    /// posted during them that are still open.
    pub async fn end_quiet_hours(&self) -> Result<usize, AppError> {
        let Some((start, end)) = self.config.agency.quiet()? else {
            return Ok(0);
        };
        let tz = self.config.agency.tz()?;
        let now = self.clock.now();
        // The most recent end of quiet hours at or before now.
        let slot = latest_local(tz, now, end, |_| true);
        let Some(slot) = slot else { return Ok(0) };
        let mut tx = self.store.begin().await?;
        let last = schedules::last_run(&mut tx, "quiet-end").await?;
        if last.is_some_and(|l| l >= slot) {
            return Ok(0);
        }
        if !schedules::claim_run(&mut tx, "quiet-end", slot, slot).await? {
            return Ok(0); // another process on the database posted it
        }
        // Quiet hours began at `start` on the local day before the end (or the same day).
        let began = {
            let end_local = slot.with_timezone(&tz);
            let mut d = end_local.date_naive();
            if start > end {
                d = d.pred_opt().unwrap_or(d);
            }
            tz.from_local_datetime(&d.and_time(start))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(slot)
        };
        let mut posted = 0;
        for entry in self.clients.all() {
            if last.is_none() {
                break; // first run: nothing was held back by this process
            }
            let active =
                Findings::active(&mut tx, Some(&entry.profile.slug), Some(Severity::Critical))
                    .await?;
            let overnight: Vec<Finding> = active
                .into_iter()
                .filter(|f| f.detected_at >= began && f.detected_at < slot)
                .collect();
            let mut shown = Vec::new();
            for f in overnight {
                if !Findings::messages(&mut tx, f.id).await?.is_empty() {
                    shown.push(f);
                }
            }
            if shown.is_empty() {
                continue;
            }
            let message = routing::quiet_catch_up(&entry.route, &shown);
            outbox::post_to_each(&mut tx, entry.route.channel_refs(), &message, now).await?;
            posted += 1;
        }
        tx.commit().await?;
        if posted > 0 {
            self.deliverer.notify();
        }
        Ok(posted)
    }
}
