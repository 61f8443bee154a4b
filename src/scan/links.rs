//! Link checking for `content-broken-links`: the links in a client's live
//! templates are asked for, and what each answered goes into the snapshot.
//!
//! Only for clients with `link_checking = true`: the requests go to the
//! client's own sites, not to Klaviyo. The links are the template's own
//! (client text), so the asking is careful: http and https on their default
//! ports only, no proxy, and on the open web ([`LinkSites::Internet`]) a name
//! that resolves to a loopback, private, link-local or otherwise non-public
//! address is not asked, at every redirect too (the check happens in the
//! resolver, so the address checked is the address connected to). A page
//! that answered well is not asked again for [`RECHECK_FINE`]; anything else
//! is asked again on the next scan.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use regex::Regex;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Method, StatusCode, Url};
use tracing::debug;

use super::snapshot::{Gap, LinkOutcome, LinkStatus, Part, Snapshot};
pub use crate::config::LinkSites;

/// How long a page that answered well is taken to still answer well: less
/// than the hourly scan interval, so each scheduled scan asks again and a page
/// that went away is found within the hour, while a `/scan` right after one
/// does not ask the client's site twice.
pub const RECHECK_FINE: Duration = Duration::minutes(50);
/// Most distinct links asked for in one scan of one client.
pub const MAX_LINKS: usize = 40;
/// Requests of one scan in flight at once.
const PER_SCAN: usize = 4;
/// Requests of all scans in flight at once.
const IN_FLIGHT: usize = 16;
/// A request's whole time, redirects included.
const TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// Redirects followed before giving up on a link.
const MAX_REDIRECTS: usize = 5;
/// Wait before asking again after a 5xx (servers hiccup; pages rarely vanish
/// for a second).
const RETRY_5XX_AFTER: StdDuration = StdDuration::from_secs(2);
/// Entries kept in the memory of answers before old ones are dropped.
const CACHE_MAX: usize = 20_000;

/// The absolute http(s) links in a snapshot's live templates, each with the
/// templates it appears in, in a stable order. Links carrying template tags
/// (`{{ … }}`, `{% … %}`) are personalised per recipient and not asked for.
pub fn links_in(snapshot: &Snapshot) -> Vec<(String, Vec<String>)> {
    static HREF: LazyLock<Regex> = LazyLock::new(|| {
        // A literal pattern: it compiles, which the unit tests show.
        Regex::new(r#"(?i)\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')"#).unwrap_or_else(|_| unreachable!())
    });
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (t, _) in snapshot.live_templates() {
        for c in HREF.captures_iter(&t.html) {
            let Some(raw) = c.get(1).or_else(|| c.get(2)) else {
                continue;
            };
            let url = raw.as_str().trim().replace("&amp;", "&");
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://"))
                || url.contains("{{")
                || url.contains("{%")
            {
                continue;
            }
            let templates = found.entry(url).or_default();
            if !templates.contains(&t.id) {
                templates.push(t.id.clone());
            }
        }
    }
    found.into_iter().collect()
}

/// Asks for links and remembers the answers.
pub struct LinkChecker {
    http: reqwest::Client,
    /// The simulator's address with [`LinkSites::Simulator`]; `None` on the open web.
    simulator: Option<Url>,
    fine: Mutex<HashMap<String, (DateTime<Utc>, u16)>>,
    permits: Arc<tokio::sync::Semaphore>,
}

/// A link checker could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LinkCheckError {
    /// The HTTP client could not be built.
    #[error("cannot build the link checker's HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// The simulator's address is not a URL.
    #[error("klaviyo.base_url `{0}` is not a URL the link checker can use")]
    Base(String),
}

impl LinkChecker {
    /// A checker asking `sites`; `klaviyo_base` is where the simulator is.
    pub fn new(sites: LinkSites, klaviyo_base: &str) -> Result<Self, LinkCheckError> {
        let builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(StdDuration::from_secs(5))
            .no_proxy()
            .user_agent(concat!(
                "Lookout-link-check/",
                env!("CARGO_PKG_VERSION"),
                " (checks links in email templates)"
            ))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    attempt.error("too many redirects")
                } else if askable(attempt.url()).is_err() {
                    // Not followed: the 3xx itself is the answer.
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }));
        let (http, simulator) = match sites {
            LinkSites::Internet => (builder.dns_resolver(Arc::new(PublicOnly)).build()?, None),
            LinkSites::Simulator => {
                let base = Url::parse(klaviyo_base)
                    .map_err(|_| LinkCheckError::Base(klaviyo_base.to_owned()))?;
                (builder.build()?, Some(base))
            }
        };
        Ok(Self {
            http,
            simulator,
            fine: Mutex::new(HashMap::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)),
        })
    }

    /// Asks for the links of `snapshot`'s live templates (at most
    /// [`MAX_LINKS`]) and records what they answered in `snapshot.links`,
    /// with a gap naming the links that gave no verdict.
    pub async fn check(&self, snapshot: &mut Snapshot, now: DateTime<Utc>) {
        let mut found = links_in(snapshot);
        let skipped = found.len().saturating_sub(MAX_LINKS);
        found.truncate(MAX_LINKS);
        let statuses: Vec<LinkStatus> = futures_util::stream::iter(found)
            .map(|(url, templates)| async move {
                let outcome = self.outcome(&url, now).await;
                LinkStatus {
                    url,
                    templates,
                    outcome,
                }
            })
            .buffered(PER_SCAN)
            .collect()
            .await;
        let unknown: Vec<String> = statuses
            .iter()
            .filter_map(|l| match &l.outcome {
                LinkOutcome::Unknown { reason } => Some(format!("{} ({reason})", host_of(&l.url))),
                _ => None,
            })
            .collect();
        if !unknown.is_empty() {
            snapshot.gaps.push(Gap {
                part: Part::Links,
                reason: format!(
                    "{} of {} links in live templates gave no answer: {}",
                    unknown.len(),
                    statuses.len(),
                    super::first_and_more(&unknown, 3, "; ")
                ),
            });
        }
        if skipped > 0 {
            snapshot.gaps.push(Gap {
                part: Part::Links,
                reason: format!("{skipped} more links were not asked (at most {MAX_LINKS} a scan)"),
            });
        }
        snapshot.links = Some(statuses);
    }

    /// What one link answers now, or answered well lately.
    async fn outcome(&self, url: &str, now: DateTime<Utc>) -> LinkOutcome {
        if let Some(status) = self.recently_fine(url, now) {
            return LinkOutcome::Fine { status };
        }
        let target = match self.target(url) {
            Ok(t) => t,
            Err(reason) => return LinkOutcome::Unknown { reason },
        };
        let mut outcome = self.ask(&target).await;
        if matches!(outcome, LinkOutcome::Broken { status } if status >= 500) {
            tokio::time::sleep(RETRY_5XX_AFTER).await;
            outcome = self.ask(&target).await;
        }
        if let LinkOutcome::Fine { status } = outcome {
            self.remember_fine(url, now, status);
        }
        outcome
    }

    /// The URL actually asked for `url`.
    fn target(&self, url: &str) -> Result<Url, String> {
        let parsed = Url::parse(url).map_err(|_| "not a URL".to_owned())?;
        askable(&parsed)?;
        match &self.simulator {
            Some(base) => {
                let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
                if !host.ends_with(".example.com") {
                    return Err("not a simulated store".into());
                }
                let mut t = base.clone();
                t.set_path(&format!("/__sites/{host}{}", parsed.path()));
                t.set_query(parsed.query());
                Ok(t)
            }
            None => Ok(parsed),
        }
    }

    /// One request: HEAD, then GET where HEAD is not served.
    async fn ask(&self, target: &Url) -> LinkOutcome {
        // The semaphore is never closed, so a permit always comes.
        let _permit = self.permits.acquire().await;
        let mut answer = self.request(Method::HEAD, target).await;
        if let Ok(s) = answer
            && matches!(
                s,
                StatusCode::METHOD_NOT_ALLOWED
                    | StatusCode::NOT_IMPLEMENTED
                    | StatusCode::FORBIDDEN
            )
        {
            answer = self.request(Method::GET, target).await;
        }
        match answer {
            Ok(s) => judge(s),
            Err(reason) => LinkOutcome::Unknown { reason },
        }
    }

    async fn request(&self, method: Method, target: &Url) -> Result<StatusCode, String> {
        let r = self.http.request(method, target.clone()).send().await;
        match r {
            // The body is not read: the status is the answer.
            Ok(resp) => Ok(resp.status()),
            Err(e) => {
                debug!(host = %host_of(target.as_str()), error = %e, "link check failed");
                Err(if e.is_timeout() {
                    "timed out".into()
                } else if e.is_redirect() {
                    "too many redirects".into()
                } else if e.is_connect() {
                    "no connection".into()
                } else {
                    "request failed".into()
                })
            }
        }
    }

    fn recently_fine(&self, url: &str, now: DateTime<Utc>) -> Option<u16> {
        let fine = self.fine.lock().unwrap_or_else(|e| e.into_inner());
        let (at, status) = fine.get(url)?;
        (now - *at < RECHECK_FINE && *at <= now).then_some(*status)
    }

    fn remember_fine(&self, url: &str, now: DateTime<Utc>, status: u16) {
        // A map of urls and times: a panic elsewhere cannot leave it half-written.
        let mut fine = self.fine.lock().unwrap_or_else(|e| e.into_inner());
        if fine.len() >= CACHE_MAX {
            fine.retain(|_, (at, _)| now - *at < RECHECK_FINE);
            if fine.len() >= CACHE_MAX {
                fine.clear();
            }
        }
        fine.insert(url.to_owned(), (now, status));
    }
}

/// A status as a verdict. 401, 403 and 429 are what sites answer robots
/// they do not want, not what a reader sees, so they give none.
fn judge(status: StatusCode) -> LinkOutcome {
    let code = status.as_u16();
    match code {
        401 | 403 | 407 | 429 => LinkOutcome::Unknown {
            reason: format!("the site answered {code} to a robot"),
        },
        400..=599 => LinkOutcome::Broken { status: code },
        _ => LinkOutcome::Fine { status: code },
    }
}

/// Whether a link may be asked for at all: http(s), default port, and not
/// an address literal outside the public internet.
fn askable(url: &Url) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err("not http or https".into());
    }
    if url.port().is_some() {
        return Err("not on the default port".into());
    }
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err("no host".into());
    }
    // An address literal is connected to as written, without the resolver.
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) if !is_public(ip) => Err("not a public address".into()),
        _ => Ok(()),
    }
}

/// A link's host, for notes and logs (not its path, which may carry a token).
fn host_of(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "a malformed link".into())
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let [b0, b1, b2, _] = a.octets();
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_documentation()
                || b0 == 0
                || (b0 == 100 && (64..128).contains(&b1)) // shared address space (CGNAT)
                || (b0 == 192 && b1 == 0 && b2 == 0) // IETF protocol assignments
                || (b0 == 198 && (b1 == 18 || b1 == 19)) // benchmarking
                || b0 >= 240) // reserved
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s0 = a.segments()[0];
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s0 & 0xfe00) == 0xfc00 // unique local
                || (s0 & 0xffc0) == 0xfe80 // link-local
                || (s0 == 0x2001 && a.segments()[1] == 0x0db8) // documentation
                || s0 == 0x0064) // NAT64 and local-use translation prefixes
        }
    }
}

/// Resolves names as the system does, keeping only public addresses.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures;

    #[test]
    fn links_are_read_from_live_templates_without_tags_or_other_schemes() {
        let mut s = fixtures::healthy();
        let t = &mut s.templates.as_mut().unwrap()[0];
        t.html.push_str(
            "<a HREF='https://acme.example.com/a?x=1&amp;y=2'>a</a>\
             <a href=\"mailto:hi@acme.com\">m</a><a href=\"https://acme.example.com/u/{{ person.id }}\">p</a>\
             <a href=\"{% web_view %}\">w</a><a href=\"#top\">t</a>",
        );
        let id = t.id.clone();
        let found = links_in(&s);
        let urls: Vec<&str> = found.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://acme.example.com/a?x=1&y=2",
                "https://acme.example.com/shop"
            ]
        );
        assert_eq!(found[0].1, vec![id]);
        // The shop link is in every live template, once each.
        let live = s.live_templates().len();
        assert_eq!(found[1].1.len(), live);
    }

    #[test]
    fn only_public_addresses_are_asked() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = private.parse().unwrap();
            assert!(!is_public(ip), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn links_to_private_literals_odd_ports_or_other_schemes_are_not_asked() {
        for bad in [
            "http://127.0.0.1/admin",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data",
            "https://acme.com:8443/",
            "ftp://acme.com/file",
            "file:///etc/passwd",
        ] {
            assert!(askable(&Url::parse(bad).unwrap()).is_err(), "{bad}");
        }
        assert!(askable(&Url::parse("https://acme.com/shop?a=1").unwrap()).is_ok());
    }

    #[test]
    fn statuses_are_judged_as_a_reader_sees_them() {
        assert_eq!(judge(StatusCode::OK), LinkOutcome::Fine { status: 200 });
        assert_eq!(
            judge(StatusCode::MOVED_PERMANENTLY),
            LinkOutcome::Fine { status: 301 }
        );
        assert_eq!(
            judge(StatusCode::NOT_FOUND),
            LinkOutcome::Broken { status: 404 }
        );
        assert_eq!(judge(StatusCode::GONE), LinkOutcome::Broken { status: 410 });
        assert_eq!(
            judge(StatusCode::BAD_GATEWAY),
            LinkOutcome::Broken { status: 502 }
        );
        assert!(matches!(
            judge(StatusCode::FORBIDDEN),
            LinkOutcome::Unknown { .. }
        ));
        assert!(matches!(
            judge(StatusCode::TOO_MANY_REQUESTS),
            LinkOutcome::Unknown { .. }
        ));
    }

    #[test]
    fn the_simulator_is_asked_for_example_com_stores_only() {
        let c = LinkChecker::new(LinkSites::Simulator, "http://127.0.0.1:4010").unwrap();
        assert_eq!(
            c.target("https://acme.example.com/shop?utm=x")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:4010/__sites/acme.example.com/shop?utm=x"
        );
        assert!(c.target("https://acme.com/shop").is_err());
    }

    #[tokio::test]
    async fn the_open_web_refuses_names_that_resolve_to_loopback() {
        let r = PublicOnly.resolve("localhost".parse().unwrap()).await;
        assert!(r.is_err());
    }
}
