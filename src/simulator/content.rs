//! A brand's content beyond flows and lists: flow actions and messages,
//! templates, segments, tags, forms, catalog items, webhooks and profiles.
//! Nothing here is stored: every definition is derived on demand from the
//! seed, the brand and its flows, so a portfolio of thousands of brands costs
//! no more memory than its flow and list definitions.

use chrono::Utc;
use chrono::{DateTime, Duration};

use super::hash::{Rng, base62, hash, mix, str_hash};
use super::portfolio::{Brand, FlowDef, FlowRole};

/// Distinct profiles per brand (events draw their profiles from the same pool).
pub(crate) const PROFILE_POOL: u64 = 50_000;

/// Brand index whose welcome flow has a send step left in draft (nimbus).
pub(crate) const TRAIT_DRAFT_STEP: usize = 13;
/// Brand index whose post-purchase emails have smart sending on (orchid).
pub(crate) const TRAIT_SMART_SENDING_ORDER: usize = 14;
/// Brand index whose abandoned-checkout email was last edited over a year ago (pinecrest).
pub(crate) const TRAIT_STALE_MESSAGE: usize = 15;
/// Brand index whose abandoned-checkout template holds placeholder text (quarry).
pub(crate) const TRAIT_PLACEHOLDER: usize = 16;
/// Brand index whose campaign templates lack an unsubscribe link (rowan).
pub(crate) const TRAIT_NO_UNSUBSCRIBE: usize = 17;
/// Brand index whose catalog stopped syncing ten days ago (sable).
pub(crate) const TRAIT_STALE_CATALOG: usize = 18;
/// Brand index with most of its profiles unengaged (tundra).
pub(crate) const TRAIT_UNENGAGED: usize = 19;

/// What a flow step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActionKind {
    SendEmail,
    SendSms,
    /// Wait `value` of `unit` (`hours`, `days`).
    TimeDelay(i64, &'static str),
    ConditionalSplit,
}

impl ActionKind {
    /// The definition `type` in the 2026-07-15 encoded flow-action shape.
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            ActionKind::SendEmail => "send-email",
            ActionKind::SendSms => "send-sms",
            ActionKind::TimeDelay(..) => "time-delay",
            ActionKind::ConditionalSplit => "conditional-split",
        }
    }
}

/// One step of a flow.
#[derive(Debug, Clone)]
pub(crate) struct ActionDef {
    pub(crate) id: String,
    /// Index of the flow in the brand's flows.
    pub(crate) flow: usize,
    pub(crate) kind: ActionKind,
    /// Own status of a send step, when it differs from the flow's (a draft step in a live flow).
    pub(crate) status_override: Option<&'static str>,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
    /// The message a send step sends.
    pub(crate) message: Option<MessageDef>,
}

/// The message of a send step.
#[derive(Debug, Clone)]
pub(crate) struct MessageDef {
    pub(crate) id: String,
    pub(crate) name: String,
    /// `email` or `sms`.
    pub(crate) channel: &'static str,
    pub(crate) subject: String,
    pub(crate) preview: String,
    /// SMS body.
    pub(crate) body: String,
    pub(crate) template_id: Option<String>,
    pub(crate) smart_sending: bool,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
    /// Share of the flow's sends this message gets (for reports).
    pub(crate) weight: f64,
}

/// A template (email HTML).
#[derive(Debug, Clone)]
pub(crate) struct TemplateDef {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) html: String,
    pub(crate) text: String,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
}

/// A segment.
#[derive(Debug, Clone)]
pub(crate) struct SegmentDef {
    pub(crate) id: String,
    pub(crate) name: &'static str,
    /// Share of the main list's profiles in the segment.
    pub(crate) share: f64,
    pub(crate) is_starred: bool,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
}

/// A tag.
#[derive(Debug, Clone)]
pub(crate) struct TagDef {
    pub(crate) id: String,
    pub(crate) name: &'static str,
}

/// A signup form.
#[derive(Debug, Clone)]
pub(crate) struct FormDef {
    pub(crate) id: String,
    pub(crate) name: &'static str,
    pub(crate) status: &'static str,
    pub(crate) ab_test: bool,
    /// Share of Subscribed to List events that come through this form.
    pub(crate) share: f64,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
}

/// A catalog item.
#[derive(Debug, Clone)]
pub(crate) struct CatalogItemDef {
    pub(crate) id: String,
    pub(crate) sku: String,
    pub(crate) title: String,
    pub(crate) price: f64,
    pub(crate) published: bool,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
}

/// A webhook.
#[derive(Debug, Clone)]
pub(crate) struct WebhookDef {
    pub(crate) id: String,
    pub(crate) name: &'static str,
    pub(crate) url: String,
    pub(crate) topics: &'static [&'static str],
    pub(crate) created: DateTime<Utc>,
}

/// A profile.
#[derive(Debug, Clone)]
pub(crate) struct ProfileDef {
    pub(crate) index: u64,
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) phone: Option<String>,
    pub(crate) first_name: &'static str,
    pub(crate) last_name: &'static str,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
    pub(crate) country: &'static str,
    /// State or province code.
    pub(crate) region: &'static str,
    pub(crate) subscribed: bool,
}

const FIRST: [&str; 16] = [
    "Ava", "Ben", "Chloe", "Dan", "Ella", "Finn", "Grace", "Hugo", "Isla", "Jack", "Kara", "Leo",
    "Maya", "Noah", "Olive", "Priya",
];
const LAST: [&str; 12] = [
    "Smith", "Jones", "Garcia", "Chen", "Patel", "Nguyen", "Brown", "Martin", "Kim", "Lopez",
    "Walker", "Young",
];

/// US states of profiles outside the ones with texting rules (FL, OK, TX).
const US_REGIONS: [&str; 8] = ["NY", "CA", "IL", "WA", "MA", "CO", "GA", "PA"];
/// Canadian provinces.
const CA_REGIONS: [&str; 3] = ["ON", "BC", "QC"];

const SEGMENTS: [(&str, f64); 5] = [
    ("Engaged (30 days)", 0.35),
    ("Engaged (180 days)", 0.7),
    ("Unengaged (180+ days)", 0.3),
    ("VIP (3+ orders)", 0.04),
    ("Repeat Buyers", 0.12),
];

const TAGS: [&str; 4] = ["Core Flow", "Newsletter", "Promo", "Seasonal"];

const FORMS: [(&str, &str, bool, f64); 3] = [
    ("Newsletter Popup", "live", true, 0.7),
    ("Footer Signup", "live", false, 0.3),
    ("Spin to Win", "draft", false, 0.0),
];

const PRODUCTS: [&str; 10] = [
    "Classic Tee",
    "Weekend Hoodie",
    "Trail Bottle",
    "Canvas Tote",
    "Wool Beanie",
    "Everyday Socks",
    "Travel Mug",
    "Gift Card",
    "Rain Shell",
    "Linen Shirt",
];

/// Campaign templates every brand has; campaign messages use them in turn.
pub(crate) const CAMPAIGN_TEMPLATES: [&str; 3] =
    ["Newsletter Base", "Sale Announcement", "Product Spotlight"];

impl Brand {
    /// `hash(&[seed, index, parts...])`, continuing the fold without
    /// building that slice (ids are derived on every request).
    fn h(&self, parts: &[u64]) -> u64 {
        parts
            .iter()
            .fold(hash(&[self.seed, self.index as u64]), |acc, &p| {
                mix(acc ^ mix(p))
            })
    }

    /// The steps of a flow of `role`: what each does and its message's name.
    fn steps(role: FlowRole) -> &'static [(ActionKind, &'static str)] {
        use ActionKind::*;
        match role {
            FlowRole::Welcome => &[
                (SendEmail, "Welcome 1: Thanks for joining"),
                (TimeDelay(2, "days"), ""),
                (SendEmail, "Welcome 2: Our story"),
                (ConditionalSplit, ""),
                (SendEmail, "Welcome 3: A first-order offer"),
            ],
            FlowRole::AbandonedCheckout => &[
                (TimeDelay(4, "hours"), ""),
                (SendEmail, "Checkout reminder"),
                (TimeDelay(1, "days"), ""),
                (ConditionalSplit, ""),
                (SendSms, "Checkout SMS nudge"),
            ],
            FlowRole::BrowseAbandonment => &[
                (TimeDelay(2, "hours"), ""),
                (SendEmail, "Still thinking it over?"),
            ],
            FlowRole::PostPurchase => &[
                (TimeDelay(1, "days"), ""),
                (SendEmail, "Thank you for your order"),
                (TimeDelay(14, "days"), ""),
                (SendEmail, "How was it? Leave a review"),
            ],
            FlowRole::Other => &[(SendEmail, "")],
        }
    }

    /// The id of step `pos` of flow number `flow`.
    fn action_id(&self, flow: usize, pos: usize) -> String {
        let h = self.h(&[flow as u64, pos as u64, str_hash("action")]);
        (10_000_000 + h % 89_999_999).to_string()
    }

    /// The ids of flow number `flow`'s steps, in order: what a flow's
    /// relationships list, without deriving each step's message.
    pub(crate) fn flow_action_ids(&self, flow: usize) -> Vec<String> {
        self.flows.get(flow).map_or_else(Vec::new, |f| {
            (0..Self::steps(f.role).len())
                .map(|pos| self.action_id(flow, pos))
                .collect()
        })
    }

    /// The steps of flow number `flow`, in order.
    pub(crate) fn flow_actions(&self, flow: usize) -> Vec<ActionDef> {
        let Some(f) = self.flows.get(flow) else {
            return Vec::new();
        };
        use ActionKind::*;
        let steps = Self::steps(f.role);
        let fx = flow as u64;
        let mut rng = Rng::new(&[self.seed, self.index as u64, fx, str_hash("actions")]);
        let sends = steps.iter().filter(|(k, _)| is_send(*k)).count().max(1) as f64;
        let mut send_no = 0;
        steps
            .iter()
            .enumerate()
            .map(|(pos, &(kind, name))| {
                let id = self.action_id(flow, pos);
                let created = f.created + Duration::hours(rng.range(0, 6));
                let message = is_send(kind).then(|| {
                    send_no += 1;
                    self.message_def(f, flow, pos, kind, name, send_no, sends, &mut rng)
                });
                let status_override = (self.index == TRAIT_DRAFT_STEP
                    && f.role == FlowRole::Welcome
                    && send_no == 2
                    && kind == SendEmail)
                    .then_some("draft");
                let updated = message.as_ref().map_or(created, |m| m.updated.max(created));
                ActionDef {
                    id,
                    flow,
                    kind,
                    status_override,
                    created,
                    updated,
                    message,
                }
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn message_def(
        &self,
        f: &FlowDef,
        flow: usize,
        pos: usize,
        kind: ActionKind,
        name: &str,
        send_no: usize,
        sends: f64,
        rng: &mut Rng,
    ) -> MessageDef {
        let (fx, p) = (flow as u64, pos as u64);
        let name = if name.is_empty() {
            format!("{} Email", f.name.chars().take(60).collect::<String>())
        } else {
            name.to_owned()
        };
        let origin = self.origin;
        let created = f.created + Duration::hours(rng.range(1, 12));
        let mut updated = (origin - Duration::days(rng.range(14, 200))).max(created);
        if self.index == TRAIT_STALE_MESSAGE && f.role == FlowRole::AbandonedCheckout {
            updated = origin - Duration::days(430);
        }
        let updated = updated.max(created).min(origin);
        let channel = if kind == ActionKind::SendSms {
            "sms"
        } else {
            "email"
        };
        let smart_sending =
            f.role != FlowRole::PostPurchase || self.index == TRAIT_SMART_SENDING_ORDER;
        MessageDef {
            id: base62(self.h(&[fx, p, str_hash("message")]), 6),
            subject: format!("{name} | {}", self.name),
            preview: format!("A note from {}", self.name),
            body: format!(
                "{}: you left something in your cart. Finish checking out: https://{}.example.com/cart Reply STOP to opt out.",
                self.name, self.slug
            ),
            template_id: (channel == "email").then(|| self.flow_template_id(flow, pos)),
            smart_sending,
            created,
            updated,
            weight: if send_no == 1 {
                0.6 / sends * 2.0
            } else {
                0.4 / sends * 2.0
            }
            .min(1.0),
            name,
            channel,
        }
    }

    fn flow_template_id(&self, flow: usize, pos: usize) -> String {
        base62(self.h(&[flow as u64, pos as u64, str_hash("template")]), 6)
    }

    /// Every action of every flow, with its flow index.
    pub(crate) fn all_actions(&self) -> Vec<ActionDef> {
        (0..self.flows.len())
            .flat_map(|f| self.flow_actions(f))
            .collect()
    }

    /// The brand's templates: one per flow email, then the campaign templates.
    pub(crate) fn templates(&self) -> Vec<TemplateDef> {
        let mut out = Vec::new();
        for a in self.all_actions() {
            let Some(m) = a.message.filter(|m| m.channel == "email") else {
                continue;
            };
            let Some(id) = m.template_id.clone() else {
                continue;
            };
            let role = self.flows[a.flow].role;
            let placeholder =
                self.index == TRAIT_PLACEHOLDER && role == FlowRole::AbandonedCheckout;
            out.push(TemplateDef {
                id,
                name: format!("{} (flow template)", m.name),
                html: self.html(&m.name, placeholder, true),
                text: format!("{}\n\nUnsubscribe: {{% unsubscribe_url %}}", m.name),
                created: m.created,
                updated: m.updated,
            });
        }
        for (k, name) in CAMPAIGN_TEMPLATES.iter().enumerate() {
            let created = self.origin - Duration::days(300 + 40 * k as i64);
            out.push(TemplateDef {
                id: self.campaign_template_id(k),
                name: (*name).to_owned(),
                html: self.html(name, false, self.index != TRAIT_NO_UNSUBSCRIBE),
                text: (*name).to_owned(),
                created,
                updated: self.origin - Duration::days(10 + 7 * k as i64),
            });
        }
        out
    }

    /// Id of campaign template `k` (see [`CAMPAIGN_TEMPLATES`]).
    pub(crate) fn campaign_template_id(&self, k: usize) -> String {
        base62(self.h(&[k as u64, str_hash("campaign-template")]), 6)
    }

    fn html(&self, heading: &str, placeholder: bool, unsubscribe: bool) -> String {
        let greeting = if placeholder {
            "Hi {{ first_name }},</p><p>Lorem ipsum dolor sit amet, consectetur adipiscing elit."
        } else {
            "Hi {{ first_name|default:'there' }},</p><p>We picked a few things we think you will like."
        };
        let a = &self.address;
        let footer = if unsubscribe {
            "<p><a href=\"{% unsubscribe_url %}\">Unsubscribe</a> | <a href=\"{% manage_preferences_url %}\">Manage preferences</a></p>"
        } else {
            ""
        };
        format!(
            "<!DOCTYPE html><html><body><h1>{}</h1><p>{greeting}</p><p><a href=\"https://{}.example.com/shop\">Shop now</a></p><p>{} · {} {} {} {}</p>{footer}</body></html>",
            escape(heading),
            self.slug,
            escape(&self.name),
            escape(&a.address1),
            escape(&a.city),
            escape(&a.region),
            escape(&a.zip),
        )
    }

    /// The brand's segments.
    pub(crate) fn segments(&self) -> Vec<SegmentDef> {
        SEGMENTS
            .iter()
            .enumerate()
            .map(|(k, &(name, share))| {
                let mut rng =
                    Rng::new(&[self.seed, self.index as u64, k as u64, str_hash("segment")]);
                let created = self.origin - Duration::days(rng.range(60, 700));
                let share = if k == 2 && self.index == TRAIT_UNENGAGED {
                    0.62
                } else {
                    share
                };
                SegmentDef {
                    id: base62(self.h(&[k as u64, str_hash("segment")]), 6),
                    name,
                    share,
                    is_starred: k == 0,
                    created,
                    updated: created + Duration::days(rng.range(0, 50)),
                }
            })
            .collect()
    }

    /// The brand's tags.
    pub(crate) fn tags(&self) -> Vec<TagDef> {
        TAGS.iter()
            .enumerate()
            .map(|(k, &name)| {
                let h = self.h(&[k as u64, str_hash("tag")]);
                TagDef {
                    id: uuid_like(h),
                    name,
                }
            })
            .collect()
    }

    /// The id of the brand's one tag group.
    pub(crate) fn tag_group_id(&self) -> String {
        (1_000 + self.h(&[str_hash("tag-group")]) % 9_000_000).to_string()
    }

    /// Tags on flow number `flow` (core flows carry `Core Flow`).
    pub(crate) fn flow_tags(&self, flow: usize) -> Vec<TagDef> {
        let core = self
            .flows
            .get(flow)
            .is_some_and(|f| f.role != FlowRole::Other);
        self.tags()
            .into_iter()
            .filter(|t| core && t.name == TAGS[0])
            .collect()
    }

    /// The brand's signup forms.
    pub(crate) fn forms(&self) -> Vec<FormDef> {
        FORMS
            .iter()
            .enumerate()
            .map(|(k, &(name, status, ab_test, share))| {
                let created = self.origin - Duration::days(90 + 60 * k as i64);
                FormDef {
                    id: base62(self.h(&[k as u64, str_hash("form")]), 6),
                    name,
                    status,
                    ab_test,
                    share,
                    created,
                    updated: created + Duration::days(20),
                }
            })
            .collect()
    }

    /// The brand's catalog as it stands at `now`: items sync daily, except
    /// for the brand whose sync stopped ten days before the simulator started.
    pub(crate) fn catalog_items(&self, now: DateTime<Utc>) -> Vec<CatalogItemDef> {
        let last_sync = if self.index == TRAIT_STALE_CATALOG {
            self.origin - Duration::days(10)
        } else {
            now - Duration::hours(20)
        };
        (0..24u64)
            .map(|k| {
                let mut rng = Rng::new(&[self.seed, self.index as u64, k, str_hash("item")]);
                let sku = format!("{}-{:04}", self.slug.to_ascii_uppercase(), 100 + k);
                let created = self.origin - Duration::days(rng.range(30, 600));
                CatalogItemDef {
                    id: format!("$custom:::$default:::{sku}"),
                    title: format!("{} {}", PRODUCTS[(k % 10) as usize], k / 10 + 1),
                    price: (rng.float(12.0, 140.0) * 100.0).round() / 100.0,
                    published: k % 11 != 10,
                    updated: (last_sync - Duration::minutes(rng.range(0, 600))).max(created),
                    created,
                    sku,
                }
            })
            .collect()
    }

    /// The brand's webhooks (every third brand has one).
    pub(crate) fn webhooks(&self) -> Vec<WebhookDef> {
        if self.index % 3 != 1 {
            return Vec::new();
        }
        vec![WebhookDef {
            id: format!("01K{}", base62(self.h(&[str_hash("webhook")]), 23)),
            name: "Order sync to warehouse",
            url: format!("https://hooks.{}.example.com/klaviyo", self.slug),
            topics: &[
                "event:klaviyo.placed_order",
                "event:klaviyo.started_checkout",
            ],
            created: self.origin - Duration::days(150),
        }]
    }

    /// Profile number `index` of the brand's pool (oldest first).
    pub(crate) fn profile(&self, index: u64) -> Option<ProfileDef> {
        if index >= PROFILE_POOL {
            return None;
        }
        let h = self.h(&[index, str_hash("profile")]);
        // Under 1,000 s of jitter on a 1,555 s step keeps creation times rising with the index.
        let span = 900 * 86_400;
        let created = self.origin - Duration::days(900)
            + Duration::seconds((span as u64 * index / PROFILE_POOL) as i64 + (h % 1000) as i64);
        let first = FIRST[(h % FIRST.len() as u64) as usize];
        let last = LAST[((h >> 8) % LAST.len() as u64) as usize];
        // Bits of the hash no other field reads pick the place.
        let place = (h >> 40) % 100;
        let country = if self.index == 11 {
            "CA"
        } else if self.jurisdictions.iter().any(|j| j == "EU") && h.is_multiple_of(4) {
            "DE"
        } else if place < 2 {
            // A few Canadians on every North American list.
            "CA"
        } else {
            "US"
        };
        let region = match country {
            "CA" => CA_REGIONS[(place % CA_REGIONS.len() as u64) as usize],
            "DE" => "BE",
            // Mostly elsewhere, some in the states with their own texting rules.
            _ => match place {
                2..=7 => "FL",
                8..=9 => "OK",
                10..=14 => "TX",
                _ => US_REGIONS[(place % US_REGIONS.len() as u64) as usize],
            },
        };
        Some(ProfileDef {
            index,
            id: profile_id(self, index),
            email: format!(
                "{}.{}.{index}@example.com",
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase()
            ),
            phone: h
                .is_multiple_of(3)
                .then(|| format!("+1555{:07}", h % 10_000_000)),
            first_name: first,
            last_name: last,
            updated: created + Duration::days(((h >> 16) % 200) as i64),
            created,
            country,
            region,
            subscribed: !(h >> 24).is_multiple_of(10),
        })
    }

    /// The profile with this id, or one whose email is this address.
    pub(crate) fn profile_by_id(&self, id: &str) -> Option<ProfileDef> {
        let idx = id.get(3..9).and_then(unbase62)?;
        self.profile(idx).filter(|p| p.id == id)
    }

    /// The profile with this email address.
    pub(crate) fn profile_by_email(&self, email: &str) -> Option<ProfileDef> {
        let idx = email.split('@').next()?.rsplit('.').next()?.parse().ok()?;
        self.profile(idx).filter(|p| p.email == email)
    }
}

fn is_send(k: ActionKind) -> bool {
    matches!(k, ActionKind::SendEmail | ActionKind::SendSms)
}

/// A profile id: `01K`, six base-62 digits of the pool index (so ids sort
/// like creation and decode back to the profile), and a per-brand hash.
pub(crate) fn profile_id(b: &Brand, index: u64) -> String {
    format!(
        "01K{}{}",
        base62(index, 6),
        base62(
            hash(&[b.seed, b.index as u64, index, str_hash("profile-id")]),
            11
        )
    )
}

fn unbase62(s: &str) -> Option<u64> {
    s.bytes().try_fold(0u64, |acc, c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'a'..=b'z' => c - b'a' + 36,
            _ => return None,
        };
        acc.checked_mul(62)?.checked_add(u64::from(d))
    })
}

/// A UUID-shaped string from a hash.
pub(crate) fn uuid_like(h: u64) -> String {
    let l = hash(&[h, 1]);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        0x8000 | (l >> 48 & 0x3fff),
        l & 0xffff_ffff_ffff
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::portfolio::build;
    use chrono::TimeZone;

    fn origin() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, 0).unwrap()
    }

    #[test]
    fn action_ids_alone_match_the_full_actions() {
        for b in build(3, 14, origin()) {
            for ix in 0..b.flows.len() {
                let full: Vec<String> = b.flow_actions(ix).into_iter().map(|a| a.id).collect();
                assert_eq!(b.flow_action_ids(ix), full, "{} flow {ix}", b.slug);
            }
            assert!(b.flow_action_ids(b.flows.len()).is_empty());
        }
    }

    #[test]
    fn content_is_deterministic_and_ids_resolve() {
        let a = build(3, 21, origin());
        let b = build(3, 21, origin());
        let ids = |br: &Brand| {
            br.all_actions()
                .into_iter()
                .map(|a| a.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a[0]), ids(&b[0]));
        assert_ne!(ids(&a[0]), ids(&a[1]));
        let p = a[0].profile(1234).unwrap();
        assert_eq!(a[0].profile_by_id(&p.id).unwrap().index, 1234);
        assert_eq!(a[0].profile_by_email(&p.email).unwrap().index, 1234);
        assert!(a[1].profile_by_id(&p.id).is_none(), "ids are per brand");
        assert!(a[0].profile(PROFILE_POOL).is_none());
        assert!(a[0].profile(10).unwrap().id < a[0].profile(11).unwrap().id);
    }

    #[test]
    fn traits_sit_on_the_brands_the_table_names() {
        let p = build(3, 21, origin());
        let draft_steps = |b: &Brand| {
            b.all_actions()
                .iter()
                .filter(|a| a.status_override.is_some())
                .count()
        };
        assert_eq!(draft_steps(&p[TRAIT_DRAFT_STEP]), 1);
        assert!(
            p.iter()
                .filter(|b| b.index != TRAIT_DRAFT_STEP)
                .all(|b| draft_steps(b) == 0)
        );
        let order_smart = |b: &Brand| {
            b.all_actions().iter().any(|a| {
                b.flows[a.flow].role == FlowRole::PostPurchase
                    && a.message.as_ref().is_some_and(|m| m.smart_sending)
            })
        };
        assert!(order_smart(&p[TRAIT_SMART_SENDING_ORDER]));
        assert!(!order_smart(&p[0]));
        let stale = |b: &Brand| {
            b.all_actions()
                .iter()
                .filter_map(|a| a.message.as_ref())
                .any(|m| origin() - m.updated > Duration::days(365))
        };
        assert!(stale(&p[TRAIT_STALE_MESSAGE]));
        assert!(
            p.iter()
                .filter(|b| b.index != TRAIT_STALE_MESSAGE)
                .all(|b| !stale(b))
        );
        let lorem = |b: &Brand| b.templates().iter().any(|t| t.html.contains("Lorem ipsum"));
        assert!(lorem(&p[TRAIT_PLACEHOLDER]));
        assert!(!lorem(&p[0]));
        let no_unsub = |b: &Brand| {
            b.templates()
                .iter()
                .any(|t| !t.html.contains("unsubscribe_url"))
        };
        assert!(no_unsub(&p[TRAIT_NO_UNSUBSCRIBE]));
        assert!(!no_unsub(&p[0]));
        let now = origin() + Duration::days(1);
        let stale_catalog = |b: &Brand| {
            b.catalog_items(now)
                .iter()
                .any(|i| now - i.updated > Duration::days(7))
        };
        assert!(stale_catalog(&p[TRAIT_STALE_CATALOG]));
        assert!(!stale_catalog(&p[0]));
        assert!(p[TRAIT_UNENGAGED].segments()[2].share > 0.5);
        assert!(p[0].segments()[2].share < 0.5);
    }
}
