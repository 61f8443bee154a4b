//! Deep links into the Klaviyo web app.
//!
//! Every link a finding carries is built here, from the patterns in
//! `shared/klaviyo/API-NOTES.md` ("Deep links"), so a link can only ever point at
//! `https://www.klaviyo.com/`. Ids come from the API (or a misbehaving one) and
//! are percent-encoded into a single path segment: an id can never add a path
//! segment, a query or a fragment, nor climb out of its route with `..`.

/// Origin of every link.
pub const BASE: &str = "https://www.klaviyo.com/";

/// A flow's editor: `https://www.klaviyo.com/flow/{id}/edit`.
pub fn flow(id: &str) -> String {
    format!("{BASE}flow/{}/edit", segment(id))
}

/// A campaign's report: `https://www.klaviyo.com/campaign/{id}/reports`.
pub fn campaign(id: &str) -> String {
    format!("{BASE}campaign/{}/reports", segment(id))
}

/// A list (or segment; they share the route): `https://www.klaviyo.com/list/{id}`.
pub fn list(id: &str) -> String {
    format!("{BASE}list/{}", segment(id))
}

/// A metric's activity page: `https://www.klaviyo.com/metric/{id}`.
pub fn metric(id: &str) -> String {
    format!("{BASE}metric/{}", segment(id))
}

/// The deliverability hub.
pub fn deliverability() -> String {
    format!("{BASE}deliverability")
}

/// The integrations page.
pub fn integrations() -> String {
    format!("{BASE}integrations")
}

/// Account settings (sender address, timezone, currency).
pub fn account_settings() -> String {
    format!("{BASE}settings/account")
}

/// A template in the email editor: `https://www.klaviyo.com/template/{id}/edit`.
pub fn template(id: &str) -> String {
    format!("{BASE}template/{}/edit", segment(id))
}

/// A signup form's editor: `https://www.klaviyo.com/signup-forms/form/{id}/edit`.
pub fn form(id: &str) -> String {
    format!("{BASE}signup-forms/form/{}/edit", segment(id))
}

/// The catalog's items.
pub fn catalog() -> String {
    format!("{BASE}catalog/items")
}

/// SMS settings (sender registration, quiet hours).
pub fn sms_settings() -> String {
    format!("{BASE}settings/sms")
}

/// Sending domains and their DNS records.
pub fn sending_domains() -> String {
    format!("{BASE}settings/domains")
}

/// Consent and double opt-in settings.
pub fn consent_settings() -> String {
    format!("{BASE}settings/consent")
}

/// Billing (plan tier and profile limit).
pub fn billing() -> String {
    format!("{BASE}settings/billing")
}

/// Profiles (search and segments of them).
pub fn profiles() -> String {
    format!("{BASE}profiles")
}

/// Encodes `id` as one opaque path segment.
///
/// Everything except ASCII letters, digits, `-`, `_` and `~` is percent-encoded
/// (UTF-8 bytes), `.` included. Browsers still treat `%2E` and `%2E%2E` as dot
/// segments (WHATWG URL), so an id that is empty or only dots would still move
/// the link; those are encoded twice (`%252E`), which keeps the link inside its
/// route, pointing at an id that simply does not exist.
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    let dot_only = id.bytes().all(|b| b == b'.');
    if dot_only {
        // Covers "" too: an empty segment would collapse `flow//edit`.
        "%252E".repeat(id.len().max(1))
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_api_notes() {
        assert_eq!(flow("XyZ123"), "https://www.klaviyo.com/flow/XyZ123/edit");
        assert_eq!(
            campaign("01HABC"),
            "https://www.klaviyo.com/campaign/01HABC/reports"
        );
        assert_eq!(list("Y6nRLr"), "https://www.klaviyo.com/list/Y6nRLr");
        assert_eq!(metric("RESQ6t"), "https://www.klaviyo.com/metric/RESQ6t");
        assert_eq!(deliverability(), "https://www.klaviyo.com/deliverability");
        assert_eq!(integrations(), "https://www.klaviyo.com/integrations");
        assert_eq!(
            account_settings(),
            "https://www.klaviyo.com/settings/account"
        );
    }

    #[test]
    fn every_link_starts_with_the_klaviyo_origin() {
        let hostile = ["a", "", "..", "/../../evil.com", "x?y#z", "é"];
        let mut all = vec![deliverability(), integrations(), account_settings()];
        for id in hostile {
            all.extend([flow(id), campaign(id), list(id), metric(id)]);
        }
        for link in all {
            assert!(link.starts_with("https://www.klaviyo.com/"), "{link}");
        }
    }

    #[test]
    fn ids_cannot_break_out_of_their_segment() {
        assert_eq!(
            flow("../../settings?x=1#f"),
            "https://www.klaviyo.com/flow/%2E%2E%2F%2E%2E%2Fsettings%3Fx%3D1%23f/edit"
        );
        assert_eq!(list("a b/c"), "https://www.klaviyo.com/list/a%20b%2Fc");
        assert_eq!(metric("é"), "https://www.klaviyo.com/metric/%C3%A9");
        // Whatever the id, the only `/`, `?` and `#` are the pattern's own.
        for id in ["/", "?", "#", "%2F", "\\", "a/b"] {
            let link = flow(id);
            let rest = link.trim_start_matches("https://www.klaviyo.com/");
            assert_eq!(rest.matches('/').count(), 2, "{link}");
            assert!(!rest.contains(['?', '#', '\\']), "{link}");
        }
    }

    #[test]
    fn dot_and_empty_ids_stay_in_their_route() {
        assert_eq!(flow(".."), "https://www.klaviyo.com/flow/%252E%252E/edit");
        assert_eq!(list("."), "https://www.klaviyo.com/list/%252E");
        assert_eq!(list(""), "https://www.klaviyo.com/list/%252E");
        // Dots inside an ordinary id are just encoded.
        assert_eq!(list("a.b"), "https://www.klaviyo.com/list/a%2Eb");
    }
}
