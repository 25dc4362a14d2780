//! Multi-Paxos on the runtime: open a node's storage and boot the node
//! from what is on disk.

use std::sync::Arc;

use tessera_core::{Clock, SystemClock};
use tessera_paxos::multi::MultiPaxos;
use tessera_storage::{FileSystem, LogStore, StdFs};

use crate::{
    NetError, NodeConfig, NodeSetup, PaxosAdapter, PaxosApplication, PaxosStore, RunningNode,
    RuntimeClock, TokioNetwork, start_node,
};

/// Opens node `config.node_id`'s storage under `config.data_dir` on `fs`
/// and boots the Multi-Paxos node from what it holds (restoring its
/// latest snapshot into `state_machine`, replaying the log up to the
/// commit index it recorded, finishing an interrupted log rewrite) — or,
/// if it holds nothing, as a member of a new cluster whose acceptors are
/// `config.peers` (majority quorums), tuned by `config.paxos`.
///
/// A restarted node with leases on refuses every ballot for a lease plus
/// twice the clock offset (it forgot the leases it granted).
///
/// # Errors
///
/// [`NetError::Config`] for a bad configuration, [`NetError::Storage`] if
/// the storage cannot be opened (I/O, corruption), [`NetError::Startup`]
/// if the snapshot does not restore or the recovered state is
/// inconsistent.
pub fn paxos_setup<S: PaxosApplication>(
    config: &NodeConfig,
    state_machine: S,
    fs: Arc<dyn FileSystem>,
    clock: RuntimeClock,
) -> Result<NodeSetup<PaxosAdapter<S>, PaxosStore<S::Command>>, NetError> {
    config.validate()?;
    let paxos_config = config.paxos_config()?;
    let (store, disk) = PaxosStore::open(fs, &config.data_dir)?;
    let report = store.recovery_report();
    tracing::info!(
        node = config.node_id,
        records = report.records,
        fresh = disk.log.is_empty() && disk.log.hard_state().is_none(),
        "storage opened"
    );
    // The seed only spreads election timeouts; a restarted node should not
    // repeat its previous life's choices.
    let seed = config.node_id ^ SystemClock::new().wall().as_unix_nanos().rotate_left(17);
    let node = MultiPaxos::boot(paxos_config, &disk, state_machine, seed, clock.now()).map_err(
        |error| NetError::Startup {
            reason: error.to_string(),
        },
    )?;
    Ok(NodeSetup {
        adapter: Arc::new(PaxosAdapter::new()),
        node,
        store,
        clock,
    })
}

/// Starts a Multi-Paxos node serving `state_machine` as `config`
/// describes: its storage on the real file system, TCP through tokio.
///
/// # Errors
///
/// As [`paxos_setup`] and [`start_node`].
pub async fn start_paxos_node<S: PaxosApplication>(
    config: &NodeConfig,
    state_machine: S,
) -> Result<RunningNode<PaxosAdapter<S>>, NetError> {
    let setup = paxos_setup(config, state_machine, Arc::new(StdFs), RuntimeClock::new())?;
    start_node(config, setup, TokioNetwork).await
}
