//! Read-only Klaviyo client.
