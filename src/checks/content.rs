//! Checks: content of live messages.
//!
//! `content-placeholder-text` reads the templates that live flows' email steps
//! use, plus every template whose name does not say "flow template" (campaigns
//! carry no template id in the snapshot, so those stand in for campaign
//! content), and the subject lines and SMS bodies of live flow steps. It flags
//! "lorem ipsum" (any case), a profile variable such as `{{ first_name }}`
//! without a `|default` filter (a blank where the name should be), and the word
//! TEST in capitals. One observation per template or step, quoting at most 60
//! characters of what was found. Overrides: `content-placeholder-text.test_word`
//! and `content-placeholder-text.missing_default` (1, the default, checks for
//! them; 0 does not, e.g. for a brand whose name is "TEST").
//!
//! `content-broken-links` judges what the scan learnt by asking for each
//! link in those same templates (`scan::links`, for clients with
//! `link_checking` on): one observation per template with a link answering
//! 404, 410, another client error or a 5xx twice. A link with no verdict (a
//! timeout, a site refusing robots) neither fires nor clears: a template whose
//! finding is open and whose links could not all be asked keeps it.

use super::{Cadence, Check, CheckInput, Observation, links};
use crate::domain::{Severity, Track};
use crate::scan::snapshot::{Flow, FlowStep, LinkOutcome, Part, StepKind};

/// The content checks, in catalogue order.
pub const CHECKS: &[Check] = &[
    Check {
        id: BROKEN_LINKS,
        family: "content",
        summary: "Links in live templates answering 4xx/5xx (for clients with link checking on)",
        threshold: "any",
        default_severity: Severity::Warning,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Links, Part::Templates],
        run: broken_links,
    },
    Check {
        id: PLACEHOLDER,
        family: "content",
        summary: "Placeholder text (\"lorem ipsum\", a name variable without a default, \"TEST\") in live messages",
        threshold: "any",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Templates, Part::FlowSteps, Part::Flows],
        run: placeholder_text,
    },
];

const BROKEN_LINKS: &str = "content-broken-links";
const PLACEHOLDER: &str = "content-placeholder-text";

/// Broken links named in a finding; the rest are counted.
const LINKS_SHOWN: usize = 3;

/// Most characters of the client's text quoted in a finding.
const QUOTE_CHARS: usize = 60;

/// Which rules apply for this client.
#[derive(Clone, Copy)]
struct Rules {
    test_word: bool,
    missing_default: bool,
}

/// What was found, as a phrase with its quote: `"lorem ipsum" ("Lorem ipsum dolor")`.
fn placeholders(text: &str, rules: Rules) -> Vec<String> {
    let mut found = Vec::new();
    let lower = text.to_lowercase();
    // Lowercasing can change byte lengths outside ASCII: only use its offsets
    // when it lines up with the original.
    if lower.len() == text.len()
        && let Some(i) = lower.find("lorem ipsum")
    {
        found.push(format!("\"lorem ipsum\" ({})", quote(text, i)));
    } else if lower.contains("lorem ipsum") {
        found.push("\"lorem ipsum\"".to_owned());
    }
    if rules.missing_default
        && let Some(tag) = variable_without_default(text)
    {
        found.push(format!("a variable without a default ({})", quote(tag, 0)));
    }
    if rules.test_word
        && let Some(i) = test_word(text)
    {
        found.push(format!("\"TEST\" ({})", quote(text, i)));
    }
    found
}

/// The client's text from byte `at`, stopping at markup, at most `QUOTE_CHARS`
/// characters, in quotes.
fn quote(text: &str, at: usize) -> String {
    let rest = text.get(at..).unwrap_or("");
    let run = rest.split(['<', '\n']).next().unwrap_or("").trim_end();
    let mut out: String = run.chars().take(QUOTE_CHARS).collect();
    if run.chars().count() > QUOTE_CHARS {
        out.push('…');
    }
    format!("\"{out}\"")
}

/// The first `{{ ... }}` naming a profile field (a name or `person.…`) without
/// a `|default` filter.
fn variable_without_default(text: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(i) = text.get(from..)?.find("{{") {
        let start = from + i;
        let end = text
            .get(start..)?
            .find("}}")
            .map_or(text.len(), |j| start + j + 2);
        let tag = text.get(start..end)?;
        let inner: String = tag
            .trim_start_matches("{{")
            .trim_end_matches("}}")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_lowercase();
        let variable = inner.split('|').next().unwrap_or("");
        // Profile fields can be blank; event and organisation data are there.
        let profile_field = variable.contains("first_name")
            || variable.contains("last_name")
            || variable.starts_with("person")
            || variable.starts_with("profile");
        if profile_field && !inner.contains("|default") {
            return Some(tag);
        }
        from = end.max(start + 2);
    }
    None
}

/// Byte offset of `TEST` in capitals as a whole word (letters, digits and `_`
/// join words, so `TESTIMONIAL` and `TEST_MODE` are not it).
fn test_word(text: &str) -> Option<usize> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices("TEST").map(|(i, _)| i).find(|&i| {
        let before = text.get(..i).and_then(|s| s.chars().next_back());
        let after = text.get(i + 4..).and_then(|s| s.chars().next());
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// The sending flow a send step belongs to, if the step itself is live.
fn live_step<'a>(step: &FlowStep, flows: &[&'a Flow]) -> Option<&'a Flow> {
    if !step.is_live() {
        return None;
    }
    flows.iter().find(|f| f.id == step.flow_id).copied()
}

fn placeholder_text(input: &CheckInput<'_>) -> Vec<Observation> {
    let p = input.profile;
    let rules = Rules {
        test_word: p.threshold(&format!("{PLACEHOLDER}.test_word"), 1.0) > 0.0,
        missing_default: p.threshold(&format!("{PLACEHOLDER}.missing_default"), 1.0) > 0.0,
    };
    let s = input.snapshot;
    let flows: Vec<&Flow> = s.sending_flows().collect();
    let live_steps: Vec<(&FlowStep, &Flow)> = s
        .flow_steps
        .iter()
        .flatten()
        .filter(|st| matches!(st.kind, StepKind::Email | StepKind::Sms))
        .filter_map(|st| live_step(st, &flows).map(|f| (st, f)))
        .collect();
    let mut out = Vec::new();
    for (t, in_use) in s.live_templates() {
        let found = placeholders(&t.html, rules);
        if found.is_empty() {
            continue;
        }
        out.push(Observation {
            check: PLACEHOLDER.to_owned(),
            subject: t.id.clone(),
            severity: Severity::Warning,
            track: Track::Now,
            title: format!("Template \"{}\" has placeholder text", t.name),
            why: format!(
                "Found {}. {} Fix the template before its next send.",
                found.join("; "),
                if in_use {
                    "A live flow sends it."
                } else {
                    "Campaigns may use it."
                },
            ),
            deep_link: links::template(&t.id),
            value_at_stake: None,
            began_at: Some(t.updated),
        });
    }
    for (step, flow) in live_steps {
        let Some(m) = &step.message else {
            continue;
        };
        let (what, text) = match step.kind {
            StepKind::Email => ("subject line", m.subject.as_deref()),
            _ => ("text message", m.body.as_deref()),
        };
        let found = placeholders(text.unwrap_or(""), rules);
        if found.is_empty() {
            continue;
        }
        out.push(Observation {
            check: PLACEHOLDER.to_owned(),
            subject: m.id.clone(),
            severity: Severity::Warning,
            track: Track::Now,
            title: format!(
                "Flow \"{}\": the {what} of \"{}\" has placeholder text",
                flow.name, m.name
            ),
            why: format!(
                "Found {} in the {what} of a live step of the flow. Every profile that \
                 reaches it sees it: fix the message in the flow editor.",
                found.join("; "),
            ),
            deep_link: links::flow(&flow.id),
            value_at_stake: None,
            began_at: Some(m.updated),
        });
    }
    out
}

fn broken_links(input: &CheckInput<'_>) -> Vec<Observation> {
    let s = input.snapshot;
    let links = s.links.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    for (t, in_use) in s.live_templates() {
        let of_template = || links.iter().filter(|l| l.templates.contains(&t.id));
        let broken: Vec<String> = of_template()
            .filter_map(|l| match l.outcome {
                LinkOutcome::Broken { status } => Some(format!("{} ({status})", l.url)),
                _ => None,
            })
            .collect();
        let unknown = of_template()
            .filter(|l| matches!(l.outcome, LinkOutcome::Unknown { .. }))
            .count();
        let keep = broken.is_empty() && unknown > 0 && input.is_open(BROKEN_LINKS, &t.id);
        if broken.is_empty() && !keep {
            continue;
        }
        let why = if keep {
            format!(
                "{unknown} of its links could not be asked this time, so Lookout keeps the \
                 finding until it can see them answer."
            )
        } else {
            format!(
                "{} {} an error page: {}. {} Fix or remove the {} in the template.",
                broken.len(),
                if broken.len() == 1 {
                    "link answers with"
                } else {
                    "links answer with"
                },
                crate::scan::first_and_more(&broken, LINKS_SHOWN, ", "),
                if in_use {
                    "A live flow sends it, so every recipient who clicks lands on it."
                } else {
                    "Campaigns may use it."
                },
                if broken.len() == 1 { "link" } else { "links" },
            )
        };
        out.push(Observation {
            check: BROKEN_LINKS.to_owned(),
            subject: t.id.clone(),
            severity: Severity::Warning,
            track: Track::Eventually,
            title: format!("Template \"{}\" links to a broken page", t.name),
            why,
            deep_link: links::template(&t.id),
            value_at_stake: None,
            began_at: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, ABANDONED_CHECKOUT, CAMPAIGN_TEMPLATE, WELCOME};
    use crate::scan::snapshot::{FlowStatus, LinkStatus, Snapshot, StepMessage, Template};

    fn template_html(s: &mut Snapshot, id: &str, f: impl Fn(&str) -> String) {
        if let Some(t) = s
            .templates
            .as_mut()
            .and_then(|t| t.iter_mut().find(|t| t.id == id))
        {
            t.html = f(&t.html);
        }
    }

    fn message_mut<'a>(s: &'a mut Snapshot, step: &str) -> &'a mut StepMessage {
        s.flow_steps
            .as_mut()
            .and_then(|st| st.iter_mut().find(|st| st.id == step))
            .and_then(|st| st.message.as_mut())
            .unwrap_or_else(|| panic!("no message on step {step}"))
    }

    const ALL: Rules = Rules {
        test_word: true,
        missing_default: true,
    };

    #[test]
    fn healthy_content_is_quiet() {
        assert!(fixtures::run(PLACEHOLDER, &fixtures::healthy(), None).is_empty());
        assert!(placeholders(&fixtures::healthy_html("Hello"), ALL).is_empty());
    }

    #[test]
    fn lorem_ipsum_in_a_live_flow_template_is_a_warning() {
        let mut s = fixtures::healthy();
        template_html(&mut s, "TPLWEL1", |h| {
            h.replace(
                "<h1>Welcome 1</h1>",
                "<h1>Welcome 1</h1><p>Lorem Ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor</p>",
            )
        });
        let obs = fixtures::run(PLACEHOLDER, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.subject, "TPLWEL1");
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert_eq!(
            o.title,
            "Template \"Welcome 1 (flow template)\" has placeholder text"
        );
        // The quote stops at 60 characters of the client's text.
        assert!(
            o.why.contains(
                "\"lorem ipsum\" (\"Lorem Ipsum dolor sit amet, consectetur adipiscing elit, sed…\")"
            ),
            "{}",
            o.why
        );
        assert!(o.why.contains("A live flow sends it."), "{}", o.why);
        assert_eq!(o.deep_link, links::template("TPLWEL1"));
    }

    #[test]
    fn a_flow_template_of_a_stopped_flow_is_not_judged_but_a_campaign_template_is() {
        let mut s = fixtures::healthy();
        template_html(&mut s, "TPLWEL1", |h| format!("{h}<p>lorem ipsum</p>"));
        fixtures::set_flow_status(&mut s, WELCOME, FlowStatus::Draft, fixtures::NOW);
        assert!(fixtures::run(PLACEHOLDER, &s, None).is_empty());
        template_html(&mut s, CAMPAIGN_TEMPLATE, |h| {
            h.replace("first_name|default:'there'", "first_name")
        });
        let obs = fixtures::run(PLACEHOLDER, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].subject, CAMPAIGN_TEMPLATE);
        assert!(
            obs[0]
                .why
                .contains("a variable without a default (\"{{ first_name }}\")"),
            "{}",
            obs[0].why
        );
        assert!(
            obs[0].why.contains("Campaigns may use it."),
            "{}",
            obs[0].why
        );
    }

    #[test]
    fn subject_lines_and_texts_of_live_steps() {
        let mut s = fixtures::healthy();
        message_mut(&mut s, "CHK2").subject = Some("TEST - Checkout reminder".into());
        message_mut(&mut s, "CHK4").body = Some("Hi {{ person.first_name }}, your cart".into());
        let obs = fixtures::run(PLACEHOLDER, &s, None);
        assert_eq!(obs.len(), 2, "{obs:?}");
        assert_eq!(obs[0].subject, "MSGCHK2");
        assert_eq!(
            obs[0].title,
            "Flow \"Abandoned Checkout\": the subject line of \"Checkout reminder\" has placeholder text"
        );
        assert!(
            obs[0]
                .why
                .contains("\"TEST\" (\"TEST - Checkout reminder\")"),
            "{}",
            obs[0].why
        );
        assert_eq!(obs[0].deep_link, links::flow(ABANDONED_CHECKOUT));
        assert_eq!(obs[1].subject, "MSGCHK4");
        assert!(
            obs[1].title.contains("the text message of"),
            "{}",
            obs[1].title
        );
        // A draft step is passed over: nobody receives it.
        if let Some(st) = s
            .flow_steps
            .as_mut()
            .and_then(|st| st.iter_mut().find(|st| st.id == "CHK2"))
        {
            st.status = Some("draft".into());
        }
        assert_eq!(fixtures::run(PLACEHOLDER, &s, None).len(), 1);
    }

    #[test]
    fn near_misses_are_not_placeholders() {
        for text in [
            "TESTIMONIALS from customers",
            "Our Test kitchen",
            "TEST_MODE",
            "LATEST news",
            "Hi {{ first_name | default: 'friend' }}",
            "Order {{ event.extra.order_number }}",
            "{{ organization.name }}",
            "Lorem and ipsum",
        ] {
            assert!(placeholders(text, ALL).is_empty(), "{text}");
        }
        for text in [
            "[TEST] Sale",
            "Sale TEST",
            "lOrEm IpSuM",
            "{{first_name|title}}",
        ] {
            assert_eq!(placeholders(text, ALL).len(), 1, "{text}");
        }
    }

    #[test]
    fn the_test_word_rule_can_be_turned_off_per_client() {
        let mut s = fixtures::healthy();
        message_mut(&mut s, "WEL1").subject = Some("Welcome to TEST Labs".into());
        assert_eq!(fixtures::run(PLACEHOLDER, &s, None).len(), 1);
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{PLACEHOLDER}.test_word"), 0.0);
        assert!(fixtures::run_with(PLACEHOLDER, &s, None, &profile).is_empty());
        // The other rules still apply.
        message_mut(&mut s, "WEL1").subject = Some("Welcome {{ first_name }}".into());
        assert_eq!(fixtures::run_with(PLACEHOLDER, &s, None, &profile).len(), 1);
    }

    fn set_outcome(s: &mut Snapshot, url: &str, outcome: LinkOutcome) {
        for l in s
            .links
            .as_mut()
            .unwrap()
            .iter_mut()
            .filter(|l| l.url == url)
        {
            l.outcome = outcome.clone();
        }
    }

    const SHOP: &str = "https://acme.example.com/shop";

    #[test]
    fn a_link_answering_404_fires_once_per_live_template() {
        let mut s = fixtures::healthy();
        set_outcome(&mut s, SHOP, LinkOutcome::Broken { status: 404 });
        let obs = fixtures::run(BROKEN_LINKS, &s, None);
        let live = s.live_templates();
        assert_eq!(obs.len(), live.len());
        let welcome = obs.iter().find(|o| o.subject == "TPLWEL1").unwrap();
        assert_eq!(welcome.severity, Severity::Warning);
        assert_eq!(welcome.track, Track::Eventually);
        assert!(
            welcome.why.contains("https://acme.example.com/shop (404)"),
            "{}",
            welcome.why
        );
        assert!(
            welcome.why.contains("A live flow sends it"),
            "{}",
            welcome.why
        );
        assert_eq!(welcome.deep_link, links::template("TPLWEL1"));
    }

    #[test]
    fn fine_links_and_templates_of_stopped_flows_are_quiet() {
        assert!(fixtures::run(BROKEN_LINKS, &fixtures::healthy(), None).is_empty());
        // A flow template no live flow uses does not reach anyone.
        let mut s = fixtures::healthy();
        if let Some(t) = s.templates.as_mut() {
            t.push(Template {
                id: "TPLOLD".into(),
                name: "Old flow template".into(),
                html: "<a href=\"https://acme.example.com/gone\">x</a>".into(),
                updated: fixtures::NOW,
            });
        }
        s.links.as_mut().unwrap().push(LinkStatus {
            url: "https://acme.example.com/gone".into(),
            templates: vec!["TPLOLD".into()],
            outcome: LinkOutcome::Broken { status: 404 },
        });
        assert!(fixtures::run(BROKEN_LINKS, &s, None).is_empty());
    }

    #[test]
    fn a_link_without_a_verdict_neither_fires_nor_clears() {
        let mut s = fixtures::healthy();
        set_outcome(
            &mut s,
            SHOP,
            LinkOutcome::Unknown {
                reason: "timed out".into(),
            },
        );
        // Nothing open: no verdict is no finding.
        assert!(fixtures::run(BROKEN_LINKS, &s, None).is_empty());
        // Open for one template: kept, and said why.
        let open: std::collections::HashSet<String> =
            [format!("{BROKEN_LINKS}/TPLWEL1")].into_iter().collect();
        let profile = fixtures::profile();
        let mut input = fixtures::input(&s, None, &profile);
        input.open = &open;
        let obs = broken_links(&input);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].subject, "TPLWEL1");
        assert!(obs[0].why.contains("could not be asked"), "{}", obs[0].why);
    }

    #[test]
    fn without_link_results_the_check_is_skipped_not_quiet() {
        let mut s = fixtures::healthy();
        s.links = None;
        let check = crate::checks::find(BROKEN_LINKS).unwrap();
        let r = check.evaluate(&fixtures::input(&s, None, &fixtures::profile()));
        assert_eq!(r.unwrap_err().missing, vec![Part::Links]);
    }
}
