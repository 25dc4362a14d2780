//! The binary's command line: the workload comes from the first argument,
//! the environment, or the executable's name; a missing or unknown one is
//! a one-line error and exit code 2 (Maelstrom then reports the node as
//! crashed at start, with that line in its log).

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_tessera-maelstrom");

fn run(args: &[&str], env: Option<&str>, input: &str) -> Output {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .env_remove("TESSERA_MAELSTROM_WORKLOAD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(workload) = env {
        command.env("TESSERA_MAELSTROM_WORKLOAD", workload);
    }
    let mut child = command.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    // A node that exits at once may have closed its stdin already.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    child.wait_with_output().expect("wait")
}

const INIT: &str = r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}
"#;

#[test]
fn a_missing_or_unknown_workload_is_exit_code_2() {
    for args in [
        &[][..],
        &["kafka"][..],
        &["lin-kv", "--snapshot-entries", "x"][..],
        &["lin-kv", "--snapshot-entries", "3"][..],
        &["lin-kv", "--election-timeout-ms", "2"][..],
    ] {
        let output = run(args, None, INIT);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "nothing on stdout but messages");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("usage: tessera-maelstrom")
                || stderr.contains("snapshot_entries")
                || stderr.contains("election_timeout"),
            "{stderr}"
        );
    }
    let output = run(&[], Some("nope"), INIT);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_workload_comes_from_the_argument_or_the_environment() {
    for (args, env) in [(&["g-set"][..], None), (&[][..], Some("g-set"))] {
        let input = format!(
            "{INIT}{}\n",
            r#"{"src":"c1","dest":"n1","body":{"type":"add","msg_id":2,"element":1}}"#
        );
        let output = run(args, env, &input);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert!(lines[0].contains(r#""type":"init_ok""#), "{stdout}");
        assert!(lines[1].contains(r#""type":"add_ok""#), "{stdout}");
    }
}
