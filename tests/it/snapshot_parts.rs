//! The snapshot parts beyond account, flows, campaigns, lists, metrics and
//! activity (flow steps, templates, segments, forms and their report, the
//! catalog, the campaign and flow reports, profiles, texts and order values),
//! read by a real full scan of the simulator: filled on a healthy brand, each
//! trait brand's trait visible in them, a 403 on one endpoint a gap for that
//! part only, and the simulator's flow series report.

use crate::support;

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use lookout::chat::console::ConsoleChat;
use lookout::clock::{Clock, SharedClock, SimClock};
use lookout::config::Secret;
use lookout::demo::{Stack, demo_start};
use lookout::domain::ClientSlug;
use lookout::klaviyo::{AccountClient, Credential, KlaviyoClient, KlaviyoConfig};
use lookout::scan::fetch::{FLOW_SERIES_DAYS, build_snapshot};
use lookout::scan::snapshot::{Part, Snapshot, StepKind};
use lookout::simulator::{BrandInfo, Simulator};
use serde_json::{Value, json};
use support::connect_oauth;

const SEED: u64 = 7;
/// Enough brands for every trait brand of the simulator's content (indices 13 to 19).
const BRANDS: usize = 20;
/// Every part a full scan fills (the grant comes from Lookout's own store).
const NEW_PARTS: [Part; 11] = [
    Part::FlowSteps,
    Part::Templates,
    Part::Segments,
    Part::Forms,
    Part::FormReport,
    Part::Catalog,
    Part::CampaignReport,
    Part::FlowSeries,
    Part::Profiles,
    Part::SmsRecipients,
    Part::OrderValues,
];

struct Sim {
    sim: Simulator,
    base: String,
    clock: SimClock,
    klaviyo: KlaviyoClient,
    brands: Vec<BrandInfo>,
}

async fn sim() -> Sim {
    let clock = SimClock::frozen(demo_start());
    let shared: SharedClock = Arc::new(clock.clone());
    let sim = Simulator::new(SEED, BRANDS, shared);
    let (addr, _server) = sim
        .serve(([127, 0, 0, 1], 0).into())
        .await
        .expect("the simulator serves");
    let base = format!("http://{addr}");
    let klaviyo = KlaviyoClient::new(KlaviyoConfig {
        base_url: base.clone(),
        ..KlaviyoConfig::default()
    })
    .unwrap();
    let brands = sim.brands();
    Sim {
        sim,
        base,
        clock,
        klaviyo,
        brands,
    }
}

impl Sim {
    fn brand(&self, slug: &str) -> &BrandInfo {
        self.brands
            .iter()
            .find(|b| b.slug == slug)
            .unwrap_or_else(|| panic!("no brand {slug}"))
    }

    fn api(&self, slug: &str) -> AccountClient {
        self.klaviyo
            .account(slug, Credential::ApiKey(self.brand(slug).api_key.clone()))
    }

    async fn snapshot(&self, slug: &str) -> Snapshot {
        let api = self.api(slug);
        build_snapshot(
            &api,
            &ClientSlug::parse(slug).unwrap(),
            self.clock.now(),
            None,
        )
        .await
        .expect("a full scan")
    }
}

#[tokio::test]
async fn a_full_scan_of_a_healthy_brand_fills_every_new_part() {
    let s = sim().await;
    let snap = s.snapshot("acme").await;
    let now = s.clock.now();
    assert!(snap.gaps.is_empty(), "{:?}", snap.gaps);
    for part in NEW_PARTS {
        assert!(snap.has(part), "{part:?}");
    }
    assert!(!snap.has(Part::Grant), "the pipeline fills the grant");

    // Steps: every flow's, in flow order, positions from 0, sends with messages.
    let flows = snap.flows.as_ref().unwrap();
    let steps = snap.flow_steps.as_ref().unwrap();
    assert!(steps.len() > flows.len(), "{} steps", steps.len());
    let order: Vec<&str> =
        steps
            .iter()
            .map(|st| st.flow_id.as_str())
            .fold(Vec::new(), |mut v, id| {
                if v.last() != Some(&id) {
                    v.push(id);
                }
                v
            });
    let flow_order: Vec<&str> = flows
        .iter()
        .map(|f| f.id.as_str())
        .filter(|id| order.contains(id))
        .collect();
    assert_eq!(order, flow_order, "steps come in flow order, once per flow");
    for id in &order {
        let positions: Vec<usize> = steps
            .iter()
            .filter(|st| st.flow_id == *id)
            .map(|st| st.position)
            .collect();
        assert_eq!(positions, (0..positions.len()).collect::<Vec<_>>());
    }
    for st in steps {
        match st.kind {
            StepKind::Email | StepKind::Sms => {
                let m = st.message.as_ref().expect("a send step has its message");
                assert!(!m.id.is_empty() && !m.name.is_empty(), "{st:?}");
                // A step reports its flow's status unless it has its own.
                let flow = flows.iter().find(|f| f.id == st.flow_id).unwrap();
                let flow_status = format!("{:?}", flow.status).to_ascii_lowercase();
                assert_eq!(st.status.as_deref(), Some(flow_status.as_str()), "{st:?}");
                if st.kind == StepKind::Email {
                    assert!(m.subject.is_some() && m.template_id.is_some(), "{m:?}");
                    assert!(m.sms_quiet_hours.is_none());
                } else {
                    assert!(m.body.is_some() && m.sms_quiet_hours.is_some(), "{m:?}");
                }
            }
            StepKind::Delay => assert!(st.delay_hours.is_some_and(|h| h > 0.0), "{st:?}"),
            _ => assert!(st.message.is_none()),
        }
    }
    // The abandoned checkout flow waits four hours, then emails.
    let checkout_email = steps
        .iter()
        .find(|st| {
            st.message
                .as_ref()
                .is_some_and(|m| m.name == "Checkout reminder")
        })
        .unwrap();
    let first = steps
        .iter()
        .find(|st| st.flow_id == checkout_email.flow_id && st.position == 0)
        .unwrap();
    assert_eq!(first.kind, StepKind::Delay);
    assert_eq!(first.delay_hours, Some(4.0));
    assert_eq!(checkout_email.position, 1);

    let templates = snap.templates.as_ref().unwrap();
    // One per flow email and three campaign templates, over pages of ten.
    let emails = steps.iter().filter(|st| st.kind == StepKind::Email).count();
    assert_eq!(templates.len(), emails + 3);
    assert!(templates.iter().all(|t| t.html.contains("<html")));

    let segments = snap.segments.as_ref().unwrap();
    assert_eq!(segments.len(), 5);
    assert!(
        segments
            .iter()
            .all(|s| s.profile_count.is_some_and(|n| n > 0))
    );

    let forms = snap.forms.as_ref().unwrap();
    let report = snap.form_report.as_ref().unwrap();
    assert_eq!(report.len(), forms.len());
    for f in forms.iter().filter(|f| f.status == "live") {
        let st = report.iter().find(|r| r.form_id == f.id).unwrap();
        assert!(
            st.submits_30d > st.submits_48h && st.submits_48h > 0.0,
            "{st:?}"
        );
    }

    let catalog = snap.catalog.as_ref().unwrap();
    assert_eq!(catalog.items, 24);
    assert!(
        catalog
            .newest_update
            .is_some_and(|t| now - t < Duration::days(2))
    );

    let campaigns = snap.campaign_report.as_ref().unwrap();
    assert!(!campaigns.is_empty());
    for c in campaigns {
        let email = snap
            .campaigns
            .as_ref()
            .unwrap()
            .iter()
            .find(|x| x.id == c.campaign_id)
            .unwrap();
        assert_eq!(email.channel, "email", "only email campaigns are reported");
        assert!(c.recipients >= c.delivered && c.delivered > 0.0, "{c:?}");
        assert!((0.0..0.1).contains(&c.bounce_rate), "{c:?}");
    }

    let series = snap.flow_series.as_ref().unwrap();
    let midnight = now.duration_trunc(Duration::days(1)).unwrap();
    assert!(!series.is_empty());
    for fs in series {
        assert!(flows.iter().any(|f| f.id == fs.flow_id), "{}", fs.flow_id);
        assert_eq!(fs.start, midnight - Duration::days(FLOW_SERIES_DAYS));
        assert_eq!(fs.recipients.len(), FLOW_SERIES_DAYS as usize);
        assert_eq!(fs.conversions.len(), FLOW_SERIES_DAYS as usize);
    }
    assert!(
        series
            .iter()
            .any(|fs| fs.recipients.iter().sum::<f64>() > 0.0)
    );

    let profiles = &snap.profiles.as_ref().unwrap().profiles;
    assert_eq!(profiles.len(), 100);
    assert!(
        profiles.windows(2).all(|w| w[0].created >= w[1].created),
        "newest first"
    );
    assert!(profiles.iter().all(|p| p.email_consent.is_some()
        && p.method.is_some()
        && p.consented_at.is_some()
        && p.country.is_some()
        && p.region.is_some()));

    // The simulator sends no texts; acme takes orders, all with a value.
    assert_eq!(snap.sms_recipients.as_deref(), Some(&[][..]));
    let orders = snap.order_values.as_ref().unwrap();
    assert_eq!((orders.events, orders.without_value), (100, 0));
}

#[tokio::test]
async fn each_trait_brand_shows_its_trait_in_the_snapshot() {
    let s = Arc::new(sim().await);
    let traits = [
        "nimbus",
        "orchid",
        "pinecrest",
        "quarry",
        "rowan",
        "sable",
        "tundra",
        "acme",
    ];
    let mut set = tokio::task::JoinSet::new();
    for slug in traits {
        let s = s.clone();
        set.spawn(async move { (slug, s.snapshot(slug).await) });
    }
    let snaps: std::collections::HashMap<&str, Snapshot> =
        set.join_all().await.into_iter().collect();
    for (slug, snap) in &snaps {
        assert!(snap.gaps.is_empty(), "{slug}: {:?}", snap.gaps);
    }
    let now = s.clock.now();

    let draft_step_in_live_flow = |snap: &Snapshot| {
        let flows = snap.flows.as_ref().unwrap();
        snap.flow_steps.as_ref().unwrap().iter().any(|st| {
            st.message.is_some()
                && st.status.as_deref() == Some("draft")
                && flows.iter().any(|f| f.id == st.flow_id && f.is_sending())
        })
    };
    let order_smart_sending = |snap: &Snapshot| {
        snap.flow_steps.as_ref().unwrap().iter().any(|st| {
            st.message
                .as_ref()
                .is_some_and(|m| m.name == "Thank you for your order" && m.smart_sending)
        })
    };
    let stale_step = |snap: &Snapshot| {
        snap.flow_steps.as_ref().unwrap().iter().any(|st| {
            st.message
                .as_ref()
                .is_some_and(|m| now - m.updated > Duration::days(365))
        })
    };
    let lorem = |snap: &Snapshot| {
        snap.templates
            .as_ref()
            .unwrap()
            .iter()
            .any(|t| t.html.contains("Lorem ipsum"))
    };
    let no_unsubscribe = |snap: &Snapshot| {
        snap.templates
            .as_ref()
            .unwrap()
            .iter()
            .any(|t| t.name == "Newsletter Base" && !t.html.contains("unsubscribe"))
    };
    let stale_catalog = |snap: &Snapshot| {
        snap.catalog
            .as_ref()
            .unwrap()
            .newest_update
            .is_some_and(|t| now - t >= Duration::days(7))
    };
    let checks: [(&str, &Shows<'_>); 6] = [
        ("nimbus", &draft_step_in_live_flow),
        ("orchid", &order_smart_sending),
        ("pinecrest", &stale_step),
        ("quarry", &lorem),
        ("rowan", &no_unsubscribe),
        ("sable", &stale_catalog),
    ];
    for (brand, shows) in checks {
        assert!(shows(&snaps[brand]), "{brand} shows its trait");
        assert!(!shows(&snaps["acme"]), "acme does not show {brand}'s trait");
    }

    // tundra: the unengaged segment holds over half the main list.
    let tundra = unengaged_share(&s, &snaps["tundra"], "tundra").await;
    let acme = unengaged_share(&s, &snaps["acme"], "acme").await;
    assert!(tundra >= 0.5, "tundra {tundra}");
    assert!(acme < 0.5, "acme {acme}");
}

/// Whether a snapshot shows a trait.
type Shows<'a> = dyn Fn(&Snapshot) -> bool + 'a;

/// The unengaged segment's size over the main list's.
async fn unengaged_share(s: &Sim, snap: &Snapshot, slug: &str) -> f64 {
    let lists = s
        .api(slug)
        .get_all(
            "/api/lists",
            &[("additional-fields[list]", "profile_count")],
        )
        .await
        .unwrap();
    let main = lists[0].attributes["profile_count"].as_u64().unwrap() as f64;
    let seg = snap
        .segments
        .as_ref()
        .unwrap()
        .iter()
        .find(|s| s.name.starts_with("Unengaged"))
        .unwrap();
    seg.profile_count.unwrap() as f64 / main
}

#[tokio::test]
async fn a_grant_without_templates_read_is_a_templates_gap_and_the_rest_is_read() {
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let clock = SimClock::frozen(demo_start());
    let stack = Stack::start(SEED, 3, clock, chat, &["acme"])
        .await
        .expect("stack starts");
    let scopes: Vec<&str> = lookout::config::READ_SCOPES
        .iter()
        .copied()
        .filter(|s| *s != "templates:read")
        .collect();
    connect_oauth(&stack, "acme", Some(&scopes.join(" "))).await;
    let slug = ClientSlug::parse("acme").unwrap();
    let credential = stack.app.connections.credential(&slug, None).await.unwrap();
    assert!(matches!(credential, Credential::Bearer(_)));
    let klaviyo = KlaviyoClient::new(KlaviyoConfig {
        base_url: format!("http://{}", stack.sim_addr),
        ..KlaviyoConfig::default()
    })
    .unwrap();
    // The connect's scan spent the form report's two a minute; this test is
    // about scopes, not rates.
    stack.sim.set_rate_limits(false);
    klaviyo.set_pacing(false);
    let api = klaviyo.account("acme", credential);
    let snap = build_snapshot(&api, &slug, stack.clock.now(), None)
        .await
        .expect("a 403 does not end the scan");
    assert_eq!(snap.gaps.len(), 1, "{:?}", snap.gaps);
    assert_eq!(snap.gaps[0].part, Part::Templates);
    assert!(
        snap.gaps[0].reason.contains("`templates:read` scope (403)"),
        "{}",
        snap.gaps[0].reason
    );
    assert!(!snap.has(Part::Templates));
    for part in NEW_PARTS.into_iter().filter(|p| *p != Part::Templates) {
        assert!(snap.has(part), "{part:?}");
    }
    for part in [
        Part::Account,
        Part::Flows,
        Part::Campaigns,
        Part::Lists,
        Part::Metrics,
        Part::Activity,
    ] {
        assert!(snap.has(part), "{part:?}");
    }
}

/// POSTs a flow series report as `slug`.
async fn flow_series(s: &Sim, slug: &str, attributes: Value) -> (u16, Value) {
    let body = json!({"data": {"type": "flow-series-report", "attributes": attributes}});
    let r = reqwest::Client::new()
        .post(format!("{}/api/flow-series-reports", s.base))
        .header("revision", "2026-07-15")
        .header("accept", "application/vnd.api+json")
        .header("content-type", "application/vnd.api+json")
        .header(
            "Authorization",
            format!("Klaviyo-API-Key {}", s.brand(slug).api_key.expose()),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn the_simulator_serves_flow_series_reports_that_add_up_to_the_values_report() {
    let s = sim().await;
    let orders = s
        .api("acme")
        .get_metrics()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.attributes["name"] == "Placed Order")
        .unwrap()
        .id;
    let end = s.clock.now().duration_trunc(Duration::days(1)).unwrap();
    let start = end - Duration::days(14);
    let (status, doc) = flow_series(
        &s,
        "acme",
        json!({"statistics": ["recipients", "conversions"],
               "timeframe": {"start": rfc(start), "end": rfc(end)},
               "interval": "daily", "conversion_metric_id": orders,
               "group_by": ["flow_id", "flow_message_id"]}),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["data"]["type"], "flow-series-report");
    let dates = doc["data"]["attributes"]["date_times"].as_array().unwrap();
    assert_eq!(dates.len(), 14);
    let first: DateTime<Utc> = dates[0].as_str().unwrap().parse().unwrap();
    assert_eq!(first, start);
    let rows = doc["data"]["attributes"]["results"].as_array().unwrap();
    assert!(!rows.is_empty());
    let mut series_total = 0.0;
    for r in rows {
        assert!(
            r["groupings"]["flow_id"].is_string() && r["groupings"]["flow_message_id"].is_string()
        );
        let recipients = r["statistics"]["recipients"].as_array().unwrap();
        assert_eq!(recipients.len(), 14);
        series_total += recipients.iter().map(|v| v.as_f64().unwrap()).sum::<f64>();
    }
    assert!(series_total > 0.0);

    // The same timeframe as one values report: the days add up to it (each
    // day's count is rounded on its own).
    let body = json!({"data": {"type": "flow-values-report", "attributes": {
        "statistics": ["recipients"], "timeframe": {"start": rfc(start), "end": rfc(end)},
        "conversion_metric_id": orders, "group_by": ["flow_id", "flow_message_id"]}}});
    let r = reqwest::Client::new()
        .post(format!("{}/api/flow-values-reports", s.base))
        .header("revision", "2026-07-15")
        .header(
            "Authorization",
            format!("Klaviyo-API-Key {}", s.brand("acme").api_key.expose()),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let values: Value = r.json().await.unwrap();
    let values_total: f64 = values["data"]["attributes"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["statistics"]["recipients"].as_f64().unwrap())
        .sum();
    let slack = 14.0 * rows.len() as f64;
    assert!(
        (series_total - values_total).abs() <= slack,
        "series {series_total} vs values {values_total}"
    );

    // Klaviyo's limits on the interval and the timeframe are kept. (The
    // endpoint allows two a minute: the second call above was to another one.)
    s.sim.set_rate_limits(false);
    let (status, doc) = flow_series(
        &s,
        "acme",
        json!({"statistics": ["recipients"], "interval": "hourly",
               "timeframe": {"start": rfc(end - Duration::days(8)), "end": rfc(end)},
               "conversion_metric_id": orders}),
    )
    .await;
    assert_eq!(status, 400, "{doc}");
    assert_eq!(
        doc["errors"][0]["source"]["pointer"],
        "/data/attributes/timeframe"
    );
    let (status, doc) = flow_series(
        &s,
        "acme",
        json!({"statistics": ["recipients"], "timeframe": {"key": "last_7_days"},
               "conversion_metric_id": orders}),
    )
    .await;
    assert_eq!(status, 400, "{doc}");
    assert_eq!(
        doc["errors"][0]["source"]["pointer"],
        "/data/attributes/interval"
    );
    let (status, doc) = flow_series(
        &s,
        "acme",
        json!({"statistics": ["recipients"], "interval": "weekly",
               "timeframe": {"key": "last_30_days"}, "conversion_metric_id": orders,
               "filter": "equals(send_channel,'sms')"}),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    let rows = doc["data"]["attributes"]["results"].as_array().unwrap();
    assert!(
        rows.iter().all(|r| r["groupings"]["send_channel"] == "sms"),
        "{doc}"
    );
    let weeks = doc["data"]["attributes"]["date_times"]
        .as_array()
        .unwrap()
        .len();
    assert!((5..=6).contains(&weeks), "{weeks}");
}

#[tokio::test]
async fn flow_series_reports_keep_the_reporting_rate_limit() {
    let s = sim().await;
    let key = s.brand("acme").api_key.clone();
    let send = |key: Secret| {
        let base = s.base.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{base}/api/flow-series-reports"))
                .header("revision", "2026-07-15")
                .header("Authorization", format!("Klaviyo-API-Key {}", key.expose()))
                .json(&json!({"data": {"type": "flow-series-report", "attributes": {}}}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Bad bodies still count: the limit is checked before the body is read.
    assert_eq!(send(key.clone()).await, 400);
    let second = send(key.clone()).await;
    assert_eq!(second, 429, "1/s burst");
}
