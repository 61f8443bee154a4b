//! Command handlers.
