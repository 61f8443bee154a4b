//! Lookout watches a portfolio of Klaviyo accounts and reports what is wrong in chat.
//!
//! The pipeline, one module per stage:
//! 1. The `scheduler` decides when each client is due and asks for a scan
//!    (`scan::pipeline`); `clients` holds who the clients are and where their
//!    findings go.
//! 2. `scan` builds a typed `Snapshot` of the account through the read-only
//!    `klaviyo` client, which paces itself under Klaviyo's per-account rate limits.
//! 3. `checks` are pure functions from snapshots to observations.
//! 4. `findings` reconciles observations by fingerprint (new, still seen, cleared)
//!    and keeps every change as an event; `routing` decides who hears what and
//!    when, and writes the chat traffic into the durable `outbox` in the same
//!    transaction.
//! 5. The outbox `Deliverer` sends it through the `chat` adapter of each
//!    channel's platform (console, Slack, Discord), and people answer with
//!    `commands`, parsed from the declarations in `commands/` and handled the
//!    same way on every platform.
//!
//! Every stage speaks the neutral `message` model (messages, inbound events,
//! channels and people as platform + id); only `chat/` knows a platform. All
//! SQL is in `store`, and `startup` builds and starts the whole thing from a
//! `Config`.
//!
//! The built-in `simulator` is a local Klaviyo with a seeded portfolio and
//! fault injection; the demo, the tests and the benchmarks run against it.
//! Time always comes from a `clock::Clock`, so the simulator can run hours of
//! account activity in seconds.

pub mod app;
pub mod audit;
pub mod bench;
pub mod chat;
pub mod checks;
pub mod clients;
pub mod clock;
pub mod commands;
pub mod config;
pub mod connections;
pub mod demo;
pub mod domain;
pub mod findings;
pub mod klaviyo;
pub mod lease;
pub mod memory;
pub mod message;
pub mod ops;
pub mod outbox;
pub mod reports;
pub mod routing;
pub mod scan;
pub mod scheduler;
pub mod shared;
pub mod simulator;
pub mod startup;
pub mod store;
pub mod vault;

/// Counts the live heap so the scan gate can bound concurrency by memory.
#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;
