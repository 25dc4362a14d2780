//! Every component's mode matrix obeys the laws of `check_mode_matrix`:
//! a Target mode exists and no mode promises more than Target, no mode
//! drops an invariant its Floor mode keeps, and every mode says how it is
//! entered and left. Each crate adds its mode types here.
//!
//! The guide prints the matrices, and a printed matrix must be exactly what
//! `render_mode_matrix` makes of the crate's data, so the guide cannot drift
//! from the code. A chapter marks each printed matrix:
//!
//! ```text
//! <!-- mode-matrix: RaftMode -->
//!
//! | mode | level | … the rendered table …
//!
//! <!-- /mode-matrix -->
//! ```
//!
//! where `RaftMode` is the type's name without its path. Running
//!
//! ```text
//! TESSERA_BLESS=1 cargo test -p tessera-tests --test mode_matrices
//! ```
//!
//! rewrites every marked block from the code. A type whose marker appears
//! in no chapter is only checked against the laws.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tessera_core::{Mode, check_mode_matrix, render_mode_matrix};

const BEGIN: &str = "<!-- mode-matrix: ";
const BEGIN_CLOSE: &str = " -->";
const END: &str = "<!-- /mode-matrix -->";
const BLESS_VAR: &str = "TESSERA_BLESS";
const BLESS_HINT: &str = "TESSERA_BLESS=1 cargo test -p tessera-tests --test mode_matrices";

/// Serializes the read-modify-write of chapters when blessing: a chapter
/// may print several matrices, each checked by its own test thread.
static DOCS: Mutex<()> = Mutex::new(());

/// Declares one test per mode type, and the list of the types checked.
macro_rules! mode_types {
    ($($test:ident => $mode:ty),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                assert_matrix::<$mode>();
            }
        )*

        /// The marker names of every mode type this file checks.
        fn checked_types() -> Vec<&'static str> {
            vec![$(short_name::<$mode>()),*]
        }
    };
}

mode_types! {
    simulator_fixture_modes => tessera_sim::fixture::primary_backup::PbMode,
    simulator_steady_modes => tessera_sim::fixture::Steady,
    clock_modes => tessera_hlc::ClockMode,
    leaderless_replication_modes => tessera_quorum::ReplicationMode,
    crdt_delta_sync_modes => tessera_crdt::SyncMode,
    storage_modes => tessera_storage::StorageMode,
    raft_modes => tessera_raft::RaftMode,
    multi_paxos_modes => tessera_paxos::PaxosMode,
    epaxos_modes => tessera_paxos::epaxos::EpaxosMode,
    pbft_modes => tessera_pbft::PbftMode,
}

/// The type's name without its module path: the name its markers use.
fn short_name<M>() -> &'static str {
    let full = std::any::type_name::<M>();
    full.rsplit("::").next().unwrap_or(full)
}

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

/// Every Markdown chapter of the guide, sorted by path.
fn chapters() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(docs_dir())
        .expect("docs/ is readable")
        .map(|entry| entry.expect("a docs/ entry is readable").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    paths.sort();
    paths
}

/// A marked block in a chapter: the byte range between the end of its
/// opening marker and the start of its closing one.
#[derive(Debug)]
struct Block {
    name: String,
    line: usize,
    body: std::ops::Range<usize>,
}

/// The first occurrence of `pattern` at or after `from` that starts a
/// line: a marker quoted in running text (in backticks) is not a marker.
fn find_at_line_start(text: &str, from: usize, pattern: &str) -> Option<usize> {
    let mut at = from;
    while let Some(offset) = text[at..].find(pattern) {
        let found = at + offset;
        if found == 0 || text[..found].ends_with('\n') {
            return Some(found);
        }
        at = found + pattern.len();
    }
    None
}

/// The marked blocks of `text`, or what is malformed about them. Markers
/// start a line.
fn blocks(text: &str) -> Result<Vec<Block>, String> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(start) = find_at_line_start(text, from, BEGIN) {
        let line = text[..start].lines().count() + 1;
        let name_start = start + BEGIN.len();
        let Some(name_len) = text[name_start..].find(BEGIN_CLOSE) else {
            return Err(format!(
                "line {line}: the opening marker is not closed with `-->`"
            ));
        };
        let name = text[name_start..name_start + name_len].trim().to_string();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!(
                "line {line}: `{name}` is not a type name (write `{BEGIN}TypeName{BEGIN_CLOSE}`)"
            ));
        }
        let body_start = name_start + name_len + BEGIN_CLOSE.len();
        let Some(body_end) = find_at_line_start(text, body_start, END) else {
            return Err(format!(
                "line {line}: the block of `{name}` has no closing `{END}`"
            ));
        };
        if find_at_line_start(text, body_start, BEGIN).is_some_and(|next| next < body_end) {
            return Err(format!(
                "line {line}: the block of `{name}` contains another opening marker before its `{END}`"
            ));
        }
        found.push(Block {
            name,
            line,
            body: body_start..body_end,
        });
        from = body_end + END.len();
    }
    if let Some(orphan) = find_at_line_start(text, from, END) {
        let line = text[..orphan].lines().count() + 1;
        return Err(format!("line {line}: `{END}` without an opening marker"));
    }
    Ok(found)
}

/// The laws, and every chapter block of `M` against the rendered matrix.
fn assert_matrix<M: Mode>() {
    if let Err(violation) = check_mode_matrix::<M>() {
        panic!("{}: {violation}", std::any::type_name::<M>());
    }
    let table = render_mode_matrix::<M>();
    assert_eq!(table.lines().count(), M::all().len() + 2);
    check_chapters(short_name::<M>(), &table);
}

/// Checks (or, with `TESSERA_BLESS=1`, rewrites) every block marked for
/// `name` in the guide. No block at all is not an error: the type is then
/// only checked against the laws.
fn check_chapters(name: &str, table: &str) {
    let bless = std::env::var_os(BLESS_VAR).is_some_and(|v| v == "1");
    let canonical = format!("\n\n{}\n\n", table.trim_end());
    let _guard = DOCS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut stale = Vec::new();
    let mut printed = 0;
    for path in chapters() {
        let text = fs::read_to_string(&path).expect("a chapter is readable");
        let found = blocks(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let mut rewritten = text.clone();
        // Back to front, so earlier ranges stay valid while rewriting.
        for block in found.iter().rev().filter(|b| b.name == name) {
            printed += 1;
            if text[block.body.clone()].trim() == table.trim() {
                continue;
            }
            if bless {
                rewritten.replace_range(block.body.clone(), &canonical);
            } else {
                stale.push(format!("{}:{}", path.display(), block.line));
            }
        }
        if bless && rewritten != text {
            fs::write(&path, rewritten).expect("a chapter is writable");
        }
    }
    if printed == 0 {
        eprintln!("{name}: no chapter prints this matrix (add `{BEGIN}{name}{BEGIN_CLOSE}`)");
    }
    assert!(
        stale.is_empty(),
        "the mode matrix of {name} printed at {} differs from the code's; \
         regenerate it with `{BLESS_HINT}`, or replace the block with:\n{table}",
        stale.join(", ")
    );
}

/// A marker naming a type nobody checks would hide a stale table: every
/// marker must name a mode type this file checks.
#[test]
fn every_marker_names_a_checked_mode_type() {
    let known = checked_types();
    for path in chapters() {
        let text = fs::read_to_string(&path).expect("a chapter is readable");
        let found = blocks(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        for block in found {
            assert!(
                known.contains(&block.name.as_str()),
                "{}:{}: `{}` is not a mode type checked by tests/tests/mode_matrices.rs \
                 (known: {})",
                path.display(),
                block.line,
                block.name,
                known.join(", ")
            );
        }
    }
}

#[test]
fn short_names_are_distinct() {
    let mut names = checked_types();
    names.sort_unstable();
    let count = names.len();
    names.dedup();
    assert_eq!(names.len(), count, "two mode types share a marker name");
}

#[test]
fn malformed_markers_are_reported() {
    let unclosed = format!("a\n{BEGIN}RaftMode{BEGIN_CLOSE}\n| table |\n");
    let error = blocks(&unclosed).expect_err("no closing marker");
    assert!(error.starts_with("line 2:"), "{error}");
    let orphan = format!("{END}\n");
    assert!(blocks(&orphan).is_err());
    let nested = format!("{BEGIN}A{BEGIN_CLOSE}\n{BEGIN}B{BEGIN_CLOSE}\n{END}\n{END}\n");
    assert!(blocks(&nested).is_err());
    let good =
        format!("x\n{BEGIN}A{BEGIN_CLOSE}\n\n| t |\n\n{END}\ny\n{BEGIN}B{BEGIN_CLOSE}\n{END}");
    let found = blocks(&good).expect("two well-formed blocks");
    assert_eq!(found.len(), 2);
    assert_eq!((found[0].name.as_str(), found[0].line), ("A", 2));
    assert_eq!(good[found[0].body.clone()].trim(), "| t |");
    assert_eq!(found[1].name, "B");
    // Quoted in running text, a marker is not one.
    let quoted = format!("print it between `{BEGIN}A{BEGIN_CLOSE}` and `{END}`\n");
    assert!(blocks(&quoted).expect("no marker").is_empty());
}
