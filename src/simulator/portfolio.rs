//! The simulated portfolio: brands, their accounts, metrics, lists, flows and
//! campaign calendars, all derived from the seed.
//!
//! The first three brands are healthy; later brands carry one deterministic
//! baseline problem each so the demo portfolio looks like a real agency's:
//!
//! | # | slug | baseline problem |
//! |---|---|---|
//! | 1-3 | acme, bluebird, cedar-co | none: all core flows live, hourly orders, clean deliverability |
//! | 4 | dune-supply | no welcome flow |
//! | 5 | ember | main list is single opt-in; jurisdictions `US`, `EU` |
//! | 6 | fjord | account `street_address` empty |
//! | 7 | granite | list growth flat (Subscribed to List about equal to Unsubscribed) |
//! | 8 | harbor-home | account timezone `Europe/London` and currency `GBP`, profile says `America/New_York`/`USD` |
//! | 9 | ivy-lane | bounce rate about 1.0% of Received Email |
//! | 10 | juniper | browse-abandonment flow archived |
//! | 11 | kestrel | email campaigns paused: none in the 20 days before the simulator started |
//! | 12 | lumen | none (a Canadian brand: `CAD`, `America/Toronto`, jurisdictions `CA`) |
//! | 13 | mistral | hostile names: its main list (single opt-in; jurisdictions `US`, `EU`), a second single opt-in list of 10,000 characters, its abandoned-checkout flow and its email campaigns carry chat markup, mentions, links, bidi and zero-width characters, newlines and terminal escapes |
//! | 14 | nimbus | none in the 12-brand checks; its Welcome flow (live) has its second email step in `draft` (flow-message-draft) |
//! | 15 | orchid | post-purchase emails with smart sending on (flow-smart-sending-off-transactional) |
//! | 16 | pinecrest | abandoned-checkout email last updated 430 days before the start (flow-stale-content) |
//! | 17 | quarry | abandoned-checkout template with "Lorem ipsum" and `{{ first_name }}` without a default (content-placeholder-text) |
//! | 18 | rowan | campaign templates without an unsubscribe link (deliv-one-click-unsubscribe) |
//! | 19 | sable | catalog items last synced 10 days before the start (integration-catalog-stale) |
//! | 20 | tundra | 62% of the main list in the "Unengaged (180+ days)" segment (list-unengaged-share) |
//! | 21+ | `brand-21`, ... | none |
//!
//! Every brand also has (see `content`): flow actions and messages per flow
//! role (post-purchase emails with smart sending off, others on; messages
//! edited within 200 days), one template per flow email plus three campaign
//! templates (unsubscribe link, `{{ first_name|default:'there' }}`), five
//! segments (30% unengaged), four tags, three forms (two live), 24 catalog
//! items synced daily, a 50,000-profile pool, and every third brand
//! (bluebird, ember, ...) one webhook.
//!
//! mistral is outside the default 12-brand portfolio: tests that want it
//! (`tests/it/hostile_input.rs`) ask for 13 brands or more. Its names exercise the
//! escaping of every chat surface; a scan shows them as findings.

use std::collections::HashSet;

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::hash::{Rng, base62, hash, str_hash};
use crate::config::Secret;

/// Brand slugs in portfolio order; brands past the list are `brand-<n>`.
pub(crate) const SLUGS: [&str; 20] = [
    "acme",
    "bluebird",
    "cedar-co",
    "dune-supply",
    "ember",
    "fjord",
    "granite",
    "harbor-home",
    "ivy-lane",
    "juniper",
    "kestrel",
    "lumen",
    "mistral",
    "nimbus",
    "orchid",
    "pinecrest",
    "quarry",
    "rowan",
    "sable",
    "tundra",
];

const NAMES: [&str; 20] = [
    "Acme Outfitters",
    "Bluebird Coffee",
    "Cedar & Co",
    "Dune Supply",
    "Ember Candles",
    "Fjord Outdoor",
    "Granite Fitness",
    "Harbor Home",
    "Ivy Lane Boutique",
    "Juniper Botanicals",
    "Kestrel Cycles",
    "Lumen Lighting",
    "Mistral Apparel",
    "Nimbus Sleep",
    "Orchid Beauty",
    "Pinecrest Pet",
    "Quarry Tools",
    "Rowan Kids",
    "Sable Leather",
    "Tundra Gear",
];

/// Index of the brand whose account names are hostile (mistral).
const HOSTILE: usize = 12;

/// Markup and mentions of every chat surface, plus characters that reorder
/// or hide text and drive a terminal: text a client account could hold,
/// which Lookout must show as inert, visible text. Markdown and mentions come
/// first, so they fall inside the shortest limit that shows a flow's name (a
/// Discord embed title, 256 characters once escaped).
pub(crate) const FLOW_MARKUP: &str = "\n> quote\n# heading **bold** `code` ~~x~~ ||spoiler|| \
     <!channel> @everyone @here <@U0ABC> <@123456789012345678> <@&123> <#C0123> \
     \u{202E}desrever\u{202C} \u{2066}iso\u{2069} \
     zero\u{200B}width\u{200D}join\u{2060}word\u{FEFF}bom\u{200E}\u{200F}\u{061C}\r\n\
     \u{1b}[31mred\u{1b}[0m \u{1b}]8;;https://evil.example\u{7}osc\u{1b}]8;;\u{7} \
     \u{9b}2J\u{7}bell";

/// Forged links and the remaining broadcasts, short enough that a list's
/// name fits whole in a finding's list line (120 characters).
pub(crate) const LIST_MARKUP: &str = "<!here> <!subteam^S123> \
     <https://evil.example|Open in Klaviyo> [Open in Klaviyo](https://evil.example)";

/// mistral's abandoned-checkout flow: its role comes from its trigger, not its name.
pub(crate) fn hostile_flow_name() -> String {
    format!("Abandoned Checkout {FLOW_MARKUP}")
}

/// mistral's main list.
pub(crate) fn hostile_list_name() -> String {
    format!("Newsletter {LIST_MARKUP}")
}

/// mistral's second list: 10,000 characters, markup repeated.
pub(crate) fn hostile_long_list_name() -> String {
    let unit = "<!channel> @here [x](https://evil.example) \u{202E}";
    let mut name = String::from("VIP ");
    while name.chars().count() < 10_000 {
        name.push_str(unit);
    }
    name.chars().take(10_000).collect()
}

const INDUSTRIES: [&str; 6] = [
    "Apparel & Accessories",
    "Food & Beverage",
    "Home & Garden",
    "Health & Beauty",
    "Sporting Goods",
    "Toys & Hobbies",
];

const OTHER_LISTS: [&str; 15] = [
    "VIP Customers",
    "SMS Subscribers",
    "Wholesale Leads",
    "Giveaway 2025",
    "Popup Signups",
    "Footer Signups",
    "Preview List",
    "Back in Stock Requests",
    "Internal Test",
    "Sunset Re-engaged",
    "Event Attendees",
    "Influencers",
    "Loyalty Members",
    "Quiz Takers",
    "Retail Store Signups",
];

/// The metrics every simulated account has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum SimMetric {
    PlacedOrder,
    StartedCheckout,
    ViewedProduct,
    ActiveOnSite,
    ReceivedEmail,
    OpenedEmail,
    ClickedEmail,
    BouncedEmail,
    MarkedSpam,
    Unsubscribed,
    SubscribedToList,
}

impl SimMetric {
    /// All metrics; a brand's `metrics` vector is in this order.
    pub(crate) const ALL: [SimMetric; 11] = [
        SimMetric::PlacedOrder,
        SimMetric::StartedCheckout,
        SimMetric::ViewedProduct,
        SimMetric::ActiveOnSite,
        SimMetric::ReceivedEmail,
        SimMetric::OpenedEmail,
        SimMetric::ClickedEmail,
        SimMetric::BouncedEmail,
        SimMetric::MarkedSpam,
        SimMetric::Unsubscribed,
        SimMetric::SubscribedToList,
    ];

    /// The metric's name in Klaviyo.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SimMetric::PlacedOrder => "Placed Order",
            SimMetric::StartedCheckout => "Started Checkout",
            SimMetric::ViewedProduct => "Viewed Product",
            SimMetric::ActiveOnSite => "Active on Site",
            SimMetric::ReceivedEmail => "Received Email",
            SimMetric::OpenedEmail => "Opened Email",
            SimMetric::ClickedEmail => "Clicked Email",
            SimMetric::BouncedEmail => "Bounced Email",
            SimMetric::MarkedSpam => "Marked Email as Spam",
            SimMetric::Unsubscribed => "Unsubscribed",
            SimMetric::SubscribedToList => "Subscribed to List",
        }
    }

    /// Position in [`SimMetric::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Whether events of this metric come from the store integration.
    fn is_store_metric(self) -> bool {
        self.index() <= SimMetric::ActiveOnSite.index()
    }
}

/// Where a metric's events come from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Integration {
    pub(crate) id: &'static str,
    pub(crate) key: &'static str,
    pub(crate) name: &'static str,
    pub(crate) category: &'static str,
}

static SHOPIFY: Integration = Integration {
    id: "0eMvjm",
    key: "shopify",
    name: "Shopify",
    category: "eCommerce",
};
static API: Integration = Integration {
    id: "7FtS4J",
    key: "api",
    name: "API",
    category: "API",
};
static KLAVIYO: Integration = Integration {
    id: "0rG4eQ",
    key: "klaviyo",
    name: "Klaviyo",
    category: "Internal",
};

/// One metric of one brand.
#[derive(Debug, Clone)]
pub(crate) struct MetricDef {
    pub(crate) id: String,
    pub(crate) kind: SimMetric,
    /// One of three shared integrations: a reference, not a copy per metric.
    pub(crate) integration: &'static Integration,
    pub(crate) created: DateTime<Utc>,
}

/// One list.
#[derive(Debug, Clone)]
pub(crate) struct ListDef {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) opt_in: &'static str,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
    /// Profiles on the list when the simulated history starts.
    pub(crate) base_profiles: u64,
}

/// What a flow is for; faults target roles, checks look for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlowRole {
    Welcome,
    AbandonedCheckout,
    BrowseAbandonment,
    PostPurchase,
    Other,
}

/// What starts a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    Metric(SimMetric),
    /// Index into the brand's lists.
    List(usize),
    None,
}

/// One flow as configured (faults may change the status served).
#[derive(Debug, Clone)]
pub(crate) struct FlowDef {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) role: FlowRole,
    pub(crate) status: &'static str,
    pub(crate) archived: bool,
    pub(crate) trigger_type: &'static str,
    pub(crate) trigger: Trigger,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
}

/// Average hourly event rates and ratios that drive the event generator.
#[derive(Debug, Clone)]
pub(crate) struct Rates {
    /// Placed Order per hour.
    pub(crate) orders: f64,
    /// Started Checkout per hour.
    pub(crate) checkouts: f64,
    pub(crate) viewed: f64,
    pub(crate) active: f64,
    /// Received Email per hour; the other email metrics are shares of it.
    pub(crate) received: f64,
    pub(crate) open_rate: f64,
    pub(crate) click_rate: f64,
    pub(crate) bounce_rate: f64,
    pub(crate) spam_rate: f64,
    pub(crate) unsub_rate: f64,
    /// Subscribed to List per hour.
    pub(crate) subscribed: f64,
    /// Floor of Placed Order per full hour (healthy brands never go an hour without).
    pub(crate) min_orders_per_hour: u64,
    /// Average order value in the account currency.
    pub(crate) aov: f64,
}

impl Rates {
    /// Average events per hour of `m`.
    pub(crate) fn per_hour(&self, m: SimMetric) -> f64 {
        match m {
            SimMetric::PlacedOrder => self.orders,
            SimMetric::StartedCheckout => self.checkouts,
            SimMetric::ViewedProduct => self.viewed,
            SimMetric::ActiveOnSite => self.active,
            SimMetric::ReceivedEmail => self.received,
            SimMetric::OpenedEmail => self.received * self.open_rate,
            SimMetric::ClickedEmail => self.received * self.click_rate,
            SimMetric::BouncedEmail => self.received * self.bounce_rate,
            SimMetric::MarkedSpam => self.received * self.spam_rate,
            SimMetric::Unsubscribed => self.received * self.unsub_rate,
            SimMetric::SubscribedToList => self.subscribed,
        }
    }
}

/// A campaign on a brand's calendar.
#[derive(Debug, Clone)]
pub(crate) struct CampaignDef {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) channel: &'static str,
    pub(crate) status: &'static str,
    pub(crate) send_time: Option<DateTime<Utc>>,
    pub(crate) scheduled_at: Option<DateTime<Utc>>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) audience: String,
}

/// A street address; all parts empty when the brand never set one.
#[derive(Debug, Clone)]
pub(crate) struct Address {
    pub(crate) address1: String,
    pub(crate) city: String,
    pub(crate) region: String,
    pub(crate) country: String,
    pub(crate) zip: String,
}

/// Everything about one simulated brand.
#[derive(Debug, Clone)]
pub(crate) struct Brand {
    pub(crate) index: usize,
    pub(crate) seed: u64,
    pub(crate) slug: String,
    pub(crate) name: String,
    pub(crate) account_id: String,
    pub(crate) api_key: Secret,
    /// What the agency's profile says (`BrandInfo`).
    pub(crate) currency: String,
    pub(crate) timezone: String,
    pub(crate) sells_online: bool,
    pub(crate) jurisdictions: Vec<String>,
    /// What the Klaviyo account says.
    pub(crate) account_currency: String,
    pub(crate) account_timezone: String,
    /// Whole hours added to UTC to get the brand's local time (drives the daily curve).
    pub(crate) utc_offset_hours: i64,
    pub(crate) industry: &'static str,
    pub(crate) address: Address,
    pub(crate) metrics: Vec<MetricDef>,
    pub(crate) lists: Vec<ListDef>,
    pub(crate) flows: Vec<FlowDef>,
    pub(crate) rates: Rates,
    /// Days between email campaigns, inclusive range.
    pub(crate) email_gap_days: (i64, i64),
    /// Email campaigns do not exist in this window (a paused calendar).
    pub(crate) email_pause: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// First day of the campaign calendar.
    pub(crate) calendar_start: DateTime<Utc>,
    /// The day the simulator started; configuration dates lie before it.
    pub(crate) origin: DateTime<Utc>,
}

impl Brand {
    /// The metric definition of `m`.
    pub(crate) fn metric(&self, m: SimMetric) -> &MetricDef {
        &self.metrics[m.index()]
    }

    /// The metric with this id.
    pub(crate) fn metric_by_id(&self, id: &str) -> Option<&MetricDef> {
        self.metrics.iter().find(|m| m.id == id)
    }

    /// The first flow with this role.
    #[cfg(test)]
    pub(crate) fn flow_with_role(&self, role: FlowRole) -> Option<&FlowDef> {
        self.flows.iter().find(|f| f.role == role)
    }

    /// Campaigns of `channel` (`email`/`sms`) as they stand at `now`: sent
    /// ones over the last 90 days, the next one scheduled, and a draft after it.
    pub(crate) fn campaigns(&self, channel: &str, now: DateTime<Utc>) -> Vec<CampaignDef> {
        let (gap, tag, names): ((i64, i64), u64, &[&str]) = match channel {
            "email" => (
                self.email_gap_days,
                1,
                &[
                    "Weekly Newsletter",
                    "New Arrivals",
                    "Flash Sale",
                    "Customer Favourites",
                    "Behind the Brand",
                    "Weekend Offer",
                ],
            ),
            "sms" => (
                (7, 14),
                2,
                &["SMS Flash Sale", "SMS Early Access", "SMS Restock"],
            ),
            _ => return Vec::new(),
        };
        let horizon = now - Duration::days(90);
        let mut out = Vec::new();
        let mut t = self.calendar_start;
        let mut future = 0;
        // One send time of day per brand and channel, between 16:00 and 21:45
        // UTC: daytime in the Americas, so SMS never lands in quiet hours, and
        // gaps between sends are whole days.
        let mut clock_rng = Rng::new(&[self.seed, self.index as u64, tag, str_hash("send-hour")]);
        let time_of_day = Duration::hours(clock_rng.range(16, 21))
            + Duration::minutes(clock_rng.range(0, 3) * 15);
        let mut prev_send = self.calendar_start - Duration::days(3);
        let mut draft_created = None;
        for i in 0..10_000u64 {
            let mut rng = Rng::new(&[self.seed, self.index as u64, tag, i]);
            let day = t.duration_trunc(Duration::days(1)).unwrap_or(t);
            let send = day + time_of_day;
            t = day + Duration::days(rng.range(gap.0, gap.1));
            // Planned the day before the previous send, so a campaign that
            // exists at `now` was always created before `now`.
            let created = draft_created.unwrap_or(prev_send - Duration::days(1));
            prev_send = send;
            let paused =
                channel == "email" && self.email_pause.is_some_and(|(a, b)| send >= a && send < b);
            if send < horizon || paused {
                continue;
            }
            let id = format!(
                "01K{}",
                base62(hash(&[self.seed, self.index as u64, tag, i, 7]), 23)
            );
            let mut name = format!(
                "{} #{}",
                names[(rng.next_u64() % names.len() as u64) as usize],
                i + 1
            );
            if self.index == HOSTILE {
                name.push(' ');
                name.push_str(LIST_MARKUP);
                name.push(' ');
                name.push_str(FLOW_MARKUP);
            }
            let audience = self.lists[0].id.clone();
            if send <= now {
                out.push(CampaignDef {
                    id,
                    name,
                    channel: if tag == 1 { "email" } else { "sms" },
                    status: "Sent",
                    send_time: Some(send),
                    scheduled_at: Some(send - Duration::hours(rng.range(2, 30))),
                    created_at: created,
                    updated_at: send,
                    audience,
                });
                continue;
            }
            future += 1;
            let (status, send_time, scheduled_at) = if future == 1 {
                (
                    "Scheduled",
                    Some(send),
                    Some(created + Duration::minutes(30)),
                )
            } else {
                ("Draft", None, None)
            };
            // The draft after the scheduled one was started alongside it.
            draft_created = Some(created + Duration::hours(1));
            out.push(CampaignDef {
                id,
                name,
                channel: if tag == 1 { "email" } else { "sms" },
                status,
                send_time,
                scheduled_at,
                created_at: created,
                updated_at: created,
                audience,
            });
            if future >= 2 {
                break;
            }
        }
        out
    }
}

/// Ids are unique across the whole portfolio.
struct IdMaker {
    seed: u64,
    used: HashSet<String>,
}

impl IdMaker {
    fn make(&mut self, parts: &[u64], len: usize) -> String {
        for salt in 0u64.. {
            let mut p = vec![self.seed];
            p.extend_from_slice(parts);
            p.push(salt);
            let id = base62(hash(&p), len);
            if self.used.insert(id.clone()) {
                return id;
            }
        }
        unreachable!("an endless salt sequence always yields a fresh id")
    }
}

/// Builds the portfolio of `count` brands. `origin` is when the simulator
/// started; configuration dates (created/updated) lie before it.
pub(crate) fn build(seed: u64, count: usize, origin: DateTime<Utc>) -> Vec<Brand> {
    let origin = origin.duration_trunc(Duration::days(1)).unwrap_or(origin);
    let mut ids = IdMaker {
        seed,
        used: HashSet::new(),
    };
    (0..count)
        .map(|i| build_brand(seed, i, origin, &mut ids))
        .collect()
}

fn build_brand(seed: u64, i: usize, origin: DateTime<Utc>, ids: &mut IdMaker) -> Brand {
    let ix = i as u64;
    let mut rng = Rng::new(&[seed, ix, str_hash("brand")]);
    let (slug, name) = match (SLUGS.get(i), NAMES.get(i)) {
        (Some(s), Some(n)) => (s.to_string(), n.to_string()),
        _ => (format!("brand-{}", i + 1), format!("Brand {}", i + 1)),
    };
    let healthy = i < 3;
    let account_id = ids.make(&[ix, str_hash("account")], 6);
    let api_key = Secret::new(format!(
        "pk_sim_{}_{:016x}{:016x}",
        slug,
        hash(&[seed, ix, str_hash("key"), 1]),
        hash(&[seed, ix, str_hash("key"), 2])
    ));

    let (mut currency, mut timezone, mut jurisdictions) = (
        "USD".to_string(),
        "America/New_York".to_string(),
        vec!["US".to_string()],
    );
    if i == 11 {
        currency = "CAD".into();
        timezone = "America/Toronto".into();
        jurisdictions = vec!["CA".into()];
    }
    if i == 4 || i == HOSTILE {
        jurisdictions.push("EU".into());
    }
    let (account_currency, account_timezone) = if i == 7 {
        ("GBP".to_string(), "Europe/London".to_string())
    } else {
        (currency.clone(), timezone.clone())
    };
    let utc_offset_hours = if account_timezone == "Europe/London" {
        0
    } else {
        -5
    };

    let address = if i == 5 {
        Address {
            address1: String::new(),
            city: String::new(),
            region: String::new(),
            country: String::new(),
            zip: String::new(),
        }
    } else {
        let (city, region, zip) = [
            ("Boston", "MA", "02110"),
            ("Brooklyn", "NY", "11201"),
            ("Portland", "OR", "97205"),
            ("Austin", "TX", "78701"),
            ("Denver", "CO", "80202"),
        ][i % 5];
        Address {
            address1: format!(
                "{} {} Street",
                10 + rng.range(0, 890),
                ["Main", "Oak", "Harbor", "Pine"][i % 4]
            ),
            city: city.into(),
            region: region.into(),
            country: if i == 11 { "CA".into() } else { "US".into() },
            zip: zip.into(),
        }
    };

    // Metrics.
    let store_integration: &'static Integration = if rng.unit() < 0.8 || healthy {
        &SHOPIFY
    } else {
        &API
    };
    let metrics: Vec<MetricDef> = SimMetric::ALL
        .iter()
        .map(|&m| MetricDef {
            id: ids.make(&[ix, str_hash("metric"), m.index() as u64], 6),
            kind: m,
            integration: if m.is_store_metric() {
                store_integration
            } else {
                &KLAVIYO
            },
            created: origin - Duration::days(rng.range(400, 900)),
        })
        .collect();

    // Lists: the main newsletter list first.
    let others = if i == 0 {
        14
    } else {
        rng.range(2, 15) as usize
    };
    let mut lists = Vec::with_capacity(others + 1);
    for (k, lname) in std::iter::once("Newsletter")
        .chain(OTHER_LISTS.iter().copied().take(others))
        .enumerate()
    {
        let created = origin - Duration::days(rng.range(100, 800));
        let hostile = i == HOSTILE && k < 2;
        let opt_in = if hostile {
            "single_opt_in"
        } else if healthy || (k == 0 && i != 4) {
            "double_opt_in"
        } else if k == 0 || rng.unit() < 0.4 {
            "single_opt_in"
        } else {
            "double_opt_in"
        };
        lists.push(ListDef {
            id: ids.make(&[ix, str_hash("list"), k as u64], 6),
            name: match (hostile, k) {
                (true, 0) => hostile_list_name(),
                (true, _) => hostile_long_list_name(),
                _ => lname.to_string(),
            },
            opt_in,
            created,
            updated: created + Duration::days(rng.range(1, 90)),
            base_profiles: if k == 0 {
                rng.range(20_000, 80_000) as u64
            } else {
                rng.range(50, 6_000) as u64
            },
        });
    }

    // Flows.
    let mut flows = Vec::new();
    let mut flow = |name: &str,
                    role: FlowRole,
                    status: &'static str,
                    archived: bool,
                    trigger_type: &'static str,
                    trigger: Trigger,
                    rng: &mut Rng| {
        let k = flows.len() as u64;
        let created = origin - Duration::days(rng.range(120, 700));
        flows.push(FlowDef {
            id: ids.make(&[ix, str_hash("flow"), k], 6),
            name: name.to_string(),
            role,
            status,
            archived,
            trigger_type,
            trigger,
            created,
            updated: (created + Duration::days(rng.range(1, 100))).min(origin - Duration::days(7)),
        });
    };
    if i != 3 {
        flow(
            "Welcome Series",
            FlowRole::Welcome,
            "live",
            false,
            "Added to List",
            Trigger::List(0),
            &mut rng,
        );
    }
    let checkout_name = if i == HOSTILE {
        hostile_flow_name()
    } else {
        "Abandoned Checkout".to_owned()
    };
    flow(
        &checkout_name,
        FlowRole::AbandonedCheckout,
        "live",
        false,
        "Metric",
        Trigger::Metric(SimMetric::StartedCheckout),
        &mut rng,
    );
    flow(
        "Browse Abandonment",
        FlowRole::BrowseAbandonment,
        "live",
        i == 9,
        "Metric",
        Trigger::Metric(SimMetric::ViewedProduct),
        &mut rng,
    );
    flow(
        "Post-Purchase Thank You",
        FlowRole::PostPurchase,
        "live",
        false,
        "Metric",
        Trigger::Metric(SimMetric::PlacedOrder),
        &mut rng,
    );
    flow(
        "Birthday",
        FlowRole::Other,
        "live",
        false,
        "Date Based",
        Trigger::None,
        &mut rng,
    );
    flow(
        "Sunset Unengaged",
        FlowRole::Other,
        "live",
        false,
        "Added to List",
        Trigger::List(1),
        &mut rng,
    );
    if rng.unit() < 0.6 {
        flow(
            "Back in Stock",
            FlowRole::Other,
            "live",
            false,
            "Low Inventory",
            Trigger::None,
            &mut rng,
        );
    }
    if rng.unit() < 0.5 {
        flow(
            "Price Drop Alert",
            FlowRole::Other,
            "draft",
            false,
            "Price Drop",
            Trigger::None,
            &mut rng,
        );
    }
    flow(
        "Old Welcome (2023)",
        FlowRole::Other,
        "draft",
        true,
        "Added to List",
        Trigger::List(0),
        &mut rng,
    );
    if rng.unit() < 0.5 {
        flow(
            "Holiday Countdown",
            FlowRole::Other,
            "draft",
            false,
            "Unconfigured",
            Trigger::None,
            &mut rng,
        );
    }

    // pinecrest's abandoned-checkout email was last edited over a year ago
    // (see `content`), so its flow must be older than that.
    if i == 15
        && let Some(f) = flows
            .iter_mut()
            .find(|f| f.role == FlowRole::AbandonedCheckout)
    {
        f.created = f.created.min(origin - Duration::days(560));
    }

    // Event rates.
    let scale = if healthy { 1.0 } else { rng.float(0.5, 2.5) };
    let received = 250.0 * scale * rng.float(0.9, 1.1);
    let rates = Rates {
        orders: 4.0 * scale,
        checkouts: 10.0 * scale,
        viewed: 45.0 * scale,
        active: 70.0 * scale,
        received,
        open_rate: 0.32,
        click_rate: 0.03,
        bounce_rate: if i == 8 { 0.010 } else { 0.003 },
        spam_rate: 0.0002,
        unsub_rate: 0.001,
        subscribed: if i == 6 {
            received * 0.001
        } else {
            2.0 * scale
        },
        min_orders_per_hour: u64::from(healthy),
        aov: rng.float(55.0, 120.0),
    };

    let email_gap_days = if healthy { (3, 6) } else { (3, 7) };
    let email_pause = (i == 10).then(|| (origin - Duration::days(20), origin + Duration::days(60)));

    Brand {
        index: i,
        seed,
        slug,
        name,
        account_id,
        api_key,
        currency,
        timezone,
        sells_online: true,
        jurisdictions,
        account_currency,
        account_timezone,
        utc_offset_hours,
        industry: INDUSTRIES[i % INDUSTRIES.len()],
        address,
        metrics,
        lists,
        flows,
        rates,
        email_gap_days,
        email_pause,
        calendar_start: origin - Duration::days(200),
        origin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn origin() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, 0).unwrap()
    }

    #[test]
    fn same_seed_same_portfolio_other_seed_other_ids() {
        let a = build(42, 12, origin());
        let b = build(42, 12, origin());
        let c = build(43, 12, origin());
        let ids = |p: &[Brand]| p.iter().map(|b| b.account_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&c));
        assert_eq!(a[0].api_key, b[0].api_key);
        assert!(a[0].api_key.expose().starts_with("pk_sim_acme_"));
        assert_eq!(a[3].slug, "dune-supply");
        assert!(
            a.iter().all(|b| b.account_id.len() == 6
                && b.account_id.chars().all(|c| c.is_ascii_alphanumeric()))
        );
    }

    #[test]
    fn more_brands_than_names_get_numbered_slugs() {
        let p = build(1, 23, origin());
        assert_eq!(p[19].slug, "tundra");
        assert_eq!(p[22].slug, "brand-23");
        let mut all: Vec<&str> = p.iter().map(|b| b.slug.as_str()).collect();
        all.dedup();
        assert_eq!(all.len(), 23);
    }

    #[test]
    fn healthy_brands_have_every_core_flow_live_and_clean_settings() {
        for b in build(7, 12, origin()).iter().take(3) {
            for role in [
                FlowRole::Welcome,
                FlowRole::AbandonedCheckout,
                FlowRole::BrowseAbandonment,
                FlowRole::PostPurchase,
            ] {
                let f = b.flow_with_role(role).expect("core flow");
                assert_eq!(
                    (f.status, f.archived),
                    ("live", false),
                    "{} {:?}",
                    b.slug,
                    role
                );
            }
            assert!(b.lists.iter().all(|l| l.opt_in == "double_opt_in"));
            assert!(!b.address.address1.is_empty());
            assert_eq!(
                (b.account_currency.as_str(), b.account_timezone.as_str()),
                ("USD", "America/New_York")
            );
            assert_eq!(b.jurisdictions, vec!["US".to_string()]);
            assert!((2..=16).contains(&(b.lists.len() - 1)) || b.index == 0);
        }
    }

    #[test]
    fn baseline_problems_sit_where_the_table_says() {
        let p = build(7, 12, origin());
        assert!(p[3].flow_with_role(FlowRole::Welcome).is_none());
        assert_eq!(p[4].lists[0].opt_in, "single_opt_in");
        assert!(p[4].jurisdictions.contains(&"EU".to_string()));
        assert!(p[5].address.address1.is_empty());
        assert!(p[6].rates.subscribed <= p[6].rates.per_hour(SimMetric::Unsubscribed) * 1.01);
        assert_ne!(p[7].account_currency, p[7].currency);
        assert!(p[8].rates.bounce_rate > 0.008);
        assert!(
            p[9].flow_with_role(FlowRole::BrowseAbandonment)
                .is_some_and(|f| f.archived)
        );
    }

    #[test]
    fn mistral_carries_the_hostile_names_and_only_it() {
        let p = build(7, 14, origin());
        let m = &p[HOSTILE];
        assert_eq!(m.slug, "mistral");
        assert_eq!(m.lists[0].name, hostile_list_name());
        assert_eq!(m.lists[0].opt_in, "single_opt_in");
        assert_eq!(m.lists[1].name.chars().count(), 10_000);
        assert_eq!(m.lists[1].opt_in, "single_opt_in");
        assert!(m.jurisdictions.contains(&"EU".to_string()));
        let checkout = m.flow_with_role(FlowRole::AbandonedCheckout).unwrap();
        assert_eq!(checkout.name, hostile_flow_name());
        let now = origin() + Duration::days(1);
        assert!(
            m.campaigns("email", now)
                .iter()
                .all(|c| c.name.ends_with(FLOW_MARKUP))
        );
        for other in p.iter().filter(|b| b.index != HOSTILE) {
            let names = other
                .lists
                .iter()
                .map(|l| &l.name)
                .chain(other.flows.iter().map(|f| &f.name));
            for n in names {
                assert!(!n.contains('<') && !n.contains('@'), "{}: {n}", other.slug);
            }
        }
    }

    #[test]
    fn healthy_email_calendar_is_regular_and_recent() {
        let now = origin() + Duration::days(3);
        let p = build(9, 3, origin());
        for b in &p {
            let c = b.campaigns("email", now);
            let sent: Vec<_> = c
                .iter()
                .filter(|c| c.status == "Sent")
                .filter_map(|c| c.send_time)
                .collect();
            assert!(sent.len() >= 12, "{}: {} sent", b.slug, sent.len());
            for w in sent.windows(2) {
                let gap = (w[1] - w[0]).num_hours();
                assert!((72..=6 * 24).contains(&gap), "{} gap {gap}h", b.slug);
            }
            let last = *sent.last().expect("sent campaigns");
            assert!(now - last <= Duration::days(6), "{} last {last}", b.slug);
            assert!(
                c.iter()
                    .any(|c| c.status == "Scheduled" && c.send_time.is_some_and(|t| t > now))
            );
            assert!(!b.campaigns("sms", now).is_empty());
            assert!(b.campaigns("push", now).is_empty());
        }
    }

    #[test]
    fn paused_brand_has_a_long_email_gap() {
        let p = build(9, 12, origin());
        let sent: Vec<_> = p[10]
            .campaigns("email", origin())
            .into_iter()
            .filter(|c| c.status == "Sent")
            .collect();
        let last = sent
            .last()
            .and_then(|c| c.send_time)
            .expect("older campaigns");
        assert!(origin() - last >= Duration::days(19));
    }
}
