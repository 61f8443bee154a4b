//! The console chat adapter.
