//! The `lookout demo` binary as a newcomer runs it: commands typed at the
//! terminal, faults found within a minute, a clean exit on Ctrl-C or after
//! `--exit-after`.

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

/// Lines the demo printed so far, read by a thread as they come (its logs
/// are drained too, so a full pipe never blocks it).
fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Sends Ctrl-C and waits up to 20 s for a clean exit.
fn ctrl_c(child: &mut std::process::Child) {
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
}

#[test]
fn the_demo_finds_its_faults_answers_commands_and_stops_on_ctrl_c() {
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = demo(&[]);
    let mut stdin = child.stdin.take().unwrap();
    let rx = lines_of(&mut child);
    writeln!(
        stdin,
        "/help\n/sacn acme\n/snooze F-1\n#client-acme /findings\n/portfolio"
    )
    .unwrap();
    let expected = [
        "Unknown command `/sacn`. Did you mean `/scan`?",
        "`/snooze` needs <for>",
        "History: 90 simulated days replayed",
        "stopped (now draft)",
        "No Placed Order events for",
        "[Acknowledge] [Snooze] [Resolve]",
    ];
    // The replayed history takes its share first (10-40 s in a debug build);
    // the live faults are found within a minute of it on a quiet machine.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut lines: Vec<String> = Vec::new();
    let found_all = |lines: &[String]| {
        let text = lines.join("\n");
        let fjord = text
            .split("── ")
            .any(|b| b.starts_with("#client-fjord") && b.contains("Bounce rate"));
        fjord && expected.iter().all(|e| text.contains(e))
    };
    while Instant::now() < deadline && !found_all(&lines) {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(l);
        }
    }
    ctrl_c(&mut child);
    lines.extend(rx.try_iter());
    let text = lines.join("\n");
    for e in expected.iter().chain(&["Lookout demo stopped. Bye."]) {
        assert!(text.contains(e), "missing {e:?} in:\n{text}");
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
fn exit_after_stops_the_demo_by_itself() {
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let child = demo(&["--history-days", "0", "--exit-after", "10"]);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Without history the clients are connected live, each in its channel.
    assert!(
        text.contains("connected by @lee, read-only (OAuth)"),
        "{text}"
    );
    assert!(text.contains("Lookout demo stopped. Bye."), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}
