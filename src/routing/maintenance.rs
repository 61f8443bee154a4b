//! Maintenance windows: findings are recorded, nothing is posted, and one
//! summary follows when the window ends; plus the mode (normal, quiet, muted)
//! chat traffic is sent in.

use chrono::{DateTime, Utc};
use tracing::info;

use crate::app::{App, AppError};
use crate::domain::ClientSlug;
use crate::findings::{Finding, Findings};
use crate::outbox;
use crate::routing::{self, Mode};
use crate::store::{Db, schedules};

impl App {
    /// How chat traffic for a client is treated now: muted in a maintenance
    /// window, without mentions in quiet hours, else normal.
    pub async fn mode_for(
        &self,
        db: &mut Db,
        slug: &ClientSlug,
        now: DateTime<Utc>,
    ) -> Result<Mode, AppError> {
        if schedules::in_maintenance(db, slug, now).await? {
            return Ok(Mode::Muted);
        }
        let quiet =
            routing::in_quiet_hours(now, self.config.agency.tz()?, self.config.agency.quiet()?);
        Ok(if quiet { Mode::Quiet } else { Mode::Normal })
    }

    /// Starts a maintenance window for a client, ending at `until`.
    pub async fn start_maintenance(
        &self,
        slug: &ClientSlug,
        until: DateTime<Utc>,
        by: &str,
    ) -> Result<(), AppError> {
        self.clients.get(slug)?;
        let now = self.clock.now();
        schedules::add_maintenance(&mut self.store.conn().await?, slug, now, until, by).await?;
        info!(client = %slug, until = %until, by, "maintenance window started");
        Ok(())
    }

    /// Posts one summary for each maintenance window that has ended.
    pub async fn end_maintenance_windows(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let ended = schedules::take_ended_windows(&mut tx, now).await?;
        let mut posted = 0;
        for w in ended {
            let Some(entry) = self
                .clients
                .all()
                .into_iter()
                .find(|c| c.profile.slug.as_str() == w.client)
            else {
                continue; // a client removed from the config since
            };
            let active = Findings::active(&mut tx, Some(&entry.profile.slug), None).await?;
            let found: Vec<Finding> = active
                .into_iter()
                .filter(|f| f.detected_at >= w.starts_at || f.last_seen_at >= w.starts_at)
                .collect();
            let message =
                routing::maintenance_summary(&entry.route, w.starts_at, w.ends_at, &found);
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
