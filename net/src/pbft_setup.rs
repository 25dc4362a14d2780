//! PBFT on the runtime: load a node's keys, open its storage and boot its
//! gateway replica from what is on disk.

use std::sync::Arc;

use tessera_pbft::Gateway;
use tessera_storage::{FileSystem, StdFs};

use crate::{
    ConfigError, NetError, NodeConfig, NodeSetup, PbftAdapter, PbftApplication, PbftMachine,
    PbftStore, RunningNode, RuntimeClock, TokioNetwork, load_pbft_keys, start_node,
};

/// Loads node `config.node_id`'s PBFT keys (`config.pbft.keys`), opens its
/// storage under `config.data_dir` on `fs` and boots its [`Gateway`] from
/// what it holds — the newest checkpoint restored into `state_machine`,
/// the committed batches after it executed again, its gateway's
/// identities starting after the last timestamp reserved — or, if it
/// holds nothing, as a replica of a new cluster whose replicas are
/// `config.peers` (`n = 3f + 1 ≥ 4`), tuned by `config.pbft`.
///
/// # Errors
///
/// [`NetError::Config`] for a bad configuration (fewer than four peers, no
/// `pbft.keys`), [`NetError::Certificate`] for a key file that is missing
/// or wrong, [`NetError::Storage`] if the storage cannot be opened,
/// [`NetError::Startup`] if the durable state does not recover.
pub fn pbft_setup<S: PbftApplication>(
    config: &NodeConfig,
    state_machine: S,
    fs: Arc<dyn FileSystem>,
    clock: RuntimeClock,
) -> Result<NodeSetup<PbftAdapter<S>, PbftStore>, NetError> {
    config.validate()?;
    let pbft_config = config.pbft_config()?;
    let keys_path = config.pbft.keys.as_ref().ok_or_else(|| {
        ConfigError::new(
            "pbft.keys",
            "required to run PBFT: the node's key file (tessera-node init --protocol pbft writes one)",
        )
    })?;
    let keys = load_pbft_keys(
        keys_path,
        config.node_id,
        pbft_config.replicas(),
        config.pbft.gateway_clients,
    )?;
    let (store, recovered, reserved_through) = PbftStore::open(fs, &config.data_dir)?;
    tracing::info!(
        node = config.node_id,
        records = recovered.records.len(),
        checkpoint = recovered.snapshot.as_ref().map(|(seq, _)| *seq),
        reserved_through,
        "storage opened"
    );
    let startup = |error: tessera_pbft::PbftError| NetError::Startup {
        reason: error.to_string(),
    };
    let node = Gateway::recover(
        pbft_config.clone(),
        keys.replica,
        keys.gateway,
        PbftMachine::new(state_machine),
        recovered,
        reserved_through,
        clock.now(),
    )
    .and_then(|gateway| gateway.with_options(config.pbft.gateway_options()))
    .map_err(startup)?;
    Ok(NodeSetup {
        adapter: Arc::new(PbftAdapter::new(pbft_config)),
        node,
        store,
        clock,
    })
}

/// Starts a PBFT node serving `state_machine` as `config` describes: its
/// storage on the real file system, TCP through tokio.
///
/// # Errors
///
/// As [`pbft_setup`] and [`start_node`].
pub async fn start_pbft_node<S: PbftApplication>(
    config: &NodeConfig,
    state_machine: S,
) -> Result<RunningNode<PbftAdapter<S>>, NetError> {
    let setup = pbft_setup(config, state_machine, Arc::new(StdFs), RuntimeClock::new())?;
    start_node(config, setup, TokioNetwork).await
}
