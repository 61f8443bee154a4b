//! The `lookout demo` binary as a newcomer runs it: commands typed at the
//! terminal, faults found within a minute, a clean exit on Ctrl-C.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One demo at a time: two at once on a 2-core machine halve the speed of
/// each, and the timed one's simulated hours run ahead of its scans.
static ONE_DEMO: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn demo(extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("demo")
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

#[test]
fn the_demo_finds_its_faults_within_a_minute_and_answers_commands() {
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    // The replayed history takes its share first (about 10-20 s in a debug build).
    let mut child = demo(&["--exit-after", "120"]);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(
        stdin,
        "/help\n/sacn acme\n/snooze F-1\n#client-acme /findings\n/portfolio"
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "Unknown command `/sacn`. Did you mean `/scan`?",
        "`/snooze` needs <for>",
        "History: 90 simulated days replayed",
        "stopped (now draft)",
        "No Placed Order events for",
        "[Acknowledge] [Snooze] [Resolve]",
        "Lookout demo stopped. Bye.",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // Findings land in their own client's channel.
    let stopped = text
        .split("── ")
        .find(|b| b.contains("stopped (now draft)"))
        .unwrap();
    assert!(stopped.starts_with("#client-dune-supply"), "{stopped}");
    // fjord's bounce spike is found, in fjord's channel: posted at once when it
    // is already critical, or in its triage digest while it is a warning.
    assert!(
        text.split("── ")
            .any(|b| b.starts_with("#client-fjord") && b.contains("Bounce rate")),
        "no bounce finding in fjord's channel:\n{text}"
    );
}

#[test]
fn ctrl_c_stops_the_demo_cleanly() {
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = demo(&[]);
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            let ready = l.contains("Injected faults");
            seen.push(l);
            if ready {
                break;
            }
        }
    }
    assert!(
        seen.iter().any(|l| l.contains("Injected faults")),
        "demo never got going: {seen:?}"
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "demo did not stop within 20 s of Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("Bye")),
        "no goodbye after Ctrl-C: {rest:?}"
    );
}
