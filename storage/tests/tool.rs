//! The `tessera-wal` inspection tool, run as an operator would.

// A test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use tessera_storage::{LogPosition, StdFs, StorageError, Wal, WalOptions, inspect_log};

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera-wal"))
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn options() -> WalOptions {
    WalOptions {
        segment_bytes_max: 600,
        record_bytes_max: 200,
        ..WalOptions::default()
    }
}

fn make_log(dir: &Path) {
    let (wal, _) = Wal::open(Arc::new(StdFs), dir, options()).unwrap();
    for n in 1..=30u8 {
        wal.append(u64::from(n / 10 + 1), &[n; 40]).unwrap();
    }
    wal.purge_to(LogPosition::new(3, 1)).unwrap();
    wal.save_hard_state(b"hard".to_vec()).unwrap();
    wal.close().unwrap();
}

// Rule: the tool shows every segment and record of a healthy log, and
// verify succeeds.
#[test]
fn inspects_a_healthy_log() {
    let dir = tempfile::tempdir().unwrap();
    make_log(dir.path());
    let path = dir.path().to_str().unwrap();
    let output = tool(&["inspect", path, "--records"]);
    assert!(output.status.success());
    let shown = text(&output);
    assert!(shown.contains("purged through lsn 3 (term 1)"), "{shown}");
    assert!(shown.contains("hard state: 4 bytes"), "{shown}");
    assert!(
        shown.contains("segment-00000000000000000001.wal"),
        "{shown}"
    );
    assert!(shown.contains("lsn 30"), "{shown}");
    assert!(shown.contains("no problems found"), "{shown}");
    assert!(tool(&["verify", path]).status.success());
    let dumped = text(&tool(&["dump", path, "7"]));
    assert!(dumped.starts_with("lsn 7 term 1"), "{dumped}");
    assert!(dumped.contains("07 07 07"), "{dumped}");
}

// Rule: the tool names the damaged file and offset, and `cut` at that
// offset lets the log open again with everything before it.
#[test]
fn finds_damage_and_cuts_the_log_there() {
    let dir = tempfile::tempdir().unwrap();
    make_log(dir.path());
    let inspection = inspect_log(&StdFs, dir.path(), true).unwrap();
    let segment = &inspection.segments[2];
    let record = &segment.records[1];
    let mut bytes = std::fs::read(&segment.file).unwrap();
    bytes[record.offset as usize + 40] ^= 1;
    std::fs::write(&segment.file, &bytes).unwrap();
    let error = Wal::open(Arc::new(StdFs), dir.path(), options()).unwrap_err();
    assert!(matches!(error, StorageError::Corruption { .. }), "{error}");

    let path = dir.path().to_str().unwrap();
    let output = tool(&["verify", path]);
    assert!(!output.status.success());
    let name = segment.file.file_name().unwrap().to_str().unwrap();
    let expected = format!("{name}: offset {}: checksum mismatch", record.offset);
    assert!(text(&output).contains(&expected), "{}", text(&output));

    let offset = record.offset.to_string();
    assert!(tool(&["cut", path, name, &offset]).status.success());
    let (wal, _) = Wal::open(Arc::new(StdFs), dir.path(), options()).unwrap();
    assert_eq!(wal.last_lsn(), record.lsn - 1);
    assert!(tool(&["verify", path]).status.success());
    assert_eq!(tool(&["nonsense"]).status.code(), Some(2));
}
