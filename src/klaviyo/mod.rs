//! Read-only Klaviyo client.

pub mod limits;
