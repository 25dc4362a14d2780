//! A certificate authority for tests and demos, made with rcgen (no
//! OpenSSL): a CA, node certificates naming each node's identity, and
//! client certificates.
//!
//! For production, issue certificates from your own PKI with the same
//! names (see [`node_identity_name`]); nothing else in the crate depends
//! on how they were made.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tessera_core::NodeId;

use crate::config::check_cluster_id;
use crate::{NetError, client_identity_name, cluster_identity_name, node_identity_name};

/// A certificate and its private key, in PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

/// A cluster's certificate authority.
///
/// # Examples
///
/// ```
/// use tessera_net::{CertificateAuthority, ClientAuth, NodeTls};
///
/// let ca = CertificateAuthority::generate("demo")?;
/// let node = ca.issue_node(1, &["localhost".into()])?;
/// // The node's TLS accepts its own certificate...
/// NodeTls::from_pem(&ca.cert_pem(), &node.cert_pem, &node.key_pem, ClientAuth::None, "demo", 1)?;
/// // ...but not as another node's.
/// assert!(NodeTls::from_pem(&ca.cert_pem(), &node.cert_pem, &node.key_pem, ClientAuth::None, "demo", 2).is_err());
/// # Ok::<(), tessera_net::NetError>(())
/// ```
pub struct CertificateAuthority {
    cluster_id: String,
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("cluster_id", &self.cluster_id)
            .finish_non_exhaustive()
    }
}

fn failed(reason: impl std::fmt::Display) -> NetError {
    NetError::Certificate {
        field: "generate".into(),
        path: PathBuf::from("<generated>"),
        reason: reason.to_string(),
    }
}

impl CertificateAuthority {
    /// A new CA for `cluster_id` (an ECDSA P-256 key, valid until 4096).
    ///
    /// # Errors
    ///
    /// [`NetError::Config`] for a cluster id that is not a DNS label, and
    /// [`NetError::Certificate`] if generation fails.
    pub fn generate(cluster_id: &str) -> Result<Self, NetError> {
        check_cluster_id(cluster_id)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(
            DnType::CommonName,
            format!("Tessera cluster {cluster_id} CA"),
        );
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(failed)?;
        let cert = params.self_signed(&key).map_err(failed)?;
        let key_pem = key.serialize_pem();
        Ok(CertificateAuthority {
            cluster_id: cluster_id.to_string(),
            cert_pem: cert.pem(),
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA's certificate, which every node and client trusts.
    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// The CA's private key (keep it off the nodes).
    pub fn key_pem(&self) -> String {
        self.key_pem.clone()
    }

    fn issue(
        &self,
        common_name: String,
        names: Vec<String>,
    ) -> Result<IssuedCertificate, NetError> {
        let mut params = CertificateParams::new(names).map_err(failed)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // Nodes are TLS servers to their peers and clients, and TLS clients
        // of their peers.
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().map_err(failed)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(failed)?;
        Ok(IssuedCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A certificate for node `id`: it names `node-<id>.<cluster>.tessera`
    /// (its identity), `<cluster>.tessera` (what clients check), and the
    /// `extra_names` (host names or IP addresses, for other tools).
    ///
    /// # Errors
    ///
    /// [`NetError::Certificate`] if a name is invalid or generation fails.
    pub fn issue_node(
        &self,
        id: NodeId,
        extra_names: &[String],
    ) -> Result<IssuedCertificate, NetError> {
        let mut names = vec![
            node_identity_name(&self.cluster_id, id),
            cluster_identity_name(&self.cluster_id),
        ];
        names.extend(extra_names.iter().cloned());
        self.issue(node_identity_name(&self.cluster_id, id), names)
    }

    /// A certificate for the client called `name`
    /// (`client-<name>.<cluster>.tessera`), for client ports that require
    /// client certificates. It cannot pass for a node.
    ///
    /// # Errors
    ///
    /// [`NetError::Certificate`] if the name is invalid or generation fails.
    pub fn issue_client(&self, name: &str) -> Result<IssuedCertificate, NetError> {
        let identity = client_identity_name(&self.cluster_id, name);
        self.issue(identity.clone(), vec![identity])
    }

    /// Writes `ca.pem`, `ca.key`, `node-<id>.pem` and `node-<id>.key` for
    /// every node, and `client-<name>.pem`/`.key` for every client, into
    /// `dir` (created if needed). Private keys are written readable by
    /// their owner only (on Unix).
    ///
    /// # Errors
    ///
    /// [`NetError::Certificate`] naming the file that could not be written.
    pub fn write_files(
        &self,
        dir: &Path,
        nodes: &[NodeId],
        clients: &[&str],
        extra_names: &[String],
    ) -> Result<Vec<PathBuf>, NetError> {
        std::fs::create_dir_all(dir).map_err(|error| NetError::Certificate {
            field: "out".into(),
            path: dir.to_path_buf(),
            reason: error.to_string(),
        })?;
        let mut written = Vec::new();
        let mut write = |name: String, contents: &str, private: bool| -> Result<(), NetError> {
            let path = dir.join(name);
            write_file(&path, contents, private).map_err(|error| NetError::Certificate {
                field: "out".into(),
                path: path.clone(),
                reason: error.to_string(),
            })?;
            written.push(path);
            Ok(())
        };
        write("ca.pem".into(), &self.cert_pem, false)?;
        write("ca.key".into(), &self.key_pem, true)?;
        for &id in nodes {
            let issued = self.issue_node(id, extra_names)?;
            write(format!("node-{id}.pem"), &issued.cert_pem, false)?;
            write(format!("node-{id}.key"), &issued.key_pem, true)?;
        }
        for name in clients {
            let issued = self.issue_client(name)?;
            write(format!("client-{name}.pem"), &issued.cert_pem, false)?;
            write(format!("client-{name}.key"), &issued.key_pem, true)?;
        }
        Ok(written)
    }
}

pub(crate) fn write_file(path: &Path, contents: &str, private: bool) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    use std::io::Write;
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}
