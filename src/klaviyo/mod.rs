//! Read-only Klaviyo client.
//!
//! One [`KlaviyoClient`] per process holds the connection pool and a rate
//! budget per account; [`AccountClient`] handles make the calls. Every request
//! carries the `revision` header and the account's credential, waits for a slot
//! in its (account, operation) window sized from [`limits`], follows JSON:API
//! `links.next` only on the base origin, and retries 429s (after `Retry-After`),
//! 5xx and timeouts. Nothing here can write to Klaviyo: the only POSTs it can
//! send are queries (metric aggregates and the reporting endpoints).

mod admission;
pub mod budget;
mod client;
mod error;
pub mod limits;
mod types;

pub use budget::{DailyCapSpent, Limit, Usage, floor_secs};
pub use client::{AccountClient, Credential, KlaviyoClient, KlaviyoConfig, Renew, RetryPolicy};
pub use error::{KlaviyoError, error_detail};
pub use types::{
    AggregateDoc, AggregateQuery, AggregateSeries, Interval, Page, Report, ReportKind, ReportRow,
    Resource,
};
