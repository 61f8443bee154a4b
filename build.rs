//! Embeds every command declaration in `commands/` (one TOML file each), so
//! adding a command needs no list to be edited: the file is found here.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=commands");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("commands");
    // A build script has no one to report to but the build: a missing folder
    // or an unreadable file fails it with the reason.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the commands/ folder is readable")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    let mut out = String::from("&[\n");
    for n in &names {
        let _ = writeln!(
            out,
            "    ({n:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/commands/{n}\"))),"
        );
    }
    out.push(']');
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("command_sources.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
