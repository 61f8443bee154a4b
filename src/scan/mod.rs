//! Scanning: builds a snapshot of one account and runs it through the pipeline.

pub mod fetch;
pub mod pipeline;
pub mod snapshot;
