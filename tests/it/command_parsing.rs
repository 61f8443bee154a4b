//! Command parsing from the outside: every declared example, every error's exact
//! wording, the umbrella form, `/help`, and arbitrary input.

use chrono::{Duration, NaiveDate};
use lookout::commands::parse::{ParseError, parse_line, parse_parts};
use lookout::commands::spec::{help_text, spec, specs};
use lookout::commands::{ArgValue, Command, SnoozeSpec};
use lookout::domain::{ClientSlug, FindingId, Severity};
use rand::{Rng, SeedableRng};

fn err(line: &str) -> String {
    match parse_line(line) {
        Ok(c) => panic!("{line:?} parsed as {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_declared_example_parses() {
    for s in specs() {
        for example in &s.examples {
            // Examples are written as typed at the console; its adapter decodes `#x` and `@x`.
            match parse_line(&lookout::chat::console::decode_mentions(example)) {
                Ok(command) => assert_eq!(command.name(), s.name, "{example}"),
                Err(e) => panic!("{example}: {e}"),
            }
        }
    }
}

#[test]
fn examples_parse_to_the_expected_values() {
    let acme = ClientSlug::parse("acme").unwrap();
    assert_eq!(
        parse_line("/scan acme"),
        Ok(Command::new("scan").arg("client", ArgValue::Client(acme.clone())))
    );
    assert_eq!(
        parse_line("/findings acme warning"),
        Ok(Command::new("findings")
            .arg("client", ArgValue::Client(acme))
            .arg("severity", ArgValue::Severity(Severity::Warning)))
    );
    assert_eq!(parse_line("/findings"), Ok(Command::new("findings")));
    assert_eq!(
        parse_line("/ack 12"),
        Ok(Command::new("ack").arg("finding", ArgValue::Finding(FindingId(12))))
    );
    assert_eq!(
        parse_line("/snooze F-12 4h"),
        Ok(Command::new("snooze")
            .arg("finding", ArgValue::Finding(FindingId(12)))
            .arg("for", ArgValue::Snooze(SnoozeSpec::For(Duration::hours(4)))))
    );
    assert_eq!(
        parse_line("/snooze f-12 2026-12-01"),
        Ok(Command::new("snooze")
            .arg("finding", ArgValue::Finding(FindingId(12)))
            .arg(
                "for",
                ArgValue::Snooze(SnoozeSpec::UntilDate(
                    NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
                ))
            ))
    );
    assert_eq!(
        parse_line("/snooze F-12 until-worse"),
        Ok(Command::new("snooze")
            .arg("finding", ArgValue::Finding(FindingId(12)))
            .arg("for", ArgValue::Snooze(SnoozeSpec::UntilWorse)))
    );
    assert_eq!(
        parse_line("/resolve F-12 restarted the welcome flow"),
        Ok(Command::new("resolve")
            .arg("finding", ArgValue::Finding(FindingId(12)))
            .arg(
                "reason",
                ArgValue::Text("restarted the welcome flow".to_owned())
            ))
    );
    assert_eq!(
        parse_line("/note F-12 client is  migrating ESPs"),
        Ok(Command::new("note")
            .arg("finding", ArgValue::Finding(FindingId(12)))
            .arg(
                "text",
                ArgValue::Text("client is  migrating ESPs".to_owned())
            ))
    );
    assert_eq!(
        parse_line("/notes F-12"),
        Ok(Command::new("notes").arg("finding", ArgValue::Finding(FindingId(12))))
    );
    assert_eq!(parse_line("/portfolio"), Ok(Command::new("portfolio")));
    assert_eq!(
        parse_line("/help snooze"),
        Ok(Command::new("help").arg("command", ArgValue::Command("snooze".to_owned())))
    );
}

#[test]
fn umbrella_form_reaches_every_command() {
    for s in specs() {
        let example = &s.examples[0];
        let umbrella = format!("/lookout {}", example.trim_start_matches('/'));
        assert_eq!(parse_line(&umbrella), parse_line(example), "{umbrella}");
        let rest = example.trim_start_matches('/');
        assert_eq!(parse_parts("lookout", rest), parse_line(example), "{rest}");
    }
    assert_eq!(parse_line("  lookout   "), Ok(Command::new("help")));
}

#[test]
fn slack_and_discord_parts_match_typed_lines() {
    assert_eq!(
        parse_parts("snooze", "F-12 4h"),
        parse_line("/snooze F-12 4h")
    );
    assert_eq!(parse_parts("/portfolio", ""), Ok(Command::new("portfolio")));
    assert_eq!(parse_parts("", "anything"), Err(ParseError::Empty));
}

#[test]
fn empty_input_says_what_to_type() {
    assert_eq!(parse_line(""), Err(ParseError::Empty));
    assert_eq!(parse_line("   \t\n"), Err(ParseError::Empty));
    assert_eq!(parse_line("/"), Err(ParseError::Empty));
    assert_eq!(
        err(" "),
        "Type a command, e.g. `/findings` or `/scan acme`. Type /help for the list."
    );
}

#[test]
fn unknown_command_suggests_a_close_name() {
    assert_eq!(
        err("/sacn acme"),
        "Unknown command `/sacn`. Did you mean `/scan`? Type /help for the list."
    );
    assert_eq!(
        err("/deploy acme"),
        "Unknown command `/deploy`. Type /help for the list."
    );
    assert_eq!(
        parse_line("snoze F-1 4h"),
        Err(ParseError::UnknownCommand {
            name: "snoze".to_owned(),
            suggestion: Some("snooze".to_owned())
        })
    );
}

#[test]
fn missing_argument_names_what_to_give() {
    assert_eq!(
        err("/snooze F-12"),
        "`/snooze` needs <for>: 1h, 4h, 1d, 7d, a date (2026-12-01) or until-worse. Usage: /snooze <finding> <for>"
    );
    assert_eq!(
        err("/scan"),
        "`/scan` needs <client>: a client's short name, e.g. acme. Usage: /scan <client>"
    );
    assert_eq!(
        err("/ack"),
        "`/ack` needs <finding>: the finding's id shown on its message, e.g. F-12. Usage: /ack <finding>"
    );
    assert_eq!(
        err("/note F-12"),
        "`/note` needs <text>: the note itself (the rest of the line). Usage: /note <finding> <text>"
    );
}

#[test]
fn bad_argument_says_what_was_wrong() {
    assert_eq!(
        err("/snooze F-12 forever"),
        "`/snooze` can't use that as <for>: every snooze ends, so `forever` is not allowed: use up to 30d or until-worse. Usage: /snooze <finding> <for>"
    );
    assert_eq!(
        err("/snooze F-12 45d"),
        "`/snooze` can't use that as <for>: `45d` is longer than 30 days: every snooze ends, so use up to 30d or until-worse. Usage: /snooze <finding> <for>"
    );
    assert_eq!(
        err("/snooze F-12 0h"),
        "`/snooze` can't use that as <for>: `0h` is no time at all: use 1h, 4h, 1d, 7d, a date (2026-12-01) or until-worse. Usage: /snooze <finding> <for>"
    );
    assert_eq!(
        err("/snooze F-12 later"),
        "`/snooze` can't use that as <for>: `later` is not a snooze length: use 1h, 4h, 1d, 7d, a date (2026-12-01) or until-worse. Usage: /snooze <finding> <for>"
    );
    assert_eq!(
        err("/ack G-7"),
        "`/ack` can't use that as <finding>: `G-7` is not a finding id: use the id shown on the finding, e.g. `F-12`. Usage: /ack <finding>"
    );
    assert_eq!(
        err("/scan Acme"),
        "`/scan` can't use that as <client>: `Acme` is not a client name: use 1-40 lowercase letters, digits or dashes (e.g. `acme`). Usage: /scan <client>"
    );
    assert_eq!(
        err("/findings acme urgent"),
        "`/findings` can't use that as <severity>: `urgent` is not a severity: use critical, warning or opportunity. Usage: /findings [client] [severity]"
    );
    assert!(parse_line("/ack F-0").is_err());
    assert!(parse_line("/ack -3").is_err());
}

#[test]
fn too_many_arguments_shows_the_extra_word() {
    assert_eq!(
        err("/ack F-12 now"),
        "`/ack` does not take `now`. Usage: /ack <finding>"
    );
    assert_eq!(
        err("/portfolio all"),
        "`/portfolio` does not take `all`. Usage: /portfolio"
    );
}

#[test]
fn hostile_words_are_cleaned_in_errors() {
    let e = err("/scan \x1b[2J`@channel`");
    assert_eq!(
        e,
        "`/scan` can't use that as <client>: `[2J@channel` is not a client name: use 1-40 lowercase letters, digits or dashes (e.g. `acme`). Usage: /scan <client>"
    );
}

#[test]
fn help_text_for_all_and_for_one() {
    let all = help_text(None).unwrap();
    assert!(all.starts_with("Lookout commands"));
    for s in specs() {
        assert!(all.contains(&format!("{} — {}", s.usage(), s.description)));
    }
    let one = help_text(Some("note")).unwrap();
    let note = spec("note").unwrap();
    assert!(one.starts_with("/note <finding> <text>\n"));
    assert!(one.contains(note.help.trim()));
    for example in &note.examples {
        assert!(one.contains(example.as_str()));
    }
    assert_eq!(
        help_text(Some("snoozee")).unwrap_err(),
        ParseError::UnknownCommand {
            name: "snoozee".to_owned(),
            suggestion: Some("snooze".to_owned())
        }
    );
}

#[test]
fn random_input_never_panics() {
    let pool: Vec<char> =
        " /-abcfhmdwz0123456789FG\t\"'`@\u{0}\u{1b}[\u{7f}\u{9b}é漢🙂\u{202E}\u{3000}"
            .chars()
            .collect();
    let names: Vec<String> = specs()
        .iter()
        .map(|s| format!("/{} ", s.name))
        .chain(["".to_owned(), "/lookout ".to_owned()])
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let mut parsed = 0;
    for _ in 0..5000 {
        let len = rng.random_range(0..80);
        let body: String = (0..len)
            .map(|_| pool[rng.random_range(0..pool.len())])
            .collect();
        let line = format!("{}{body}", names[rng.random_range(0..names.len())]);
        match parse_line(&line) {
            Ok(_) => parsed += 1,
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.contains('\n'), "{line:?} -> {msg:?}");
            }
        }
    }
    // The generator reaches valid commands too, not only errors.
    assert!(parsed > 0);
}
