//! What the tests that run `lookout run` as processes share (`crash_outbox`,
//! `scale_out`): a simulated Klaviyo in real time with problems that post on
//! the first scan, the `[[clients]]` of its brands, the same rounds of
//! revoked and restored keys, and a guard that kills the processes however
//! the test ends.

use std::net::SocketAddr;
use std::process::Child;
use std::sync::Arc;

use chrono::Utc;
use lookout::clock::{SharedClock, SimClock};
use lookout::simulator::{Fault, FaultKind, Simulator};

/// The brands that are clients, in channel order.
pub const BRANDS: [&str; 8] = [
    "acme",
    "bluebird",
    "cedar-co",
    "dune-supply",
    "ember",
    "fjord",
    "granite",
    "harbor-home",
];

/// A simulated Klaviyo of 12 brands running in real time, with problems
/// that post on the first scan (orders stopped, bounces, a revoked key), and
/// the task serving it.
pub async fn troubled_simulator() -> (Simulator, SocketAddr, tokio::task::JoinHandle<()>) {
    let now = Utc::now();
    let clock: SharedClock = Arc::new(SimClock::running(now, 1.0));
    let sim = Simulator::new(7, 12, clock);
    let (addr, task) = sim.serve(([127, 0, 0, 1], 0).into()).await.unwrap();
    let ten_hours_ago = now - chrono::Duration::hours(10);
    for (brand, kind) in [
        ("acme", FaultKind::OrdersStop),
        ("bluebird", FaultKind::BounceSpike),
        ("cedar-co", FaultKind::TokenRevoked),
    ] {
        sim.inject(Fault {
            brand: brand.into(),
            kind,
            at: ten_hours_ago,
            until: None,
        });
    }
    (sim, addr, task)
}

/// The chat channels' names: one per client in [`BRANDS`] order, then the agency's.
pub fn channel_names() -> Vec<String> {
    BRANDS
        .iter()
        .map(|b| format!("client-{b}"))
        .chain(["agency".into()])
        .collect()
}

/// The `[[clients]]` of the config: each brand of [`BRANDS`] in its channel
/// (`channels[i]` for brand `i`), owned by `owner`.
pub fn clients_toml(sim: &Simulator, channels: &[String], owner: &str) -> String {
    let mut toml = String::new();
    for b in sim.brands().iter() {
        let Some(n) = BRANDS.iter().position(|x| *x == b.slug) else {
            continue;
        };
        toml.push_str(&format!(
            "[[clients]]\nslug = \"{}\"\nname = \"{}\"\nchannel = \"{}\"\nowner = \"{owner}\"\napi_key = \"{}\"\n",
            b.slug,
            b.name,
            channels[n],
            b.api_key.expose()
        ));
    }
    toml
}

/// Round `round` of a run: keys revoked and restored around the portfolio,
/// so every round has findings to post and messages to edit and reply under;
/// round 8 clears the first problems too.
pub fn churn(sim: &Simulator, round: usize) {
    sim.inject(Fault {
        brand: BRANDS[3 + round % 5].into(),
        kind: FaultKind::TokenRevoked,
        at: Utc::now(),
        until: None,
    });
    sim.clear(BRANDS[3 + (round + 2) % 5], FaultKind::TokenRevoked);
    if round == 8 {
        sim.clear("acme", FaultKind::OrdersStop);
        sim.clear("cedar-co", FaultKind::TokenRevoked);
    }
}

/// `lookout run` processes, killed when the test ends however it ends: a
/// failed assertion must not leave them behind.
pub struct Running(pub Vec<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
