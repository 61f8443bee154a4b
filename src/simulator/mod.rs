//! Built-in Klaviyo simulator.
