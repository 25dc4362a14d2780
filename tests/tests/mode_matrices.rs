//! Every component's mode matrix obeys the laws of `check_mode_matrix`:
//! a Target mode exists and no mode promises more than Target, no mode
//! drops an invariant its Floor mode keeps, and every mode says how it is
//! entered and left. Each crate adds its mode types here.

use tessera_core::{Mode, check_mode_matrix, render_mode_matrix};

fn assert_matrix<M: Mode>() {
    if let Err(violation) = check_mode_matrix::<M>() {
        panic!("{}: {violation}", std::any::type_name::<M>());
    }
    let table = render_mode_matrix::<M>();
    assert_eq!(table.lines().count(), M::all().len() + 2);
}

#[test]
fn simulator_fixture_modes() {
    assert_matrix::<tessera_sim::fixture::primary_backup::PbMode>();
}

#[test]
fn leaderless_replication_modes() {
    assert_matrix::<tessera_quorum::ReplicationMode>();
}

#[test]
fn raft_modes() {
    assert_matrix::<tessera_raft::RaftMode>();
}

#[test]
fn crdt_delta_sync_modes() {
    assert_matrix::<tessera_crdt::SyncMode>();
}
