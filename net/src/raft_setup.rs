//! Raft on the runtime: open a node's storage, restore its state machine,
//! start (or restart) the node from what is on disk.

use std::sync::Arc;

use tessera_core::{Clock, SystemClock};
use tessera_raft::{RaftNode, Startup};
use tessera_storage::{FileSystem, StdFs};

use crate::{
    NetError, NodeConfig, NodeSetup, RaftAdapter, RaftApplication, RaftStore, RunningNode,
    RuntimeClock, TokioNetwork, start_node,
};

/// Opens node `config.node_id`'s storage under `config.data_dir` on `fs`,
/// restores `state_machine` from its latest snapshot, and starts the Raft
/// node from what the storage holds — or, if it holds nothing, as a member
/// of a new cluster whose voters are `config.peers`.
///
/// # Errors
///
/// [`NetError::Config`] for a bad configuration, [`NetError::Storage`] if
/// the storage cannot be opened (I/O, corruption), [`NetError::Startup`]
/// if the snapshot cannot be restored or the recovered state is
/// inconsistent.
pub fn raft_setup<S: RaftApplication>(
    config: &NodeConfig,
    mut state_machine: S,
    fs: Arc<dyn FileSystem>,
    clock: RuntimeClock,
) -> Result<NodeSetup<RaftAdapter<S>, RaftStore<S::Command>>, NetError> {
    config.validate()?;
    let raft_config = config.raft_config()?;
    let (store, recovered) = RaftStore::open(fs, &config.data_dir)?;
    let report = store.recovery_report();
    tracing::info!(
        node = config.node_id,
        records = report.records,
        fresh = recovered.is_empty(),
        "storage opened"
    );
    store
        .restore_state_machine(&mut state_machine, raft_config.snapshot_chunk_bytes)
        .map_err(|error| NetError::Startup {
            reason: error.to_string(),
        })?;
    // The seed only spreads election timeouts; a restarted node should not
    // repeat its previous life's choices.
    let seed = config.node_id ^ SystemClock::new().wall().as_unix_nanos().rotate_left(17);
    let now = clock.now();
    let startup = if recovered.is_empty() {
        let voters = config.peers.iter().map(|peer| peer.id).collect();
        Startup::bootstrap(config.node_id, seed, now, voters)
    } else {
        Startup::recover(config.node_id, seed, now, recovered)
    };
    let node = RaftNode::start(startup, raft_config, state_machine).map_err(|error| {
        NetError::Startup {
            reason: error.to_string(),
        }
    })?;
    Ok(NodeSetup {
        adapter: Arc::new(RaftAdapter::new()),
        node,
        store,
        clock,
    })
}

/// Starts a Raft node serving `state_machine` as `config` describes: its
/// storage on the real file system, TCP through tokio. The one call a
/// service built on Raft needs.
///
/// # Errors
///
/// As [`raft_setup`] and [`start_node`].
pub async fn start_raft_node<S: RaftApplication>(
    config: &NodeConfig,
    state_machine: S,
) -> Result<RunningNode<RaftAdapter<S>>, NetError> {
    let setup = raft_setup(config, state_machine, Arc::new(StdFs), RuntimeClock::new())?;
    start_node(config, setup, TokioNetwork).await
}
