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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PeerConfig, write_pbft_keys};

    fn config(dir: &std::path::Path, id: u64, nodes: u64) -> NodeConfig {
        let peers = (1..=nodes)
            .map(|id| PeerConfig {
                id,
                peer_address: format!("127.0.0.1:{}", 7000 + id),
                client_address: format!("127.0.0.1:{}", 7100 + id),
            })
            .collect();
        NodeConfig::new("test", id, dir.join(format!("node-{id}")), peers)
    }

    fn setup_error(config: &NodeConfig) -> String {
        match pbft_setup(
            config,
            crate::ReplicatedMap::default(),
            Arc::new(StdFs),
            RuntimeClock::new(),
        ) {
            Ok(_) => panic!("the setup should be refused"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_missing_or_foreign_key_file_and_too_few_nodes_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut node = config(dir.path(), 1, 4);
        assert!(
            setup_error(&node).contains("pbft.keys"),
            "no key file configured"
        );
        let paths = write_pbft_keys(&dir.path().join("keys"), &[1, 2, 3, 4], 2).expect("keys");
        node.pbft.gateway_clients = 2;
        node.pbft.keys = Some(paths[1].clone());
        let error = setup_error(&node);
        assert!(error.contains("not of this node 1"), "{error}");
        node.pbft.keys = Some(dir.path().join("missing.toml"));
        assert!(setup_error(&node).contains("cannot read"));
        node.pbft.keys = Some(paths[0].clone());
        assert!(
            pbft_setup(
                &node,
                crate::ReplicatedMap::default(),
                Arc::new(StdFs),
                RuntimeClock::new()
            )
            .is_ok()
        );
        let three = config(dir.path(), 1, 3);
        let error = setup_error(&three);
        assert!(
            error.contains("peers") && error.contains("3f + 1"),
            "{error}"
        );
    }
}
