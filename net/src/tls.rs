//! Mutual TLS with rustls (ring provider, TLS 1.3 only): loading a node's
//! certificate material, and the identity rule — a node is who its
//! certificate names.
//!
//! Identities are DNS names in the certificates' subject alternative names:
//!
//! - node `N` of cluster `C`: `node-N.C.tessera` (and `C.tessera`, the name
//!   clients check when they connect to any node of the cluster);
//! - a client named `X`: `client-X.C.tessera`.
//!
//! Every certificate must chain to the cluster's CA. A node dialing peer
//! `N` accepts only a server certificate valid for `node-N.C.tessera`; a
//! node accepting a peer requires a client certificate and checks it names
//! the node id the peer claims.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tessera_core::NodeId;

use crate::{ClientAuth, NetError, TlsConfig};

/// The DNS name in node `id`'s certificate: `node-<id>.<cluster>.tessera`.
pub fn node_identity_name(cluster_id: &str, id: NodeId) -> String {
    format!("node-{id}.{cluster_id}.tessera")
}

/// The DNS name every node's certificate carries and clients check:
/// `<cluster>.tessera`.
pub fn cluster_identity_name(cluster_id: &str) -> String {
    format!("{cluster_id}.tessera")
}

/// The DNS name in the certificate of the client called `name`:
/// `client-<name>.<cluster>.tessera`.
pub fn client_identity_name(cluster_id: &str, name: &str) -> String {
    format!("client-{name}.{cluster_id}.tessera")
}

/// Whether `certificate` is valid for node `id` of `cluster_id` (its chain
/// to the CA was already verified by the TLS handshake).
pub(crate) fn certificate_names_node(
    certificate: &CertificateDer<'_>,
    cluster_id: &str,
    id: NodeId,
) -> bool {
    let Ok(name) = ServerName::try_from(node_identity_name(cluster_id, id)) else {
        return false;
    };
    match webpki::EndEntityCert::try_from(certificate) {
        Ok(certificate) => certificate.verify_is_valid_for_subject_name(&name).is_ok(),
        Err(_) => false,
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate or key that cannot be used, for `field`.
fn unusable(field: &str, path: &Path, reason: impl std::fmt::Display) -> NetError {
    NetError::Certificate {
        field: field.to_string(),
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// PEM text with where it came from, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct PemSource {
    pub(crate) field: String,
    pub(crate) path: std::path::PathBuf,
    pub(crate) pem: Vec<u8>,
}

impl PemSource {
    fn read(field: &str, path: &Path) -> Result<Self, NetError> {
        let pem = std::fs::read(path).map_err(|error| unusable(field, path, error))?;
        Ok(PemSource {
            field: field.to_string(),
            path: path.to_path_buf(),
            pem,
        })
    }

    pub(crate) fn inline(field: &str, pem: impl Into<Vec<u8>>) -> Self {
        PemSource {
            field: field.to_string(),
            path: std::path::PathBuf::from("<inline>"),
            pem: pem.into(),
        }
    }

    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, NetError> {
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&self.pem)
            .collect::<Result<_, _>>()
            .map_err(|error| unusable(&self.field, &self.path, error))?;
        if certificates.is_empty() {
            return Err(unusable(
                &self.field,
                &self.path,
                "no PEM certificate in the file",
            ));
        }
        Ok(certificates)
    }

    fn private_key(&self) -> Result<PrivateKeyDer<'static>, NetError> {
        PrivateKeyDer::from_pem_slice(&self.pem)
            .map_err(|error| unusable(&self.field, &self.path, error))
    }

    fn roots(&self) -> Result<Arc<RootCertStore>, NetError> {
        let mut roots = RootCertStore::empty();
        for certificate in self.certificates()? {
            roots
                .add(certificate)
                .map_err(|error| unusable(&self.field, &self.path, error))?;
        }
        Ok(Arc::new(roots))
    }
}

/// A node's TLS: the configurations for its peer port (mutual TLS, always),
/// its client port, and its connections to peers.
#[derive(Clone)]
pub struct NodeTls {
    pub(crate) cluster_id: String,
    pub(crate) peer_server: Arc<ServerConfig>,
    pub(crate) client_server: Arc<ServerConfig>,
    pub(crate) dialer: Arc<ClientConfig>,
}

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeTls")
            .field("cluster_id", &self.cluster_id)
            .finish_non_exhaustive()
    }
}

impl NodeTls {
    /// Loads the files named in `config` for node `node_id` of
    /// `cluster_id`, and checks that the certificate names that node.
    ///
    /// # Errors
    ///
    /// [`NetError::Certificate`] naming the field (`tls.ca_cert`,
    /// `tls.cert`, `tls.key`) whose file is missing, unreadable, not PEM,
    /// or does not fit (a certificate for another node, a key that does
    /// not match).
    pub fn load(config: &TlsConfig, cluster_id: &str, node_id: NodeId) -> Result<Self, NetError> {
        Self::from_sources(
            PemSource::read("tls.ca_cert", &config.ca_cert)?,
            PemSource::read("tls.cert", &config.cert)?,
            PemSource::read("tls.key", &config.key)?,
            config.client_auth,
            cluster_id,
            node_id,
        )
    }

    /// The same from PEM text in memory.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn from_pem(
        ca_pem: &str,
        cert_pem: &str,
        key_pem: &str,
        client_auth: ClientAuth,
        cluster_id: &str,
        node_id: NodeId,
    ) -> Result<Self, NetError> {
        Self::from_sources(
            PemSource::inline("tls.ca_cert", ca_pem),
            PemSource::inline("tls.cert", cert_pem),
            PemSource::inline("tls.key", key_pem),
            client_auth,
            cluster_id,
            node_id,
        )
    }

    pub(crate) fn from_sources(
        ca: PemSource,
        cert: PemSource,
        key: PemSource,
        client_auth: ClientAuth,
        cluster_id: &str,
        node_id: NodeId,
    ) -> Result<Self, NetError> {
        let roots = ca.roots()?;
        let chain = cert.certificates()?;
        let private_key = key.private_key()?;
        if !certificate_names_node(&chain[0], cluster_id, node_id) {
            return Err(unusable(
                &cert.field,
                &cert.path,
                format!(
                    "the certificate does not name this node: it lacks {}",
                    node_identity_name(cluster_id, node_id)
                ),
            ));
        }
        let provider = provider();
        let tls13 = [&rustls::version::TLS13];
        let verifier = |required: bool| {
            let builder = WebPkiClientVerifier::builder_with_provider(
                Arc::clone(&roots),
                Arc::clone(&provider),
            );
            let builder = if required {
                builder
            } else {
                builder.allow_unauthenticated()
            };
            builder
                .build()
                .map_err(|error| unusable(&ca.field, &ca.path, error))
        };
        let server = |required: bool| -> Result<Arc<ServerConfig>, NetError> {
            let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
                .with_protocol_versions(&tls13)
                .map_err(|error| unusable(&cert.field, &cert.path, error))?
                .with_client_cert_verifier(verifier(required)?)
                .with_single_cert(chain.clone(), private_key.clone_key())
                .map_err(|error| unusable(&key.field, &key.path, error))?;
            config.alpn_protocols = vec![b"h2".to_vec()];
            Ok(Arc::new(config))
        };
        let peer_server = server(true)?;
        let client_server = server(client_auth == ClientAuth::Required)?;
        let mut dialer = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&tls13)
            .map_err(|error| unusable(&cert.field, &cert.path, error))?
            .with_root_certificates(Arc::clone(&roots))
            .with_client_auth_cert(chain, private_key)
            .map_err(|error| unusable(&key.field, &key.path, error))?;
        dialer.alpn_protocols = vec![b"h2".to_vec()];
        Ok(NodeTls {
            cluster_id: cluster_id.to_string(),
            peer_server,
            client_server,
            dialer: Arc::new(dialer),
        })
    }

    /// The name the certificate of peer `id` must carry.
    pub(crate) fn peer_name(&self, id: NodeId) -> Result<ServerName<'static>, NetError> {
        ServerName::try_from(node_identity_name(&self.cluster_id, id))
            .map_err(|error| NetError::Config(crate::ConfigError::new("cluster_id", error)))
    }
}

/// A client's TLS: the cluster's CA to check nodes against, and optionally
/// the client's own certificate (for client ports that require one).
#[derive(Clone)]
pub struct ClientTls {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// TLS towards the nodes of `cluster_id`, trusting `ca_pem`, presenting
    /// `identity` (certificate and key PEM) if given.
    ///
    /// # Errors
    ///
    /// [`NetError::Certificate`] if the PEM text cannot be used.
    pub fn from_pem(
        cluster_id: &str,
        ca_pem: &str,
        identity: Option<(&str, &str)>,
    ) -> Result<Self, NetError> {
        Self::from_sources(
            cluster_id,
            PemSource::inline("ca", ca_pem),
            identity.map(|(cert, key)| {
                (
                    PemSource::inline("cert", cert),
                    PemSource::inline("key", key),
                )
            }),
        )
    }

    /// The same from files.
    ///
    /// # Errors
    ///
    /// [`NetError::Certificate`] if a file cannot be read or used.
    pub fn load(
        cluster_id: &str,
        ca: &Path,
        identity: Option<(&Path, &Path)>,
    ) -> Result<Self, NetError> {
        let identity = match identity {
            Some((cert, key)) => {
                Some((PemSource::read("cert", cert)?, PemSource::read("key", key)?))
            }
            None => None,
        };
        Self::from_sources(cluster_id, PemSource::read("ca", ca)?, identity)
    }

    /// A client of the cluster `config` belongs to, with that node's
    /// certificate as its identity: `None` when the cluster runs without
    /// TLS. This is how an operator's tool reaches a cluster from a node's
    /// configuration file.
    ///
    /// # Errors
    ///
    /// [`NetError::Certificate`] if a file cannot be read or used.
    pub fn for_node(config: &crate::NodeConfig) -> Result<Option<Self>, NetError> {
        config
            .tls
            .as_ref()
            .map(|tls| {
                Self::load(
                    &config.cluster_id,
                    &tls.ca_cert,
                    Some((tls.cert.as_path(), tls.key.as_path())),
                )
            })
            .transpose()
    }

    /// The same, but checking that the server's certificate carries `name`
    /// instead of the cluster's name: `node_identity_name(cluster, 2)` to
    /// talk to node 2 in particular (on its peer port, with a node's
    /// certificate as identity).
    ///
    /// # Errors
    ///
    /// [`NetError::Config`] if `name` is not a valid DNS name.
    pub fn with_server_name(mut self, name: &str) -> Result<Self, NetError> {
        self.server_name = ServerName::try_from(name.to_string())
            .map_err(|error| NetError::Config(crate::ConfigError::new("server_name", error)))?;
        Ok(self)
    }

    fn from_sources(
        cluster_id: &str,
        ca: PemSource,
        identity: Option<(PemSource, PemSource)>,
    ) -> Result<Self, NetError> {
        let roots = ca.roots()?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|error| unusable(&ca.field, &ca.path, error))?
            .with_root_certificates(roots);
        let mut config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(cert.certificates()?, key.private_key()?)
                .map_err(|error| unusable(&key.field, &key.path, error))?,
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        let server_name = ServerName::try_from(cluster_identity_name(cluster_id))
            .map_err(|error| NetError::Config(crate::ConfigError::new("cluster_id", error)))?;
        Ok(ClientTls {
            config: Arc::new(config),
            server_name,
        })
    }
}
