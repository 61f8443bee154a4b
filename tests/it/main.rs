//! The integration tests, built as one binary: one link instead of forty, and a
//! fraction of the disk. Each module was a test crate of its own; nextest still
//! runs every test in its own process.

mod discord_support;
mod support;

mod audit;
mod bench;
mod chat_outage;
mod claims;
mod command_parsing;
mod commands;
mod connections;
mod crash_outbox;
mod demo_cli;
mod demo_history;
mod discord_adapter;
mod discord_commands;
mod discord_e2e;
mod discord_gateway;
mod discord_http;
mod dispatch;
mod end_to_end;
mod faults;
mod hostile_input;
mod inventory;
mod klaviyo_client;
mod manifest;
mod onboarding;
mod ops;
mod platform_events;
mod proptest_inputs;
mod pulse;
mod readme_config;
mod report_files;
mod roles;
mod scale_out;
mod scopes;
mod sim_schema;
mod simulator_http;
mod simulator_oauth;
mod slack_adapter;
mod slack_e2e;
mod slack_http;
mod slack_socket;
mod snapshot_parts;
mod spec_fidelity;
mod tenancy;
