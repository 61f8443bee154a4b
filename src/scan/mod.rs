//! Scanning: builds a snapshot of one account.

pub mod snapshot;
