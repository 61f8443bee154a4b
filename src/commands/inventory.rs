//! `/inventory [client]`: what each client's Klaviyo setup is, as the
//! agency needs to know it: plan tier, profiles against the plan's limit, SMS
//! and its registration, the sending domain and its authentication,
//! jurisdictions, consent settings, and the features the agency's playbook
//! relies on that the plan lacks.
//!
//! Facts come from the client's profile (plan, SMS registration, domain: the
//! agency records them, Klaviyo's API does not expose them) and from its last
//! full scan (profile counts, lists' opt-in, SMS in use). `/inventory <client>`
//! covers one client and may be shown in its channel or the agency's; the
//! portfolio view spans clients, so it is answered in the agency channel or
//! privately, with the whole table as a Markdown file.

use chrono::{DateTime, Utc};

use super::{Args, Ctx, HandlerFuture};
use crate::config::{ClientProfile, SendingDomain};
use crate::message::{Accent, Block, Message, RichText, Span};
use crate::reports::files;
use crate::scan::snapshot::{Snapshot, StepKind};

/// Share of the plan's profile limit from which a client is flagged.
const NEAR_LIMIT: f64 = 0.95;
/// Clients listed by name in the portfolio message; the file has them all.
const LISTED: usize = 20;

/// One client's inventory (pure data, for tests and both views).
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    /// Short name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Plan tier, when the agency recorded it.
    pub plan: Option<String>,
    /// Active profiles: the largest list or segment at the last scan.
    pub profiles: Option<u64>,
    /// The plan's profile limit.
    pub profile_limit: Option<u64>,
    /// SMS on in the profile.
    pub sms_enabled: bool,
    /// SMS seen in the account (a live SMS step or an SMS campaign).
    pub sms_in_use: bool,
    /// US sender registration, as recorded.
    pub sms_registration: Option<String>,
    /// The sending domain, as recorded.
    pub sending_domain: Option<SendingDomain>,
    /// Jurisdictions of the audience.
    pub jurisdictions: Vec<String>,
    /// Lists with double opt-in.
    pub double_opt_in: usize,
    /// Lists with single opt-in.
    pub single_opt_in: usize,
    /// Playbook features the recorded plan lacks (empty when the plan is unknown).
    pub missing_features: Vec<String>,
    /// When the facts from Klaviyo were read; `None` before the first scan.
    pub scanned_at: Option<DateTime<Utc>>,
}

impl Inventory {
    /// Builds one client's inventory from its profile, its last scan and the playbook.
    pub fn of(profile: &ClientProfile, snapshot: Option<&Snapshot>, playbook: &[String]) -> Self {
        let counts = snapshot.into_iter().flat_map(|s| {
            let lists = s.lists.iter().flatten().filter_map(|l| l.profile_count);
            let segments = s.segments.iter().flatten().filter_map(|g| g.profile_count);
            lists.chain(segments)
        });
        let profiles = counts.max();
        let sms_steps = snapshot
            .and_then(|s| s.flow_steps.as_ref())
            .is_some_and(|steps| steps.iter().any(|st| st.kind == StepKind::Sms));
        let sms_campaigns = snapshot
            .and_then(|s| s.campaigns.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.channel == "sms"));
        let opt_ins: Vec<&str> = snapshot
            .and_then(|s| s.lists.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|l| l.opt_in_process.as_deref())
            .collect();
        let missing_features = match &profile.plan {
            Some(_) => playbook
                .iter()
                .filter(|f| !profile.plan_features.iter().any(|p| p == *f))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        Self {
            slug: profile.slug.to_string(),
            name: profile.name.clone(),
            plan: profile.plan.clone(),
            profiles,
            profile_limit: profile.profile_limit,
            sms_enabled: profile.sms_enabled,
            sms_in_use: sms_steps || sms_campaigns,
            sms_registration: profile.sms_registration.clone(),
            sending_domain: profile.sending_domain.clone(),
            jurisdictions: profile.jurisdictions.clone(),
            double_opt_in: opt_ins.iter().filter(|o| **o == "double_opt_in").count(),
            single_opt_in: opt_ins.iter().filter(|o| **o == "single_opt_in").count(),
            missing_features,
            scanned_at: snapshot.map(|s| s.taken_at),
        }
    }

    /// Share of the plan's limit in use, when both are known.
    pub fn usage(&self) -> Option<f64> {
        match (self.profiles, self.profile_limit) {
            (Some(p), Some(l)) if l > 0 => Some(p as f64 / l as f64),
            _ => None,
        }
    }

    /// Whether texts go (or may go) to US numbers without a verified sender.
    pub fn sms_unregistered(&self) -> bool {
        let us = self.jurisdictions.iter().any(|j| j.starts_with("US"));
        (self.sms_enabled || self.sms_in_use)
            && us
            && self.sms_registration.as_deref() != Some("verified")
    }

    /// Whether the recorded sending domain lacks part of its authentication.
    pub fn domain_unauthenticated(&self) -> bool {
        self.sending_domain
            .as_ref()
            .is_some_and(|d| !(d.spf && d.dkim && d.dmarc.is_some() && d.aligned))
    }

    /// What needs the agency's attention, in words (empty when nothing does).
    pub fn flags(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(u) = self.usage().filter(|u| *u >= NEAR_LIMIT) {
            out.push(format!("profiles at {:.0}% of the plan", u * 100.0));
        }
        if self.sms_unregistered() {
            out.push("SMS to the US without a verified sender".into());
        }
        if self.domain_unauthenticated() {
            out.push("sending domain not fully authenticated".into());
        }
        if self.sending_domain.is_none() {
            out.push("sending domain not recorded".into());
        }
        if self.single_opt_in > 0
            && self
                .jurisdictions
                .iter()
                .any(|j| matches!(j.as_str(), "EU" | "UK" | "CA"))
        {
            out.push("single opt-in with an EU, UK or Canadian audience".into());
        }
        if !self.missing_features.is_empty() {
            out.push(format!("plan lacks {}", self.missing_features.join(", ")));
        }
        out
    }

    fn plan_text(&self) -> String {
        self.plan.clone().unwrap_or_else(|| "not recorded".into())
    }

    fn profiles_text(&self) -> String {
        match (self.profiles, self.profile_limit) {
            (Some(p), Some(l)) => format!(
                "{} of {} ({:.0}%)",
                thousands(p),
                thousands(l),
                self.usage().unwrap_or(0.0) * 100.0
            ),
            (Some(p), None) => format!("{} (plan limit not recorded)", thousands(p)),
            (None, Some(l)) => format!("not read yet, limit {}", thousands(l)),
            (None, None) => "not read yet".into(),
        }
    }

    fn sms_text(&self) -> String {
        let state = match (self.sms_enabled, self.sms_in_use) {
            (true, _) => "on",
            (false, true) => "off in the profile, but used in the account",
            (false, false) => "off",
        };
        match (&self.sms_registration, self.sms_enabled || self.sms_in_use) {
            (Some(r), _) => format!("{state}; registration {r}"),
            (None, true) => format!("{state}; registration not recorded"),
            (None, false) => state.to_owned(),
        }
    }

    fn domain_text(&self) -> String {
        match &self.sending_domain {
            None => "not recorded".into(),
            Some(d) => {
                let yes = |b: bool| if b { "pass" } else { "missing" };
                format!(
                    "{}: SPF {}, DKIM {}, DMARC {}{}",
                    d.domain,
                    yes(d.spf),
                    yes(d.dkim),
                    d.dmarc.as_deref().unwrap_or("missing"),
                    if d.aligned {
                        ", aligned"
                    } else {
                        ", not aligned"
                    }
                )
            }
        }
    }

    fn consent_text(&self) -> String {
        if self.scanned_at.is_none() {
            return "not read yet".into();
        }
        format!(
            "{} double opt-in list(s), {} single opt-in",
            self.double_opt_in, self.single_opt_in
        )
    }

    fn jurisdictions_text(&self) -> String {
        if self.jurisdictions.is_empty() {
            "not recorded".into()
        } else {
            self.jurisdictions.join(", ")
        }
    }

    fn features_text(&self) -> String {
        match (&self.plan, self.missing_features.is_empty()) {
            (None, _) => "plan not recorded".into(),
            (Some(_), true) => "the plan has everything the playbook uses".into(),
            (Some(_), false) => self.missing_features.join(", "),
        }
    }
}

/// `48000` as `48,000`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plain(s: impl Into<String>) -> RichText {
    RichText(vec![Span::Plain(s.into())])
}

/// One client's inventory as a message.
pub fn client_message(inv: &Inventory) -> Message {
    let mut blocks = vec![
        Block::Header(format!("Inventory: {}", inv.name)),
        Block::Fields(vec![
            ("Plan".into(), plain(inv.plan_text())),
            ("Profiles".into(), plain(inv.profiles_text())),
            ("SMS".into(), plain(inv.sms_text())),
            ("Sending domain".into(), plain(inv.domain_text())),
            ("Jurisdictions".into(), plain(inv.jurisdictions_text())),
            ("Consent".into(), plain(inv.consent_text())),
            (
                "Playbook features missing".into(),
                plain(inv.features_text()),
            ),
        ]),
    ];
    let flags = inv.flags();
    if !flags.is_empty() {
        blocks.push(Block::Text(plain(format!(
            "Needs attention: {}.",
            flags.join("; ")
        ))));
    }
    blocks.push(Block::Context(plain(match inv.scanned_at {
        Some(t) => format!(
            "Account facts from the scan of {}; plan, SMS registration and domain as the agency recorded them.",
            t.format("%Y-%m-%d %H:%M UTC")
        ),
        None => format!("Not scanned yet: /scan {} reads the account.", inv.slug),
    })));
    Message {
        accent: if flags.is_empty() {
            Accent::Info
        } else {
            Accent::Severity(crate::domain::Severity::Warning)
        },
        blocks,
    }
}

/// The portfolio's inventory: counts of what needs attention, the flagged
/// clients (at most [`LISTED`]), and a pointer to the full table.
pub fn portfolio_message(all: &[Inventory]) -> Message {
    let count = |f: &dyn Fn(&Inventory) -> bool| all.iter().filter(|i| f(i)).count();
    let near = count(&|i| i.usage().is_some_and(|u| u >= NEAR_LIMIT));
    let sms = count(&|i| i.sms_unregistered());
    let domain = count(&|i| i.domain_unauthenticated() || i.sending_domain.is_none());
    let features = count(&|i| !i.missing_features.is_empty());
    let unknown_plan = count(&|i| i.plan.is_none());
    let mut blocks = vec![
        Block::Header(format!("Inventory: {} clients", all.len())),
        Block::Fields(vec![
            (
                "Near or over the profile limit".into(),
                plain(near.to_string()),
            ),
            (
                "SMS to the US, sender not verified".into(),
                plain(sms.to_string()),
            ),
            (
                "Sending domain missing or not authenticated".into(),
                plain(domain.to_string()),
            ),
            (
                "Plan lacks a playbook feature".into(),
                plain(features.to_string()),
            ),
            ("Plan not recorded".into(), plain(unknown_plan.to_string())),
        ]),
    ];
    let flagged: Vec<(&Inventory, Vec<String>)> = all
        .iter()
        .map(|i| (i, i.flags()))
        .filter(|(_, f)| !f.is_empty())
        .collect();
    for (inv, flags) in flagged.iter().take(LISTED) {
        blocks.push(Block::Text(RichText(vec![
            Span::Strong(inv.name.clone()),
            Span::Plain(format!(" ({}): {}", inv.slug, flags.join("; "))),
        ])));
    }
    if flagged.len() > LISTED {
        blocks.push(Block::Context(plain(format!(
            "and {} more clients with something to look at: see the file.",
            flagged.len() - LISTED
        ))));
    }
    if flagged.is_empty() {
        blocks.push(Block::Text(plain(
            "Nothing in any client's setup needs attention.",
        )));
    }
    Message {
        accent: Accent::Info,
        blocks,
    }
}

/// Every client's inventory as a Markdown table.
pub fn portfolio_markdown(all: &[Inventory], now: DateTime<Utc>) -> String {
    let mut out = format!(
        "# Client inventory\n\n{} clients, {}.\n\n| client | plan | profiles | SMS | sending domain | jurisdictions | consent | playbook features missing | needs attention |\n|---|---|---|---|---|---|---|---|---|\n",
        all.len(),
        now.format("%Y-%m-%d %H:%M UTC")
    );
    // Table cells come from the agency's config and the clients' accounts: a
    // pipe or newline in them would break the table.
    let cell = |s: String| s.replace('|', "\\|").replace('\n', " ");
    for i in all {
        out.push_str(&format!(
            "| {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell(i.name.clone()),
            i.slug,
            cell(i.plan_text()),
            i.profiles_text(),
            cell(i.sms_text()),
            cell(i.domain_text()),
            cell(i.jurisdictions_text()),
            i.consent_text(),
            cell(i.features_text()),
            cell(i.flags().join("; ")),
        ));
    }
    out
}

/// Answers `/inventory` (portfolio) or `/inventory <client>`.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let playbook = &ctx.app.config.agency.playbook;
        if let Some(client) = args.client("client") {
            let entry = ctx.app.clients.get(&client)?;
            ctx.allowed_here(&client, &format!("/inventory {client}"))?;
            let snapshot = ctx.app.latest_snapshot(&client).await?;
            let inv = Inventory::of(&entry.profile, snapshot.as_ref(), playbook);
            return Ok(super::Reply::channel(client_message(&inv)));
        }
        // Refuse in a client's channel before reading every client's scan.
        ctx.cross_client("/inventory", crate::app::info(""))?;
        let mut all = Vec::new();
        for entry in ctx.app.clients.all() {
            let snapshot = ctx.app.latest_snapshot(&entry.profile.slug).await?;
            all.push(Inventory::of(&entry.profile, snapshot.as_ref(), playbook));
        }
        let mut message = portfolio_message(&all);
        files::attach(
            &mut message,
            &format!("inventory-{}", ctx.now.format("%Y-%m-%d")),
            "Client inventory",
            None,
            portfolio_markdown(&all, ctx.now),
        );
        // In the agency channel it is posted with its file; privately, without.
        ctx.show_with_files("The client inventory", message).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClientSlug;
    use crate::scan::snapshot::{List, Segment};
    use chrono::TimeZone;

    fn profile() -> ClientProfile {
        let mut p = ClientProfile::new(ClientSlug::parse("acme").unwrap(), "Acme Goods");
        p.plan = Some("email-50k".into());
        p.profile_limit = Some(50_000);
        p.plan_features = vec!["sms".into()];
        p.jurisdictions = vec!["US".into(), "EU".into()];
        p
    }

    fn snapshot(main_list: u64, single: bool) -> Snapshot {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let mut s = Snapshot::empty(ClientSlug::parse("acme").unwrap(), t);
        s.lists = Some(vec![List {
            id: "L1".into(),
            name: "Newsletter".into(),
            opt_in_process: Some(
                if single {
                    "single_opt_in"
                } else {
                    "double_opt_in"
                }
                .into(),
            ),
            created: t,
            updated: t,
            profile_count: Some(main_list),
        }]);
        s.segments = Some(vec![Segment {
            id: "S1".into(),
            name: "Engaged".into(),
            profile_count: Some(main_list / 2),
            created: t,
            updated: t,
        }]);
        s
    }

    #[test]
    fn a_client_near_its_limit_with_single_opt_in_in_the_eu_is_flagged() {
        let playbook = vec!["sms".to_string(), "advanced-reporting".to_string()];
        let inv = Inventory::of(&profile(), Some(&snapshot(48_500, true)), &playbook);
        assert_eq!(inv.profiles, Some(48_500));
        assert_eq!(inv.usage().map(|u| (u * 100.0).round()), Some(97.0));
        assert_eq!(inv.missing_features, vec!["advanced-reporting".to_string()]);
        let flags = inv.flags();
        assert!(flags.iter().any(|f| f.contains("97%")), "{flags:?}");
        assert!(
            flags.iter().any(|f| f.contains("single opt-in")),
            "{flags:?}"
        );
        assert!(
            flags.iter().any(|f| f.contains("advanced-reporting")),
            "{flags:?}"
        );
        assert!(
            flags.iter().any(|f| f.contains("domain not recorded")),
            "{flags:?}"
        );
        let text = format!("{:?}", client_message(&inv));
        assert!(text.contains("48,500 of 50,000 (97%)"), "{text}");
    }

    #[test]
    fn a_well_set_up_client_needs_nothing() {
        let mut p = profile();
        p.sending_domain = Some(SendingDomain {
            domain: "send.acme.com".into(),
            spf: true,
            dkim: true,
            dmarc: Some("quarantine".into()),
            aligned: true,
        });
        let inv = Inventory::of(&p, Some(&snapshot(20_000, false)), &["sms".to_string()]);
        assert!(inv.flags().is_empty(), "{:?}", inv.flags());
        let msg = client_message(&inv);
        assert_eq!(msg.accent, Accent::Info);
    }

    #[test]
    fn sms_to_the_us_without_a_verified_sender_is_flagged_and_unknown_plans_are_not_judged() {
        let mut p = profile();
        p.plan = None;
        p.sms_enabled = true;
        p.sms_registration = Some("pending".into());
        let inv = Inventory::of(&p, None, &["advanced-reporting".to_string()]);
        assert!(inv.sms_unregistered());
        assert!(inv.missing_features.is_empty(), "unknown plan: not judged");
        assert_eq!(inv.profiles, None);
        let text = format!("{:?}", client_message(&inv));
        assert!(text.contains("Not scanned yet"), "{text}");
        p.sms_registration = Some("verified".into());
        assert!(!Inventory::of(&p, None, &[]).sms_unregistered());
    }

    #[test]
    fn the_portfolio_counts_and_lists_only_flagged_clients_and_the_file_has_everyone() {
        let playbook = vec!["sms".to_string()];
        let mut quiet = profile();
        quiet.slug = ClientSlug::parse("quiet").unwrap();
        quiet.name = "Quiet | Co".into();
        quiet.sending_domain = Some(SendingDomain {
            domain: "send.quiet.com".into(),
            spf: true,
            dkim: true,
            dmarc: Some("none".into()),
            aligned: true,
        });
        quiet.jurisdictions = vec!["US".into()];
        let all = vec![
            Inventory::of(&profile(), Some(&snapshot(49_000, false)), &playbook),
            Inventory::of(&quiet, Some(&snapshot(1_000, false)), &playbook),
        ];
        let text = format!("{:?}", portfolio_message(&all));
        assert!(text.contains("Inventory: 2 clients"), "{text}");
        assert!(text.contains("(acme)"), "{text}");
        assert!(
            !text.contains("(quiet)"),
            "quiet clients are not listed: {text}"
        );
        let md = portfolio_markdown(&all, Utc::now());
        assert_eq!(md.lines().filter(|l| l.starts_with("| ")).count(), 3);
        assert!(md.contains("Quiet \\| Co"), "pipes are escaped: {md}");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
