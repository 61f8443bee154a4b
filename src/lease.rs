//! Work shared between Lookout processes on one database: a client's scan, a
//! channel's deliveries and the scheduler's portfolio-wide jobs are each
//! leased to one process at a time (see `store::leases` for the rules).
//!
//! A [`Held`] lease renews itself in the background until it is released or
//! dropped; a process killed mid-lease stops renewing, and another process
//! takes the work over once the lease time has passed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use tracing::{debug, warn};

use crate::store::{Db, Store, StoreError, leases};

/// Takes leases for this process.
#[derive(Debug, Clone)]
pub struct Leaser {
    store: Store,
    holder: Arc<str>,
    ttl: Duration,
}

impl Leaser {
    /// Leases for `store`, each held for `ttl` past its last renewal.
    pub fn new(store: Store, ttl: Duration) -> Self {
        // One id per process (and per app in tests): a restarted process is a
        // new holder and waits out its predecessor's leases like anyone else.
        let holder = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
        Self {
            store,
            holder: holder.into(),
            ttl,
        }
    }

    /// This process's holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// How long a lease lasts without renewal: how soon a dead process's work is taken over.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn until(&self) -> chrono::DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::seconds(30))
    }

    /// Takes `name` inside `tx` (to commit with other writes); the caller
    /// starts renewing with [`Leaser::held`] once it commits.
    pub async fn take_in(
        &self,
        tx: &mut Db,
        name: &str,
    ) -> Result<Option<leases::Taken>, StoreError> {
        let taken = leases::take(tx, name, &self.holder, Utc::now(), self.until()).await?;
        if let Some(t) = taken.filter(|t| t.taken_over) {
            debug!(
                lease = name,
                token = t.token,
                "took over a lease another process let expire"
            );
            crate::ops::metrics::lease_taken_over();
        }
        Ok(taken)
    }

    /// Takes `name` now, renewing it until released; `None` while another
    /// process holds it.
    pub async fn take(&self, name: &str) -> Result<Option<Held>, StoreError> {
        let taken = self.take_committed(name).await?;
        Ok(taken.map(|t| self.held(name, t.token)))
    }

    /// [`Leaser::take_in`] in a transaction of its own.
    async fn take_committed(&self, name: &str) -> Result<Option<leases::Taken>, StoreError> {
        let mut tx = self.store.begin().await?;
        let taken = self.take_in(&mut tx, name).await?;
        tx.commit().await?;
        Ok(taken)
    }

    /// Takes or keeps `name` for one lease time without renewing it: for
    /// work done in short turns by whichever process holds it (the
    /// scheduler's shared jobs), which claims it again every turn.
    pub async fn claim(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.take_committed(name).await?.is_some())
    }

    /// Gives back a lease taken with [`Leaser::claim`] (the process is stopping).
    pub async fn unclaim(&self, name: &str) -> Result<(), StoreError> {
        let mut db = self.store.conn().await?;
        leases::release_holder(&mut db, name, &self.holder).await
    }

    /// A lease taken with `token`, renewed in the background from now on.
    pub fn held(&self, name: &str, token: i64) -> Held {
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = {
            let (this, name, lost) = (self.clone(), name.to_owned(), lost.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(this.ttl / 3).await;
                    let renewed = async {
                        let mut db = this.store.conn().await?;
                        leases::renew(&mut db, &name, token, this.until()).await
                    };
                    match renewed.await {
                        Ok(true) => {}
                        Ok(false) => {
                            warn!(lease = %name, "lost a lease to another process; its work will not be committed");
                            lost.store(true, Ordering::Relaxed);
                            return;
                        }
                        // The database is away: try again; the commit's
                        // fencing check decides whether the work counts.
                        Err(e) => warn!(lease = %name, error = %e, "could not renew a lease"),
                    }
                }
            })
        };
        Held {
            name: name.to_owned(),
            token,
            lost,
            leaser: self.clone(),
            renewer,
            released: false,
        }
    }
}

/// A lease this process holds, renewed until released or dropped.
#[derive(Debug)]
pub struct Held {
    name: String,
    token: i64,
    lost: Arc<AtomicBool>,
    leaser: Leaser,
    renewer: tokio::task::JoinHandle<()>,
    released: bool,
}

impl Held {
    /// The lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fencing token to check when committing the lease's work.
    pub fn token(&self) -> i64 {
        self.token
    }

    /// Whether a renewal found another process holding it.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// The fencing check, inside the transaction that commits the work:
    /// `Err(Fenced)` when another process holds the lease now.
    pub async fn check(&self, tx: &mut Db) -> Result<(), StoreError> {
        if leases::hold(tx, &self.name, self.token).await? {
            Ok(())
        } else {
            Err(StoreError::Fenced(self.name.clone()))
        }
    }

    /// Gives the lease back now, so another process need not wait it out.
    pub async fn release(mut self) {
        self.renewer.abort();
        self.released = true;
        let released = give_back(&self.leaser.store, &self.name, self.token).await;
        if let Err(e) = released {
            // It expires by itself.
            warn!(lease = %self.name, error = %e, "could not release a lease");
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewer.abort();
        if self.released {
            return;
        }
        // Dropped without `release` (an error path, a cancelled task): give
        // it back in the background when a runtime is still there.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (store, name, token) = (self.leaser.store.clone(), self.name.clone(), self.token);
            rt.spawn(async move {
                // It expires by itself if this fails.
                let _ = give_back(&store, &name, token).await;
            });
        }
    }
}

/// Releases the lease `name` taken with `token`.
async fn give_back(store: &Store, name: &str, token: i64) -> Result<(), StoreError> {
    let mut db = store.conn().await?;
    leases::release(&mut db, name, token).await
}
