//! Test fixtures for the check catalogue: a healthy snapshot and small mutators.
//!
//! The healthy account has the four core flows live, 28 days of steady hourly
//! activity for every known metric at realistic rates (0.3% bounces, ~0.02% spam,
//! 0.1% unsubscribes, lists growing), a postal address and double-opt-in lists,
//! a weekly email campaign (twelve sent, the newest three days ago, the next one
//! scheduled to the newsletter) and a monthly SMS campaign.
//! Tests break one thing at a time and assert what the checks say about it.
//! Also holds the catalogue-wide tests (unique ids, vocabulary, healthy = quiet,
//! nothing fetched = every check skipped).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{CheckInput, Observation, find};
use crate::config::ClientProfile;
use crate::domain::ClientSlug;
use crate::scan::snapshot::{
    Account, Activity, Campaign, CampaignStats, Catalog, Flow, FlowSeries, FlowStatus, FlowStep,
    Form, FormStats, GrantFacts, KnownMetric, LinkOutcome, LinkStatus, List, Metric, OrderValues,
    ProfileConsent, ProfileSample, Segment, SmsRecipient, Snapshot, StepKind, StepMessage,
    Template,
};

/// The scan time of every fixture: Monday 2025-03-10 12:00 UTC (an hour boundary).
pub const NOW: DateTime<Utc> = match DateTime::from_timestamp(1_741_608_000, 0) {
    Some(t) => t,
    None => panic!("fixture time is a valid timestamp"),
};

/// Hourly buckets of activity: 28 days ending at `NOW`.
pub const HOURS: usize = 28 * 24;

/// Average order value in the healthy store.
pub const ORDER_VALUE: f64 = 80.0;

/// The welcome flow (list-triggered).
pub const WELCOME: &str = "FLWWELCOME";
/// The abandoned-checkout flow.
pub const ABANDONED_CHECKOUT: &str = "FLWCHECKOUT";
/// The browse-abandonment flow.
pub const BROWSE: &str = "FLWBROWSE";
/// The post-purchase flow.
pub const POST_PURCHASE: &str = "FLWTHANKS";
/// The newsletter list.
pub const NEWSLETTER: &str = "LSTNEWS";
/// The newest sent email campaign (three days before `NOW`).
pub const LAST_SENT: &str = "CMPW00";
/// The next email campaign, scheduled four days after `NOW`.
pub const NEXT_SCHEDULED: &str = "CMPNEXT";
/// Sent weekly email campaigns in the healthy account.
pub const WEEKLY_SENT: usize = 12;

/// Healthy events per hour for each known metric.
pub fn hourly_count(m: KnownMetric, hour: usize) -> f64 {
    match m {
        KnownMetric::PlacedOrder => 4.0,
        KnownMetric::StartedCheckout => 10.0,
        KnownMetric::ViewedProduct => 150.0,
        KnownMetric::ActiveOnSite => 300.0,
        KnownMetric::ReceivedEmail => 1000.0,
        KnownMetric::BouncedEmail => 3.0,
        // About 0.02% of received mail: one complaint every five hours.
        KnownMetric::MarkedEmailAsSpam => {
            if hour.is_multiple_of(5) {
                1.0
            } else {
                0.0
            }
        }
        KnownMetric::Unsubscribed => 1.0,
        KnownMetric::SubscribedToList => 5.0,
    }
}

/// `$value` of one event of `m` (only orders carry one).
fn unit_value(m: KnownMetric) -> f64 {
    if m == KnownMetric::PlacedOrder {
        ORDER_VALUE
    } else {
        0.0
    }
}

/// The Klaviyo id the fixtures give a known metric.
pub fn metric_id(m: KnownMetric) -> String {
    format!(
        "MET{}",
        m.klaviyo_name().replace(' ', "").to_ascii_uppercase()
    )
}

/// The default client profile: US, USD, New York, sells online.
pub fn profile() -> ClientProfile {
    let slug = ClientSlug::parse("acme").unwrap_or_else(|e| panic!("{e}"));
    ClientProfile::new(slug, "Acme Goods")
}

fn t(y: i32, mo: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, 0, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("valid fixture date"))
}

fn flow(id: &str, name: &str, trigger_type: &str, metric: Option<KnownMetric>) -> Flow {
    Flow {
        id: id.into(),
        name: name.into(),
        status: FlowStatus::Live,
        archived: false,
        trigger_type: trigger_type.into(),
        trigger_metric: metric,
        trigger_list_id: (trigger_type == "Added to List").then(|| NEWSLETTER.to_owned()),
        created: t(2024, 1, 10),
        updated: t(2024, 6, 1),
    }
}

/// A campaign to the newsletter, created and updated a day before `send_time`
/// (or before `NOW` when it has none).
pub fn campaign(
    id: &str,
    name: &str,
    channel: &str,
    status: &str,
    send_time: Option<DateTime<Utc>>,
) -> Campaign {
    let made = send_time.unwrap_or(NOW) - Duration::days(1);
    Campaign {
        id: id.into(),
        name: name.into(),
        channel: channel.into(),
        status: status.into(),
        archived: false,
        included_audiences: vec![NEWSLETTER.to_owned()],
        send_time,
        scheduled_at: send_time.map(|_| made),
        created_at: made,
        updated_at: send_time.filter(|t| *t <= NOW).unwrap_or(made),
    }
}

/// Twelve weekly email newsletters (Thursdays 15:00 UTC, the newest three days
/// before `NOW`), the next one scheduled, a draft, and a monthly SMS.
fn campaigns() -> Vec<Campaign> {
    let newest = NOW - Duration::days(3) + Duration::hours(3);
    let mut out: Vec<Campaign> = (0..WEEKLY_SENT)
        .map(|k| {
            campaign(
                &format!("CMPW{k:02}"),
                &format!("Weekly Newsletter #{}", WEEKLY_SENT - k),
                "email",
                "Sent",
                Some(newest - Duration::weeks(k as i64)),
            )
        })
        .collect();
    out.push(campaign(
        NEXT_SCHEDULED,
        "Weekly Newsletter #13",
        "email",
        "Scheduled",
        Some(newest + Duration::weeks(1)),
    ));
    out.push(campaign("CMPDRAFT", "Spring Sale", "email", "Draft", None));
    out.push(campaign(
        "CMPSMS01",
        "SMS Early Access",
        "sms",
        "Sent",
        Some(NOW - Duration::days(10)),
    ));
    out
}

/// The campaign with this id.
pub fn campaign_mut<'a>(s: &'a mut Snapshot, id: &str) -> &'a mut Campaign {
    s.campaigns
        .as_mut()
        .and_then(|c| c.iter_mut().find(|c| c.id == id))
        .unwrap_or_else(|| panic!("fixture has no campaign {id}"))
}

/// Adds a list (double opt-in, created in 2024) with `profile_count` profiles.
pub fn add_list(s: &mut Snapshot, id: &str, name: &str, profile_count: Option<u64>) {
    if let Some(lists) = s.lists.as_mut() {
        lists.push(List {
            id: id.into(),
            name: name.into(),
            opt_in_process: Some("double_opt_in".into()),
            created: t(2024, 2, 1),
            updated: t(2025, 2, 1),
            profile_count,
        });
    }
}

/// Adds a live flow triggered by `metric` (or, without one, by joining `list`).
pub fn add_flow(s: &mut Snapshot, id: &str, name: &str, metric: Option<KnownMetric>, list: &str) {
    let mut f = if metric.is_some() {
        flow(id, name, "Metric", metric)
    } else {
        flow(id, name, "Added to List", None)
    };
    if metric.is_none() {
        f.trigger_list_id = Some(list.to_owned());
    }
    if let Some(flows) = s.flows.as_mut() {
        flows.push(f);
    }
}

/// A healthy account scanned at `NOW`.
pub fn healthy() -> Snapshot {
    let mut s = Snapshot::empty(profile().slug, NOW);
    s.account = Some(Account {
        id: "ACC123".into(),
        organization_name: "Acme Goods".into(),
        sender_address: "123 Main St, Springfield, IL 62701, US".into(),
        industry: Some("Apparel".into()),
        timezone: "America/New_York".into(),
        preferred_currency: "USD".into(),
    });
    s.flows = Some(vec![
        flow(WELCOME, "Welcome Series", "Added to List", None),
        flow(
            ABANDONED_CHECKOUT,
            "Abandoned Checkout",
            "Metric",
            Some(KnownMetric::StartedCheckout),
        ),
        flow(
            BROWSE,
            "Browse Abandonment",
            "Metric",
            Some(KnownMetric::ViewedProduct),
        ),
        flow(
            POST_PURCHASE,
            "Post-Purchase Thank You",
            "Metric",
            Some(KnownMetric::PlacedOrder),
        ),
    ]);
    s.campaigns = Some(campaigns());
    s.lists = Some(vec![List {
        id: NEWSLETTER.into(),
        name: "Newsletter".into(),
        opt_in_process: Some("double_opt_in".into()),
        created: t(2023, 5, 1),
        updated: t(2025, 3, 1),
        profile_count: Some(48_000),
    }]);
    s.metrics = Some(
        KnownMetric::ALL
            .iter()
            .map(|m| Metric {
                id: metric_id(*m),
                name: m.klaviyo_name().into(),
                integration: matches!(
                    m,
                    KnownMetric::PlacedOrder
                        | KnownMetric::StartedCheckout
                        | KnownMetric::ViewedProduct
                )
                .then(|| "Shopify".to_owned()),
            })
            .collect(),
    );
    let start = NOW - Duration::hours(HOURS as i64);
    let activity: BTreeMap<KnownMetric, Activity> = KnownMetric::ALL
        .iter()
        .map(|m| {
            let counts: Vec<f64> = (0..HOURS).map(|h| hourly_count(*m, h)).collect();
            let values = counts.iter().map(|c| c * unit_value(*m)).collect();
            let a = Activity {
                metric_id: metric_id(*m),
                start,
                counts,
                values,
                last_event_at: None,
            };
            (*m, a)
        })
        .collect();
    s.activity = Some(activity);
    for m in KnownMetric::ALL {
        let last = last_busy_end(&s, m).map(|end| end - Duration::minutes(5));
        set_last_event(&mut s, m, last);
    }
    s.flow_steps = Some(flow_steps());
    s.templates = Some(templates());
    s.segments = Some(segments());
    s.forms = Some(vec![
        form(FORM_POPUP, "Newsletter Popup", "live"),
        form("FRMFOOTER", "Footer Signup", "live"),
        form("FRMSPIN", "Spin to Win", "draft"),
    ]);
    s.form_report = Some(vec![
        FormStats {
            form_id: FORM_POPUP.into(),
            submits_48h: 40.0,
            submits_30d: 600.0,
        },
        FormStats {
            form_id: "FRMFOOTER".into(),
            submits_48h: 12.0,
            submits_30d: 180.0,
        },
        FormStats {
            form_id: "FRMSPIN".into(),
            submits_48h: 0.0,
            submits_30d: 0.0,
        },
    ]);
    s.catalog = Some(Catalog {
        items: 24,
        newest_update: Some(NOW - Duration::hours(20)),
    });
    s.campaign_report = Some(
        (0..WEEKLY_SENT)
            .map(|k| campaign_stats(&format!("CMPW{k:02}")))
            .collect(),
    );
    s.flow_series = Some(
        [
            (WELCOME, 60.0, 300.0),
            (ABANDONED_CHECKOUT, 80.0, 900.0),
            (BROWSE, 120.0, 400.0),
            (POST_PURCHASE, 90.0, 200.0),
        ]
        .iter()
        .map(|&(id, sends, value)| flow_series(id, sends, value))
        .collect(),
    );
    s.profiles = Some(profile_sample());
    s.sms_recipients = Some(
        (0..50)
            .map(|k| SmsRecipient {
                profile_id: format!("PRF{k:03}"),
                region: Some(if k % 5 == 0 { "FL" } else { "NY" }.into()),
                texts: 1,
            })
            .collect(),
    );
    s.order_values = Some(OrderValues {
        events: 100,
        without_value: 0,
    });
    s.grant = Some(GrantFacts {
        method: "oauth".into(),
        scopes: crate::config::READ_SCOPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        granted_at: NOW - Duration::days(30),
        ends_at: NOW + Duration::days(335),
    });
    s.links = Some(
        crate::scan::links::links_in(&s)
            .into_iter()
            .map(|(url, templates)| LinkStatus {
                url,
                templates,
                outcome: LinkOutcome::Fine { status: 200 },
            })
            .collect(),
    );
    s
}

/// The live signup popup.
pub const FORM_POPUP: &str = "FRMPOPUP";
/// The segment of profiles not engaged in 180 days (30% of the newsletter).
pub const UNENGAGED: &str = "SEGUNENGAGED";
/// Template of every healthy campaign.
pub const CAMPAIGN_TEMPLATE: &str = "TPLNEWS";
/// Days in each flow series (56 full days ending at `NOW`'s UTC midnight).
pub const SERIES_DAYS: usize = 56;

/// Healthy email HTML: personalisation with a default, a shop link, the
/// postal address and an unsubscribe link.
pub fn healthy_html(heading: &str) -> String {
    format!(
        "<html><body><h1>{heading}</h1><p>Hi {{{{ first_name|default:'there' }}}},</p><p><a href=\"https://acme.example.com/shop\">Shop now</a></p><p>Acme Goods, 123 Main St, Springfield, IL 62701</p><p><a href=\"{{% unsubscribe_url %}}\">Unsubscribe</a></p></body></html>"
    )
}

fn send_step(id: &str, flow_id: &str, position: usize, kind: StepKind, name: &str) -> FlowStep {
    let email = kind == StepKind::Email;
    FlowStep {
        id: id.into(),
        flow_id: flow_id.into(),
        position,
        kind,
        status: Some("live".into()),
        delay_hours: None,
        message: Some(StepMessage {
            id: format!("MSG{id}"),
            name: name.into(),
            subject: email.then(|| format!("{name} | Acme Goods")),
            body: (!email).then(|| {
                "Acme Goods: you left something in your cart: https://acme.example.com/cart Reply STOP to opt out.".to_owned()
            }),
            template_id: email.then(|| format!("TPL{id}")),
            // Order confirmations and thank-yous go to every buyer.
            smart_sending: flow_id != POST_PURCHASE,
            transactional: false,
            sms_quiet_hours: (!email).then_some(true),
            updated: t(2025, 1, 15),
        }),
        updated: t(2025, 1, 15),
    }
}

fn delay_step(id: &str, flow_id: &str, position: usize, hours: f64) -> FlowStep {
    FlowStep {
        id: id.into(),
        flow_id: flow_id.into(),
        position,
        kind: StepKind::Delay,
        status: None,
        delay_hours: Some(hours),
        message: None,
        updated: t(2025, 1, 15),
    }
}

/// The healthy flows' steps: every send step live, smart sending on except
/// in the post-purchase flow, SMS honouring quiet hours.
fn flow_steps() -> Vec<FlowStep> {
    vec![
        send_step("WEL1", WELCOME, 0, StepKind::Email, "Welcome 1"),
        delay_step("WEL2", WELCOME, 1, 48.0),
        send_step("WEL3", WELCOME, 2, StepKind::Email, "Welcome 2"),
        delay_step("CHK1", ABANDONED_CHECKOUT, 0, 4.0),
        send_step(
            "CHK2",
            ABANDONED_CHECKOUT,
            1,
            StepKind::Email,
            "Checkout reminder",
        ),
        delay_step("CHK3", ABANDONED_CHECKOUT, 2, 24.0),
        send_step(
            "CHK4",
            ABANDONED_CHECKOUT,
            3,
            StepKind::Sms,
            "Checkout text",
        ),
        delay_step("BRW1", BROWSE, 0, 2.0),
        send_step("BRW2", BROWSE, 1, StepKind::Email, "Still looking?"),
        delay_step("THX1", POST_PURCHASE, 0, 24.0),
        send_step("THX2", POST_PURCHASE, 1, StepKind::Email, "Thank you"),
    ]
}

/// A template per email step, plus the campaign template.
fn templates() -> Vec<Template> {
    let mut out: Vec<Template> = flow_steps()
        .iter()
        .filter_map(|s| s.message.as_ref())
        .filter_map(|m| {
            Some(Template {
                id: m.template_id.clone()?,
                name: format!("{} (flow template)", m.name),
                html: healthy_html(&m.name),
                updated: t(2025, 1, 15),
            })
        })
        .collect();
    out.push(Template {
        id: CAMPAIGN_TEMPLATE.into(),
        name: "Newsletter Base".into(),
        html: healthy_html("This week at Acme"),
        updated: t(2025, 2, 20),
    });
    out
}

fn segments() -> Vec<Segment> {
    [
        ("SEGENGAGED30", "Engaged (30 days)", 16_800),
        ("SEGENGAGED180", "Engaged (180 days)", 33_600),
        (UNENGAGED, "Unengaged (180+ days)", 14_400),
        ("SEGVIP", "VIP (3+ orders)", 1_900),
    ]
    .iter()
    .map(|&(id, name, count)| Segment {
        id: id.into(),
        name: name.into(),
        profile_count: Some(count),
        created: t(2024, 3, 1),
        updated: t(2024, 9, 1),
    })
    .collect()
}

fn form(id: &str, name: &str, status: &str) -> Form {
    Form {
        id: id.into(),
        name: name.into(),
        status: status.into(),
        updated: t(2024, 11, 1),
    }
}

/// A healthy weekly newsletter's statistics: 40,000 recipients, rates in
/// Klaviyo's "great" band, $3,200 attributed.
pub fn campaign_stats(id: &str) -> CampaignStats {
    CampaignStats {
        campaign_id: id.into(),
        recipients: 40_000.0,
        delivered: 39_880.0,
        bounce_rate: 0.003,
        spam_complaint_rate: 0.0002,
        unsubscribe_rate: 0.001,
        open_rate: 0.38,
        click_rate: 0.025,
        conversion_value: 3_200.0,
        conversions: 40.0,
    }
}

/// A steady flow: `sends` a day, `value` attributed a day, healthy rates.
pub fn flow_series(id: &str, sends: f64, value: f64) -> FlowSeries {
    let midnight = NOW - Duration::hours(12);
    let days = SERIES_DAYS;
    FlowSeries {
        flow_id: id.into(),
        start: midnight - Duration::days(days as i64),
        recipients: vec![sends; days],
        bounced: vec![sends * 0.003; days],
        spam_complaints: vec![sends * 0.0001; days],
        unsubscribes: vec![sends * 0.001; days],
        conversion_value: vec![value; days],
        conversions: vec![value / ORDER_VALUE; days],
    }
}

/// 100 newest profiles: US (one in ten in Florida) and a few Canadians, all
/// subscribed with a recorded double opt-in in the last year.
fn profile_sample() -> ProfileSample {
    let profiles = (0..100)
        .map(|k| {
            let created = NOW - Duration::days(3 * k as i64 + 1);
            let canadian = k % 20 == 7;
            ProfileConsent {
                id: format!("PRF{k:03}"),
                country: Some(if canadian { "CA" } else { "US" }.into()),
                region: Some(
                    if canadian {
                        "ON"
                    } else if k % 10 == 3 {
                        "FL"
                    } else {
                        "NY"
                    }
                    .into(),
                ),
                email_consent: Some("SUBSCRIBED".into()),
                method: Some("DOUBLE_OPT_IN".into()),
                consented_at: Some(created),
                created,
            }
        })
        .collect();
    ProfileSample { profiles }
}

/// The healthy account as the previous scan saw it, an hour before `NOW`.
pub fn previous() -> Snapshot {
    let mut s = healthy();
    s.taken_at = NOW - Duration::hours(1);
    s
}

/// A snapshot where nothing could be fetched.
pub fn nothing_fetched() -> Snapshot {
    Snapshot::empty(profile().slug, NOW)
}

fn activity_mut(s: &mut Snapshot, m: KnownMetric) -> &mut Activity {
    s.activity
        .as_mut()
        .and_then(|a| a.get_mut(&m))
        .unwrap_or_else(|| panic!("fixture has no activity for {m:?}"))
}

fn last_busy_end(s: &Snapshot, m: KnownMetric) -> Option<DateTime<Utc>> {
    s.activity_of(m)?
        .iter()
        .filter(|(_, c, _)| *c > 0.0)
        .map(|(t, _, _)| t + Activity::BUCKET)
        .last()
}

/// The flow with this id.
pub fn flow_mut<'a>(s: &'a mut Snapshot, id: &str) -> &'a mut Flow {
    s.flows
        .as_mut()
        .and_then(|f| f.iter_mut().find(|f| f.id == id))
        .unwrap_or_else(|| panic!("fixture has no flow {id}"))
}

/// Sets a flow's status and its `updated` time (a status change updates it).
pub fn set_flow_status(s: &mut Snapshot, id: &str, status: FlowStatus, updated: DateTime<Utc>) {
    let f = flow_mut(s, id);
    f.status = status;
    f.updated = updated;
}

/// Deletes a flow.
pub fn remove_flow(s: &mut Snapshot, id: &str) {
    if let Some(f) = s.flows.as_mut() {
        f.retain(|f| f.id != id);
    }
}

/// Sets a metric's `last_event_at`.
pub fn set_last_event(s: &mut Snapshot, m: KnownMetric, at: Option<DateTime<Utc>>) {
    activity_mut(s, m).last_event_at = at;
}

/// Rewrites a metric's hourly counts with `f(hour index, healthy count)`;
/// values follow the counts. Leaves `last_event_at` alone.
pub fn map_hourly(s: &mut Snapshot, m: KnownMetric, f: impl Fn(usize, f64) -> f64) {
    let a = activity_mut(s, m);
    for (i, c) in a.counts.iter_mut().enumerate() {
        *c = f(i, *c);
    }
    a.values = a.counts.iter().map(|c| c * unit_value(m)).collect();
}

/// Sets the count of the last `hours` buckets of a metric to `count` each.
pub fn set_last_hours(s: &mut Snapshot, m: KnownMetric, hours: usize, count: f64) {
    let from = HOURS.saturating_sub(hours);
    map_hourly(s, m, |i, c| if i >= from { count } else { c });
}

/// No events of `m` from `since` on (buckets starting at or after it are
/// emptied); the last event happened a minute before `since`.
pub fn silence(s: &mut Snapshot, m: KnownMetric, since: DateTime<Utc>) {
    let a = activity_mut(s, m);
    let start = a.start;
    map_hourly(s, m, |i, c| {
        if start + Activity::BUCKET * i as i32 >= since {
            0.0
        } else {
            c
        }
    });
    set_last_event(s, m, Some(since - Duration::minutes(1)));
}

/// Removes a metric from the account (activity and metric list).
pub fn remove_metric(s: &mut Snapshot, m: KnownMetric) {
    if let Some(a) = s.activity.as_mut() {
        a.remove(&m);
    }
    if let Some(list) = s.metrics.as_mut() {
        list.retain(|x| x.name != m.klaviyo_name());
    }
}

/// No open findings (most tests).
pub static NOTHING_OPEN: std::sync::LazyLock<std::collections::HashSet<String>> =
    std::sync::LazyLock::new(Default::default);

/// A check input at the snapshot's own time.
pub fn input<'a>(
    snapshot: &'a Snapshot,
    previous: Option<&'a Snapshot>,
    profile: &'a ClientProfile,
) -> CheckInput<'a> {
    CheckInput {
        snapshot,
        previous,
        profile,
        now: snapshot.taken_at,
        open: &NOTHING_OPEN,
        playbook: &[],
    }
}

/// Runs one check by id with `profile`; panics if it is unknown or skipped.
pub fn run_with(
    id: &str,
    snapshot: &Snapshot,
    previous: Option<&Snapshot>,
    profile: &ClientProfile,
) -> Vec<Observation> {
    let check = find(id).unwrap_or_else(|| panic!("no check {id} in the catalogue"));
    check
        .evaluate(&input(snapshot, previous, profile))
        .unwrap_or_else(|s| panic!("{id} skipped: {s:?}"))
}

/// Runs one check by id with the default profile.
pub fn run(id: &str, snapshot: &Snapshot, previous: Option<&Snapshot>) -> Vec<Observation> {
    run_with(id, snapshot, previous, &profile())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::checks::catalogue;

    /// Every check id in `shared/CHECKS.md`, in its order.
    const VOCABULARY: &[&str] = &[
        "flow-live-stopped",
        "flow-core-missing",
        "flow-abandoned-checkout-missing",
        "flow-trigger-metric-silent",
        "flow-sends-dropped",
        "flow-message-draft",
        "flow-smart-sending-off-transactional",
        "flow-stale-content",
        "flow-duplicate-trigger",
        "flow-sunset-missing",
        "integration-orders-silent",
        "integration-checkout-silent",
        "integration-onsite-silent",
        "integration-event-value-missing",
        "integration-duplicate-orders",
        "integration-catalog-stale",
        "deliv-spam-rate",
        "deliv-bounce-rate",
        "deliv-unsubscribe-rate",
        "deliv-open-rate-cliff",
        "deliv-click-rate-low",
        "deliv-unengaged-sends",
        "deliv-sending-domain",
        "deliv-one-click-unsubscribe",
        "compliance-sms-quiet-hours",
        "compliance-sms-registration",
        "compliance-texas-registration",
        "compliance-sms-frequency",
        "compliance-postal-address",
        "compliance-single-opt-in-eu-uk",
        "compliance-casl-implied-expired",
        "compliance-consent-unknown-sends",
        "list-growth-flat",
        "list-signup-form-silent",
        "list-unengaged-share",
        "list-suppression-spike",
        "campaign-cadence-gap",
        "campaign-scheduled-broken",
        "campaign-stuck-sending",
        "content-broken-links",
        "content-placeholder-text",
        "revenue-flow-drop",
        "revenue-attribution-zero",
        "revenue-aov-shift",
        "access-grant-expiring",
        "access-token-revoked",
        "access-write-scope",
        "access-key-rotation",
        "plan-profile-overage",
        "plan-feature-gap",
        "account-timezone-currency",
    ];

    /// Ids in CHECKS.md that are not catalogue checks over a snapshot, and why.
    const NOT_CHECKS: &[(&str, &str)] = &[(
        "access-token-revoked",
        "raised by the scan pipeline when Klaviyo refuses the grant",
    )];

    #[test]
    fn catalogue_ids_are_unique() {
        let all = catalogue();
        let ids: BTreeSet<&str> = all.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), all.len());
    }

    #[test]
    fn catalogue_ids_are_in_the_vocabulary() {
        let all = catalogue();
        for c in &all {
            assert!(VOCABULARY.contains(&c.id), "{} is not in CHECKS.md", c.id);
        }
        // And every id of CHECKS.md is registered, or says why it is not.
        for id in VOCABULARY {
            let registered = all.iter().any(|c| c.id == *id);
            let excused = NOT_CHECKS.iter().any(|(n, _)| n == id);
            assert!(
                registered != excused,
                "{id}: registered {registered}, excused {excused}"
            );
        }
    }

    #[test]
    fn every_check_declares_what_it_needs() {
        for c in catalogue() {
            assert!(!c.needs.is_empty(), "{} needs nothing", c.id);
            assert!(!c.summary.is_empty(), "{} has no summary", c.id);
        }
    }

    #[test]
    fn healthy_account_is_quiet() {
        let snap = healthy();
        let prev = previous();
        let profile = profile();
        for c in catalogue() {
            let r = c.evaluate(&input(&snap, Some(&prev), &profile));
            assert_eq!(r, Ok(Vec::new()), "{}", c.id);
        }
    }

    #[test]
    fn nothing_fetched_skips_every_check() {
        let snap = nothing_fetched();
        let prev = previous();
        let profile = profile();
        for c in catalogue() {
            for p in [None, Some(&prev)] {
                match c.evaluate(&input(&snap, p, &profile)) {
                    Err(skipped) => assert_eq!(skipped.missing, c.needs.to_vec(), "{}", c.id),
                    Ok(obs) => panic!("{} ran on nothing: {obs:?}", c.id),
                }
            }
        }
    }

    #[test]
    fn every_observation_is_well_formed() {
        // Break many things at once and check the shape of everything reported.
        let mut snap = healthy();
        let prev = previous();
        set_flow_status(&mut snap, ABANDONED_CHECKOUT, FlowStatus::Draft, NOW);
        remove_flow(&mut snap, WELCOME);
        silence(
            &mut snap,
            KnownMetric::StartedCheckout,
            NOW - Duration::hours(20),
        );
        set_last_hours(&mut snap, KnownMetric::BouncedEmail, 24, 30.0);
        if let Some(a) = snap.account.as_mut() {
            a.sender_address = " ".into();
            a.timezone = "Europe/London".into();
        }
        let mut profile = profile();
        profile.jurisdictions.push("UK".into());
        if let Some(l) = snap.lists.as_mut() {
            l[0].opt_in_process = Some("single_opt_in".into());
        }
        silence(
            &mut snap,
            KnownMetric::ViewedProduct,
            NOW - Duration::hours(10),
        );
        add_flow(
            &mut snap,
            "FLWBYE",
            "Unsubscribe Survey",
            Some(KnownMetric::Unsubscribed),
            "",
        );
        add_flow(
            &mut snap,
            "FLWREVIEW",
            "Review Request",
            Some(KnownMetric::PlacedOrder),
            "",
        );
        silence(
            &mut snap,
            KnownMetric::Unsubscribed,
            NOW - Duration::hours(30),
        );
        if let Some(m) = snap.metrics.as_mut() {
            m.push(Metric {
                id: "METPO2".into(),
                name: "Placed Order".into(),
                integration: Some("WooCommerce".into()),
            });
        }
        add_list(&mut snap, "LSTEMPTY", "VIP", Some(0));
        campaign_mut(&mut snap, NEXT_SCHEDULED).included_audiences = vec!["LSTEMPTY".into()];
        let stuck = campaign_mut(&mut snap, LAST_SENT);
        stuck.status = "Sending".into();
        let mut seen = BTreeSet::new();
        for c in catalogue() {
            let obs = c
                .evaluate(&input(&snap, Some(&prev), &profile))
                .unwrap_or_else(|s| panic!("{s:?}"));
            for o in obs {
                assert_eq!(o.check, c.id);
                assert!(o.deep_link.starts_with("https://www.klaviyo.com/"), "{o:?}");
                assert!(!o.title.is_empty() && !o.why.is_empty() && !o.subject.is_empty());
                assert!(o.title.len() < 120, "title too long: {}", o.title);
                if let Some(m) = &o.value_at_stake {
                    assert_eq!(m.currency, "USD");
                    assert!(m.minor > 0, "{o:?}");
                }
                seen.insert(c.id);
            }
        }
        for id in [
            "flow-live-stopped",
            "flow-core-missing",
            "integration-checkout-silent",
            "deliv-bounce-rate",
            "compliance-postal-address",
            "account-timezone-currency",
            "compliance-single-opt-in-eu-uk",
            "integration-onsite-silent",
            "integration-duplicate-orders",
            "flow-trigger-metric-silent",
            "flow-duplicate-trigger",
            "list-suppression-spike",
            "campaign-stuck-sending",
            "campaign-scheduled-broken",
        ] {
            assert!(seen.contains(id), "{id} did not fire");
        }
    }

    /// Runs the whole catalogue and returns every observation.
    fn run_all(snap: &Snapshot, prev: Option<&Snapshot>) -> Vec<Observation> {
        let profile = profile();
        catalogue()
            .iter()
            .filter_map(|c| c.evaluate(&input(snap, prev, &profile)).ok())
            .flatten()
            .collect()
    }

    #[test]
    fn malformed_activity_never_panics_or_reports_nonsense() {
        let prev = previous();
        let mut cases: Vec<(&str, Snapshot)> = Vec::new();

        let mut empty = healthy();
        for a in empty.activity.iter_mut().flat_map(|m| m.values_mut()) {
            a.counts.clear();
            a.values.clear();
            a.last_event_at = None;
        }
        cases.push(("no buckets", empty));

        let mut nan = healthy();
        for a in nan.activity.iter_mut().flat_map(|m| m.values_mut()) {
            a.counts.iter_mut().for_each(|c| *c = f64::NAN);
            a.values.iter_mut().for_each(|v| *v = f64::INFINITY);
        }
        // Give the priced flow checks something to price with these numbers.
        set_flow_status(&mut nan, ABANDONED_CHECKOUT, FlowStatus::Draft, NOW);
        remove_flow(&mut nan, WELCOME);
        cases.push(("NaN counts", nan));

        let mut ragged = healthy();
        for a in ragged.activity.iter_mut().flat_map(|m| m.values_mut()) {
            a.values.truncate(3);
            a.counts.iter_mut().step_by(7).for_each(|c| *c = -5.0);
            a.last_event_at = Some(NOW + Duration::days(400));
        }
        cases.push(("ragged, negative, future", ragged));

        let mut odd_flows = healthy();
        if let Some(flows) = odd_flows.flows.as_mut() {
            for f in flows.iter_mut() {
                f.name.clear();
                f.trigger_type.clear();
                f.trigger_metric = None;
                f.updated = NOW + Duration::days(3);
            }
        }
        odd_flows.lists = Some(Vec::new());
        odd_flows.metrics = Some(Vec::new());
        cases.push(("odd flows", odd_flows));

        for (name, snap) in cases {
            let all = run_all(&snap, Some(&prev));
            if name == "NaN counts" || name == "odd flows" {
                assert!(
                    !all.is_empty(),
                    "{name}: the flow checks should still report"
                );
            }
            for o in all {
                let text = format!("{} {}", o.title, o.why).to_ascii_lowercase();
                assert!(
                    !text.contains("nan") && !text.contains("inf"),
                    "{name}: {o:?}"
                );
                if let Some(m) = &o.value_at_stake {
                    assert!(m.minor > 0, "{name}: {o:?}");
                }
            }
        }
    }

    #[test]
    fn fixture_clock_and_buckets_line_up() {
        assert_eq!(NOW.to_rfc3339(), "2025-03-10T12:00:00+00:00");
        let snap = healthy();
        let a = snap
            .activity_of(KnownMetric::PlacedOrder)
            .unwrap_or_else(|| panic!("orders"));
        assert_eq!(a.end(), NOW);
        assert_eq!(a.last_event_at, Some(NOW - Duration::minutes(5)));
    }
}
