//! Connections end to end against the simulator's OAuth: `/connect` gives a
//! private link, approving it at the simulated Klaviyo lands on Lookout's
//! callback page, the grant is stored sealed and announced, scans use it,
//! tokens refresh one at a time, a dead grant pauses the client with one
//! finding, grants end with reminders, and `/disconnect` revokes at Klaviyo.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use lookout::chat::console::{ConsoleChat, ConsoleEventKind};
use lookout::clock::{Clock, SimClock};
use lookout::commands::dispatch::Dispatcher;
use lookout::connections::{ConnectionError, Status};
use lookout::demo::{Stack, demo_start};
use lookout::domain::ClientSlug;
use lookout::findings::Findings;
use lookout::klaviyo::Credential;
use lookout::message::{
    Action, Actor, Block, ChannelRef, Inbound, InboundHandler, Message, Outcome, PersonRef,
};
use lookout::scan::pipeline::TOKEN_REVOKED;
use lookout::simulator::{Fault, FaultKind};
use lookout::startup::StartOptions;
use lookout::store::Store;

/// A stack whose clients have no key in the config (they connect from
/// chat), with Lookout's OAuth callback served on loopback.
struct Harness {
    stack: Stack,
    chat: Arc<ConsoleChat>,
    http: reqwest::Client,
    _callback: tokio::task::JoinHandle<()>,
}

async fn harness_with(store: Option<Store>) -> Harness {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let clock = SimClock::frozen(demo_start());
    let opts = StartOptions {
        adapters: vec![chat.clone()],
        background: false,
        inbound: false,
        store,
        ..StartOptions::new(Arc::new(clock.clone()))
    };
    let stack = Stack::launch_with(
        7,
        12,
        clock,
        &["acme", "bluebird", "cedar-co"],
        |c| {
            c.connections.public_url = format!("http://{addr}");
            c.people.insert(
                PersonRef::parse("slack:U0LEE").unwrap(),
                lookout::commands::Role::Lead,
            );
            for client in &mut c.clients {
                client.api_key = None;
            }
        },
        opts,
    )
    .await
    .expect("stack starts");
    let router = lookout::connections::callback::router(stack.app.clone());
    let callback = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Harness {
        stack,
        chat,
        http,
        _callback: callback,
    }
}

async fn harness() -> Harness {
    harness_with(None).await
}

fn slug(s: &str) -> ClientSlug {
    ClientSlug::parse(s).unwrap()
}

impl Harness {
    /// Types a command as `who` in `channel`.
    async fn run(&self, who: &str, channel: &str, name: &str, text: &str) -> Outcome {
        Dispatcher::new(self.stack.app.clone())
            .handle(Inbound::Command {
                actor: Actor {
                    person: PersonRef::console(who),
                    channel: ChannelRef::console(channel),
                },
                name: name.into(),
                text: text.into(),
            })
            .await
    }

    /// `/connect` as lee in the client's channel; the private link it answers with.
    async fn link(&self, client: &str, access: &str) -> String {
        let out = self
            .run(
                "lee",
                &format!("client-{client}"),
                "connect",
                &format!("{client} {access}"),
            )
            .await;
        let Outcome::Private(m) = out else {
            panic!("/connect answers privately, got {out:?}");
        };
        link_of(&m).unwrap_or_else(|| panic!("no link in {}", m.to_plain()))
    }

    /// Approves at the simulated Klaviyo (as `account`, optionally with other
    /// scopes) and follows the redirect to Lookout's callback page.
    async fn approve(&self, link: &str, account: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{link}&sim_account={account}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "the authorize shortcut redirects");
        let back = r.headers()["location"].to_str().unwrap().to_owned();
        self.follow(&back).await
    }

    async fn follow(&self, url: &str) -> (u16, String) {
        let page = self.http.get(url).send().await.unwrap();
        (page.status().as_u16(), page.text().await.unwrap())
    }

    /// Waits for the scan a connect starts to finish.
    async fn settle(&self, client: &str) {
        let slug = slug(client);
        for _ in 0..500 {
            let scanned = {
                let mut db = self.stack.app.store.conn().await.unwrap();
                lookout::store::scans::between(
                    &mut db,
                    &slug,
                    demo_start() - Duration::days(1),
                    demo_start() + Duration::days(400),
                )
                .await
                .unwrap()
                .len()
            };
            if scanned > 0 && !self.stack.app.is_scanning(&slug) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the scan after connecting {client} did not finish");
    }

    /// Connects a client for `access` and waits for its first scan.
    async fn connect(&self, client: &str, access: &str) {
        let link = self.link(client, access).await;
        let (status, page) = self.approve(&link, client).await;
        assert_eq!(status, 200, "{page}");
        self.settle(client).await;
    }

    /// Delivers the outbox and returns the posts' text in a channel.
    async fn posts(&self, channel: &str) -> Vec<String> {
        self.stack.app.deliverer.run_once().await.unwrap();
        self.chat
            .transcript()
            .into_iter()
            .filter(|e| {
                e.kind == ConsoleEventKind::Post && e.channel == ChannelRef::console(channel)
            })
            .map(|e| e.text)
            .collect()
    }
}

fn link_of(m: &Message) -> Option<String> {
    m.blocks.iter().find_map(|b| match b {
        Block::Actions(a) => a.iter().find_map(|a| match a {
            Action::Link { url, .. } => Some(url.clone()),
            _ => None,
        }),
        _ => None,
    })
}

#[tokio::test]
async fn connect_by_oauth_end_to_end() {
    let h = harness().await;
    let link = h.link("acme", "30d").await;
    // The link asks Klaviyo for read scopes only, with PKCE S256 and a state.
    let url = reqwest::Url::parse(&link).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(
        q["scope"].split(' ').all(|s| s.ends_with(":read")),
        "{}",
        q["scope"]
    );
    assert!(q["state"].len() >= 16);
    assert!(!h.stack.app.is_scanning(&slug("acme")));

    let (status, page) = h.approve(&link, "acme").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("is connected") && page.contains("read-only"),
        "{page}"
    );
    h.settle("acme").await;

    // Announced in the client's channel, by whom, until when.
    let posts = h.posts("client-acme").await;
    let notice = posts
        .iter()
        .find(|p| p.contains("connected by"))
        .unwrap_or_else(|| panic!("no connect notice in {posts:?}"));
    let ends = h.stack.app.local_date(demo_start() + Duration::days(30));
    assert!(
        notice.contains("@lee") && notice.contains("read-only") && notice.contains(&ends),
        "{notice}"
    );

    // The scan used the grant: Klaviyo saw Bearer calls from one grant.
    let grants = h.stack.sim.oauth_grants("acme");
    assert_eq!(grants.len(), 1);
    assert!(grants[0].scopes.iter().all(|s| s.ends_with(":read")));
    let g = h
        .stack
        .app
        .connections
        .grant(&slug("acme"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.status, Status::Active);
    assert_eq!(g.granted_by, Some(PersonRef::console("lee")));
    assert_eq!(g.ends_at, demo_start() + Duration::days(30));
    assert!(g.last_used_at.is_some(), "the scan recorded its use");

    // /connections shows it; in another client's channel it is refused.
    let out = h.run("ana", "client-acme", "connections", "").await;
    let Outcome::Private(m) = out else {
        panic!("{out:?}")
    };
    let text = m.to_plain();
    assert!(
        text.contains("OAuth") && text.contains("@lee") && text.contains(&ends),
        "{text}"
    );
    let out = h.run("ana", "client-bluebird", "connections", "acme").await;
    let Outcome::Private(m) = out else {
        panic!("{out:?}")
    };
    assert!(m.to_plain().contains("belongs to acme"), "{}", m.to_plain());
}

#[tokio::test]
async fn a_link_works_once_for_ten_minutes_and_only_for_read_scopes() {
    let h = harness().await;
    // Used twice: the second time is refused, and nothing changes.
    let link = h.link("acme", "7d").await;
    let r = h
        .http
        .get(format!("{link}&sim_account=acme"))
        .send()
        .await
        .unwrap();
    let back = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(h.follow(&back).await.0, 200);
    h.settle("acme").await;
    let (status, page) = h.follow(&back).await;
    assert_eq!(status, 400);
    assert!(page.contains("already used"), "{page}");

    // Expired: approved 11 minutes later.
    let link = h.link("bluebird", "").await;
    h.stack.clock.advance(Duration::minutes(11));
    let r = h
        .http
        .get(format!("{link}&sim_account=bluebird"))
        .send()
        .await
        .unwrap();
    let back = r.headers()["location"].to_str().unwrap().to_owned();
    let (status, page) = h.follow(&back).await;
    assert_eq!(status, 400);
    assert!(page.contains("expired"), "{page}");
    assert!(
        h.stack
            .app
            .connections
            .grant(&slug("bluebird"))
            .await
            .unwrap()
            .is_none()
    );

    // A grant with a write scope is refused and revoked at Klaviyo.
    let link = h.link("cedar-co", "").await;
    let widened = link.replacen("lists%3Aread", "lists%3Aread+lists%3Awrite", 1);
    assert_ne!(widened, link, "the scope is in the link");
    let (status, page) = h.approve(&widened, "cedar-co").await;
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("lists:write") && page.contains("revoked"),
        "{page}"
    );
    assert!(
        h.stack
            .app
            .connections
            .grant(&slug("cedar-co"))
            .await
            .unwrap()
            .is_none()
    );
    let sim_grants = h.stack.sim.oauth_grants("cedar-co");
    assert_eq!(sim_grants.len(), 1);
    assert!(
        sim_grants[0].revoked,
        "the refused grant is revoked at Klaviyo"
    );

    // Declined at Klaviyo: the page says so and the link is used up.
    let link = h.link("cedar-co", "").await;
    let state = reqwest::Url::parse(&link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let cb = h.stack.app.config.connections.redirect_url();
    let (status, page) = h
        .follow(&format!("{cb}?error=access_denied&state={state}"))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Nothing was stored"), "{page}");
    let (status, _) = h.follow(&format!("{cb}?code=x&state={state}")).await;
    assert_eq!(status, 400, "a declined link cannot be used afterwards");

    // Who may connect: an account manager may not.
    let out = h.run("ana", "client-acme", "connect", "acme").await;
    let Outcome::Private(m) = out else {
        panic!("{out:?}")
    };
    assert!(m.to_plain().contains("lead"), "{}", m.to_plain());
}

#[tokio::test]
async fn tokens_refresh_one_at_a_time_and_idle_grants_stay_alive() {
    let h = harness().await;
    h.connect("acme", "90d").await;
    let acme = slug("acme");
    let before = h.stack.sim.oauth_grants("acme")[0].refreshes;
    // The access token expires within the hour: eight callers, one refresh.
    h.stack.clock.advance(Duration::minutes(58));
    let calls = (0..8).map(|_| h.stack.app.connections.credential(&acme, None));
    let creds = futures_util_join_all(calls).await;
    let first = creds[0].as_ref().unwrap().clone();
    for c in &creds {
        assert_eq!(c.as_ref().unwrap(), &first);
    }
    assert!(matches!(first, Credential::Bearer(_)));
    assert_eq!(h.stack.sim.oauth_grants("acme")[0].refreshes, before + 1);

    // No scans for 31 days: the sweep refreshes the idle grant.
    h.stack.clock.advance(Duration::days(31));
    h.stack.app.sweep_connections().await.unwrap();
    assert_eq!(h.stack.sim.oauth_grants("acme")[0].refreshes, before + 2);
    // And a scan still reads the account.
    let report = h.stack.app.scan(&acme, "test", None).await.unwrap();
    assert!(report.gaps.is_empty(), "{:?}", report.gaps);
}

/// Joins futures without another dependency.
async fn futures_util_join_all<F: std::future::Future>(
    fs: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in fs {
        set.push(Box::pin(f));
    }
    let mut out = Vec::new();
    // Polled together: each awaits its turn at the per-client refresh lock.
    let joined = futures_join(set).await;
    out.extend(joined);
    out
}

async fn futures_join<F: std::future::Future + Unpin>(mut fs: Vec<F>) -> Vec<F::Output> {
    use std::pin::Pin;
    use std::task::Poll;
    let mut done: Vec<Option<F::Output>> = fs.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (i, f) in fs.iter_mut().enumerate() {
            if done[i].is_none() {
                match Pin::new(f).poll(cx) {
                    Poll::Ready(v) => done[i] = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(done.iter_mut().map(|d| d.take().unwrap()).collect())
        }
    })
    .await
}

#[tokio::test]
async fn a_dead_grant_raises_one_finding_and_pauses_until_reconnected() {
    let h = harness().await;
    h.connect("acme", "90d").await;
    let acme = slug("acme");
    h.stack.sim.inject(Fault {
        brand: "acme".into(),
        kind: FaultKind::GrantRevoked,
        at: h.stack.clock.now(),
        until: None,
    });
    // The access token dies with the grant: 401, one refresh, invalid_grant.
    let report = h.stack.app.scan(&acme, "test", None).await.unwrap();
    let reauth: Vec<_> = report
        .active
        .iter()
        .filter(|f| f.check_id == TOKEN_REVOKED)
        .collect();
    assert_eq!(reauth.len(), 1, "{:?}", report.active);
    assert!(reauth[0].why.contains("/connect acme"), "{}", reauth[0].why);
    let g = h.stack.app.connections.grant(&acme).await.unwrap().unwrap();
    assert_eq!(g.status, Status::Reauth);
    assert!(
        !h.stack
            .app
            .connections
            .scannable(&acme, false)
            .await
            .unwrap()
    );

    // Later scans do not call Klaviyo or add findings.
    let calls = h.stack.sim.oauth_grants("acme")[0].refreshes;
    let again = h.stack.app.scan(&acme, "test", None).await.unwrap();
    assert_eq!(again.api_calls, 0);
    assert_eq!(
        again
            .active
            .iter()
            .filter(|f| f.check_id == TOKEN_REVOKED)
            .count(),
        1
    );
    assert_eq!(h.stack.sim.oauth_grants("acme")[0].refreshes, calls);
    let err = h
        .stack
        .app
        .connections
        .credential(&acme, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectionError::Paused { .. }), "{err}");
    assert!(err.to_string().contains("/connect acme"), "{err}");

    // Reconnected: the new grant works and the finding resolves at the next scan.
    h.stack.sim.clear("acme", FaultKind::GrantRevoked);
    let link = h.link("acme", "").await;
    assert_eq!(h.approve(&link, "acme").await.0, 200);
    for _ in 0..500 {
        let mut db = h.stack.app.store.conn().await.unwrap();
        let open = Findings::active(&mut db, Some(&acme), None).await.unwrap();
        drop(db);
        if !open.iter().any(|f| f.check_id == TOKEN_REVOKED) && !h.stack.app.is_scanning(&acme) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the reauth finding did not resolve after reconnecting");
}

#[tokio::test]
async fn grants_remind_then_end_and_disconnect_revokes() {
    let h = harness().await;
    h.connect("acme", "30d").await;
    h.connect("bluebird", "90d").await;
    let acme = slug("acme");
    let reminders =
        |posts: &[String], what: &str| posts.iter().filter(|p| p.contains(what)).count();

    h.stack
        .clock
        .advance(Duration::days(23) + Duration::hours(1));
    h.stack.app.sweep_connections().await.unwrap();
    h.stack.app.sweep_connections().await.unwrap();
    let posts = h.posts("client-acme").await;
    assert_eq!(reminders(&posts, "ends in 7 days"), 1, "{posts:?}");
    assert!(
        posts
            .iter()
            .any(|p| p.contains("ends in 7 days") && p.contains("@ana")),
        "the owner is mentioned: {posts:?}"
    );

    h.stack.clock.advance(Duration::days(6));
    h.stack.app.sweep_connections().await.unwrap();
    let posts = h.posts("client-acme").await;
    assert_eq!(reminders(&posts, "ends tomorrow"), 1, "{posts:?}");

    h.stack.clock.advance(Duration::days(1));
    h.stack.app.sweep_connections().await.unwrap();
    h.stack.app.sweep_connections().await.unwrap();
    let posts = h.posts("client-acme").await;
    assert_eq!(reminders(&posts, "ended today"), 1, "{posts:?}");
    assert!(
        !h.stack
            .app
            .connections
            .scannable(&acme, false)
            .await
            .unwrap()
    );
    assert!(
        h.stack.sim.oauth_grants("acme")[0].revoked,
        "ended grants are revoked"
    );
    assert!(h.stack.app.scan(&acme, "test", None).await.is_err());
    // Bluebird's grant runs on.
    let bluebird = h.posts("client-bluebird").await;
    assert!(
        bluebird
            .iter()
            .all(|p| !p.contains("ends in") && !p.contains("tomorrow") && !p.contains("ended")),
        "{bluebird:?}"
    );

    // /disconnect revokes at Klaviyo and deletes the tokens at once.
    let out = h
        .run("lee", "client-bluebird", "disconnect", "bluebird")
        .await;
    let Outcome::Private(m) = out else {
        panic!("{out:?}")
    };
    assert!(
        m.to_plain().contains("revoked at Klaviyo"),
        "{}",
        m.to_plain()
    );
    assert!(h.stack.sim.oauth_grants("bluebird")[0].revoked);
    let mut db = h.stack.app.store.conn().await.unwrap();
    let left = lookout::store::secrets::all(&mut db).await.unwrap();
    assert!(left.iter().all(|r| r.client != "bluebird"), "{left:?}");
    drop(db);
    assert!(matches!(
        h.stack
            .app
            .connections
            .credential(&slug("bluebird"), None)
            .await,
        Err(ConnectionError::NotConnected(_))
    ));
    let posts = h.posts("client-bluebird").await;
    assert!(
        posts
            .iter()
            .any(|p| p.contains("disconnected by") && p.contains("@lee")),
        "{posts:?}"
    );
}

/// Collects everything logged, at every level, while a test runs.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_token_in_the_database_file_logs_chat_or_errors() {
    let logs = Logs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lookout.db");
    let store = Store::open_file(&db).await.unwrap();
    let h = harness_with(Some(store)).await;
    h.connect("acme", "30d").await;
    // A refresh, an error and a disconnect pass tokens around too.
    h.stack.clock.advance(Duration::minutes(59));
    h.stack.app.scan(&slug("acme"), "test", None).await.unwrap();
    h.connect("bluebird", "").await;
    h.stack.sim.inject(Fault {
        brand: "bluebird".into(),
        kind: FaultKind::GrantRevoked,
        at: h.stack.clock.now(),
        until: None,
    });
    h.stack.clock.advance(Duration::minutes(61));
    let report = h
        .stack
        .app
        .scan(&slug("bluebird"), "test", None)
        .await
        .unwrap();
    let errors: String = report.gaps.join(" ")
        + &report
            .active
            .iter()
            .map(|f| f.why.clone())
            .collect::<String>();
    h.run("lee", "client-acme", "disconnect", "acme").await;
    h.connect("cedar-co", "").await;

    // Sealed secrets exist, so the search below looks where tokens would be.
    let mut conn = h.stack.app.store.conn().await.unwrap();
    let sealed = lookout::store::secrets::all(&mut conn).await.unwrap();
    drop(conn);
    assert!(
        sealed.iter().any(|r| r.purpose == "refresh-token"),
        "{sealed:?}"
    );
    assert!(sealed.iter().all(|r| r.sealed.starts_with("lk1.")));

    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.to_string_lossy().contains("lookout.db") {
            bytes.extend(std::fs::read(&p).unwrap());
        }
    }
    let db_text = String::from_utf8_lossy(&bytes);
    let chat: String = h.chat.transcript().iter().map(|e| e.text.clone()).collect();
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logged.contains("refreshed the Klaviyo access token"),
        "trace logs were captured"
    );
    for (place, text) in [
        ("database", db_text.as_ref()),
        ("chat", chat.as_str()),
        ("logs", logged.as_str()),
        ("errors", errors.as_str()),
    ] {
        for token in ["sim_at_", "sim_rt_"] {
            assert!(
                !text.contains(token),
                "a {token} token appears in the {place}"
            );
        }
    }
}

#[tokio::test]
async fn the_demo_connects_its_clients_by_oauth_and_stores_no_plaintext_secret() {
    let dir = tempfile::tempdir().unwrap();
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let opts = lookout::demo::DemoOptions {
        history_days: 3,
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let live = lookout::demo::go_live(&opts, chat, false).await.unwrap();
    let app = live.stack.app.clone();
    let grants = app.connections.grants().await.unwrap();
    assert_eq!(grants.len(), app.clients.len(), "every client is connected");
    for g in &grants {
        assert_eq!(g.method, lookout::connections::Method::OAuth);
        assert_eq!(g.granted_by, Some(PersonRef::console("lee")));
        assert_eq!(g.status, Status::Active);
    }
    // Scans in the live part use the grants made in the past.
    let report = app.scan(&slug("acme"), "test", None).await.unwrap();
    assert!(report.gaps.is_empty(), "{:?}", report.gaps);
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.to_string_lossy().contains("lookout.db") {
            bytes.extend(std::fs::read(&p).unwrap());
        }
    }
    assert!(bytes.len() > 10_000, "the database is in the directory");
    let text = String::from_utf8_lossy(&bytes);
    for secret in ["sim_at_", "sim_rt_", "pk_sim_"] {
        assert!(!text.contains(secret), "{secret} in the demo's database");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn access_review_on_demand_for_admins_and_weekly_in_the_agency_channel() {
    let h = harness().await;
    h.connect("acme", "7d").await;
    // A lead may not; an admin sees it in the agency channel, not in a client's.
    let out = h.run("lee", "agency", "access-review", "").await;
    let Outcome::Private(m) = out else {
        panic!("{out:?}")
    };
    assert!(m.to_plain().contains("admin"), "{}", m.to_plain());
    let out = h.run("you", "client-acme", "access-review", "").await;
    let Outcome::Private(m) = out else {
        panic!("{out:?}")
    };
    assert!(
        m.to_plain().contains("covers every client"),
        "{}",
        m.to_plain()
    );
    let out = h.run("you", "agency", "access-review", "").await;
    let Outcome::Public(m) = out else {
        panic!("{out:?}")
    };
    let text = m.to_plain();
    for expected in [
        "need attention",
        "acme: access ends on",
        "bluebird: not connected",
        "@lee (lead)",
        "owner of acme",
        "No activity in 60 days",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from {text}");
    }
    let (found, _) = h
        .stack
        .app
        .access_review(lookout::message::Platform::Console)
        .await
        .unwrap();
    assert_eq!(found.ending_soon, vec![slug("acme")]);
    assert_eq!(found.unreachable, vec![slug("bluebird"), slug("cedar-co")]);
    // ana, bo and lee's Slack self have done nothing yet; lee and you have.
    assert_eq!(
        found.inactive,
        vec![
            PersonRef::console("ana"),
            PersonRef::console("bo"),
            PersonRef::parse("slack:U0LEE").unwrap()
        ]
    );

    // Weekly: Monday from the digest hour (9:00 in New York), once.
    assert!(
        !h.stack.app.run_access_review().await.unwrap(),
        "7:00 is too early"
    );
    h.stack.clock.advance(Duration::hours(3));
    assert!(h.stack.app.run_access_review().await.unwrap());
    assert!(!h.stack.app.run_access_review().await.unwrap());
    let posts = h.posts("agency").await;
    assert_eq!(
        posts.iter().filter(|p| p.contains("Access review")).count(),
        1,
        "{posts:?}"
    );
    h.stack.clock.advance(Duration::days(7));
    assert!(h.stack.app.run_access_review().await.unwrap());
}

#[tokio::test]
async fn a_private_key_goes_through_a_private_form_only() {
    let h = harness().await;
    let d = Dispatcher::new(h.stack.app.clone());
    let slack_lee = Actor {
        person: PersonRef::parse("slack:U0LEE").unwrap(),
        channel: ChannelRef::parse("slack:D0LEE").unwrap(),
    };
    // On Slack or Discord, /connect … key opens the private form.
    let out = d
        .handle(Inbound::Command {
            actor: slack_lee.clone(),
            name: "connect".into(),
            text: "acme key 30d".into(),
        })
        .await;
    let Outcome::OpenKeyDialog(dialog) = out else {
        panic!("{out:?}")
    };
    assert_eq!(dialog.client, slug("acme"));
    assert_eq!(dialog.ends_at, demo_start() + Duration::days(30));
    // The console has no private form: it says so and stores nothing.
    let out = h.run("lee", "client-acme", "connect", "acme key").await;
    let Outcome::Private(m) = out else {
        panic!("{out:?}")
    };
    assert!(m.to_plain().contains("private form"), "{}", m.to_plain());

    let submit = |who: Actor, key: &str| Inbound::KeySubmitted {
        actor: who,
        client: slug("acme"),
        ends_at: dialog.ends_at,
        key: lookout::config::Secret::new(key),
    };
    let real = h.stack.sim.brands()[0].api_key.clone();
    // A viewer's submission, a malformed key and a key Klaviyo refuses store nothing.
    let viewer = Actor {
        person: PersonRef::parse("slack:U0NOBODY").unwrap(),
        ..slack_lee.clone()
    };
    for (who, key, expect) in [
        (viewer, real.expose(), "lead"),
        (slack_lee.clone(), "hello", "not a Klaviyo private API key"),
        (
            slack_lee.clone(),
            "pk_0000000000000000000000",
            "Klaviyo refused that key",
        ),
    ] {
        let out = d.handle(submit(who, key)).await;
        let Outcome::Private(m) = out else {
            panic!("{out:?}")
        };
        assert!(m.to_plain().contains(expect), "{expect}: {}", m.to_plain());
        assert!(
            h.stack
                .app
                .connections
                .grant(&slug("acme"))
                .await
                .unwrap()
                .is_none()
        );
    }
    // The real key connects, sealed, and scans use it.
    let out = d.handle(submit(slack_lee.clone(), real.expose())).await;
    let Outcome::Private(m) = out else {
        panic!("{out:?}")
    };
    assert!(
        m.to_plain().contains("connected with a private key"),
        "{}",
        m.to_plain()
    );
    h.settle("acme").await;
    let g = h
        .stack
        .app
        .connections
        .grant(&slug("acme"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.method, lookout::connections::Method::Key);
    assert_eq!(g.granted_by, Some(slack_lee.person.clone()));
    let cred = h
        .stack
        .app
        .connections
        .credential(&slug("acme"), None)
        .await
        .unwrap();
    assert!(matches!(cred, Credential::ApiKey(_)));
    // The key is in no message, audit entry or stored row in the clear.
    let chat: String = h.chat.transcript().iter().map(|e| e.text.clone()).collect();
    assert!(!chat.contains(real.expose()));
    let mut db = h.stack.app.store.conn().await.unwrap();
    let since = demo_start() - Duration::days(1);
    let trail = lookout::audit::recent(&mut db, None, since, 100, 0)
        .await
        .unwrap();
    let sealed = lookout::store::secrets::all(&mut db).await.unwrap();
    drop(db);
    assert!(trail.iter().any(|r| r.entry.action == "modal connect key"));
    assert!(format!("{trail:?}").find(real.expose()).is_none());
    assert!(sealed.iter().all(|r| !r.sealed.contains(real.expose())));
}
