//! The guide's chapter stays true to the code: its mode matrix is the one
//! the crate's data renders.

// A test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use tessera_core::render_mode_matrix;
use tessera_storage::StorageMode;

// Rule: docs/durability.md prints the mode matrix exactly as the data says.
#[test]
fn the_guide_prints_the_current_mode_matrix() {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/durability.md"
    ))
    .unwrap();
    let table = render_mode_matrix::<StorageMode>();
    assert!(
        guide.contains(&table),
        "docs/durability.md's mode matrix is out of date; it should read:\n{table}"
    );
}
