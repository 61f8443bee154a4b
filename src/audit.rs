//! TEMPORARY stub of the audit trail's API (replaced by the audit branch).

use chrono::{DateTime, Utc};

use crate::domain::ClientSlug;
use crate::message::PersonRef;
use crate::store::{Db, StoreError};

/// Where an action came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// A slash command.
    Command,
    /// A button.
    Button,
    /// A select.
    Select,
    /// A modal.
    Modal,
    /// A thread reply.
    Thread,
    /// An HTTP callback page.
    Callback,
    /// The scheduler.
    Scheduler,
    /// The command line.
    Cli,
    /// The config file.
    ConfigFile,
}

/// One action.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Who.
    pub actor: Option<PersonRef>,
    /// Where from.
    pub surface: Surface,
    /// What.
    pub action: String,
    /// Which client.
    pub client: Option<ClientSlug>,
    /// Detail.
    pub detail: String,
    /// Refusal reason.
    pub refused: Option<String>,
}

impl Entry {
    /// By a person.
    pub fn person(who: &PersonRef, surface: Surface, action: impl Into<String>) -> Self {
        Self {
            actor: Some(who.clone()),
            surface,
            action: action.into(),
            client: None,
            detail: String::new(),
            refused: None,
        }
    }
    /// By Lookout itself.
    pub fn system(surface: Surface, action: impl Into<String>) -> Self {
        Self {
            actor: None,
            surface,
            action: action.into(),
            client: None,
            detail: String::new(),
            refused: None,
        }
    }
    /// For a client.
    pub fn client(mut self, c: &ClientSlug) -> Self {
        self.client = Some(c.clone());
        self
    }
    /// With detail.
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = d.into();
        self
    }
    /// Refused.
    pub fn refused(mut self, reason: impl Into<String>) -> Self {
        self.refused = Some(reason.into());
        self
    }
}

/// Records an entry.
pub async fn record(_db: &mut Db, _entry: &Entry, _at: DateTime<Utc>) -> Result<(), StoreError> {
    Ok(())
}
