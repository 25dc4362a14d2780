//! Authenticators: the proof a message carries of who sent it, and how
//! messages are sealed and checked.
//!
//! A MAC proves the sender to one recipient only — the two share its key —
//! so a multicast carries a vector of them, one per replica, as in Castro
//! and Liskov's PBFT. A signature proves the sender to anyone, so messages
//! that are relayed or shown as proof (checkpoints, view changes, new
//! views) are always signed.

use tessera_core::NodeId;

use crate::wire::{HashSink, Sink};

use crate::keys::{Mac, Signature};
use crate::{
    Authentication, ClientRequest, Digest, Envelope, Keyring, Payload, PbftConfig, PbftError,
};

/// The proof that an envelope's sender sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authenticator {
    /// No proof: accepted only for a client request, which carries its
    /// own.
    None,
    /// A MAC for the one recipient.
    Mac(Mac),
    /// One MAC per replica, in the configuration's replica order (the
    /// sender's own entry is unused).
    MacVector(Vec<Mac>),
    /// An ed25519 signature (boxed: it would double every envelope's size).
    Signature(Box<Signature>),
}

impl Authenticator {
    /// Whether this is a signature.
    pub fn is_signature(&self) -> bool {
        matches!(self, Authenticator::Signature(_))
    }
}

/// A MAC vector over `digest` for every replica but `keys`' own node.
fn mac_vector(keys: &Keyring, config: &PbftConfig, digest: &Digest) -> Authenticator {
    Authenticator::MacVector(
        config
            .replicas()
            .iter()
            .map(|replica| {
                if *replica == keys.id() {
                    [0; 16]
                } else {
                    keys.mac_for(*replica, digest).unwrap_or([0; 16])
                }
            })
            .collect(),
    )
}

impl Envelope {
    /// Seals `payload` from `keys`' node for every replica: a signature if
    /// the payload needs one or the configuration signs everything, a MAC
    /// vector otherwise.
    pub fn seal_for_replicas(keys: &Keyring, config: &PbftConfig, payload: Payload) -> Envelope {
        let digest = Envelope::authenticated_digest(keys.id(), &payload);
        let authenticator =
            if payload.needs_signature() || config.authentication == Authentication::Signatures {
                Authenticator::Signature(Box::new(keys.sign(&digest)))
            } else {
                mac_vector(keys, config, &digest)
            };
        Envelope {
            sender: keys.id(),
            payload,
            authenticator,
        }
    }

    /// Seals `payload` from `keys`' node for `recipient` alone: a signature
    /// if the payload needs one or the configuration signs everything, a
    /// MAC otherwise.
    pub fn seal_for(
        keys: &Keyring,
        config: &PbftConfig,
        payload: Payload,
        recipient: NodeId,
    ) -> Envelope {
        let authenticator =
            if payload.needs_signature() || config.authentication == Authentication::Signatures {
                Authenticator::Signature(Box::new(
                    keys.sign(&Envelope::authenticated_digest(keys.id(), &payload)),
                ))
            } else {
                keys.mac_of_for(recipient, |hasher| {
                    Envelope::feed_authenticated(hasher, keys.id(), &payload)
                })
                .map_or(Authenticator::None, Authenticator::Mac)
            };
        Envelope {
            sender: keys.id(),
            payload,
            authenticator,
        }
    }

    /// Checks that the envelope's sender sent it, as `keys`' node sees it.
    ///
    /// A payload that needs a signature must carry a valid one from its
    /// sender; so must every payload when the configuration signs
    /// everything. Otherwise a signature, a MAC for this node, or this
    /// node's entry of a MAC vector must verify. A client request carries
    /// its own authenticator, checked with
    /// [`ClientRequest::verify`].
    ///
    /// # Errors
    ///
    /// [`PbftError::BadAuthenticator`] naming the claimed sender.
    pub fn verify(&self, keys: &Keyring, config: &PbftConfig) -> Result<(), PbftError> {
        let bad = PbftError::BadAuthenticator { node: self.sender };
        if let Payload::Request(request) = &self.payload {
            return if request.client == self.sender && request.verify(keys, config) {
                Ok(())
            } else {
                Err(bad)
            };
        }
        let signature_required =
            self.payload.needs_signature() || config.authentication == Authentication::Signatures;
        let digest = || Envelope::authenticated_digest(self.sender, &self.payload);
        let valid = match &self.authenticator {
            Authenticator::Signature(signature) => {
                keys.check_signature(self.sender, &digest(), signature)
            }
            _ if signature_required => false,
            Authenticator::Mac(mac) => keys.check_mac_of_from(
                self.sender,
                |hasher| Envelope::feed_authenticated(hasher, self.sender, &self.payload),
                mac,
            ),
            Authenticator::MacVector(macs) => {
                macs.len() == config.replica_count()
                    && config.position(keys.id()).is_some_and(|position| {
                        keys.check_mac_from(self.sender, &digest(), &macs[position])
                    })
            }
            Authenticator::None => false,
        };
        if valid { Ok(()) } else { Err(bad) }
    }

    /// Checks a signed envelope — one relayed inside another message —
    /// from its signer, whoever passed it on.
    ///
    /// # Errors
    ///
    /// [`PbftError::BadAuthenticator`] unless it carries a valid signature
    /// of its sender.
    pub fn verify_signature(&self, keys: &Keyring) -> Result<(), PbftError> {
        match &self.authenticator {
            Authenticator::Signature(signature)
                if keys.check_signature(
                    self.sender,
                    &Envelope::authenticated_digest(self.sender, &self.payload),
                    signature,
                ) =>
            {
                Ok(())
            }
            _ => Err(PbftError::BadAuthenticator { node: self.sender }),
        }
    }
}

impl ClientRequest {
    /// A request from `keys`' node with `timestamp` for `operation`,
    /// authenticated for every replica: a MAC vector, or a signature if the
    /// configuration signs everything.
    pub fn seal(
        keys: &Keyring,
        config: &PbftConfig,
        timestamp: u64,
        operation: Vec<u8>,
    ) -> ClientRequest {
        let mut request = ClientRequest {
            client: keys.id(),
            timestamp,
            operation,
            authenticator: Authenticator::None,
        };
        request.authenticator = match config.authentication {
            Authentication::Signatures => {
                Authenticator::Signature(Box::new(keys.sign(&request.digest())))
            }
            Authentication::Macs => Authenticator::MacVector(
                config
                    .replicas()
                    .iter()
                    .map(|replica| {
                        keys.mac_of_for(*replica, |hasher| request.feed_authenticated(hasher))
                            .unwrap_or([0; 16])
                    })
                    .collect(),
            ),
        };
        request
    }

    /// Whether the request's authenticator proves, to `keys`' node, that
    /// its client sent it: a signature, or (unless the configuration signs
    /// everything) this replica's entry of the MAC vector.
    pub fn verify(&self, keys: &Keyring, config: &PbftConfig) -> bool {
        match &self.authenticator {
            Authenticator::Signature(signature) => {
                keys.check_signature(self.client, &self.digest(), signature)
            }
            Authenticator::MacVector(macs) if config.authentication == Authentication::Macs => {
                macs.len() == config.replica_count()
                    && config.position(keys.id()).is_some_and(|position| {
                        keys.check_mac_of_from(
                            self.client,
                            |hasher| self.feed_authenticated(hasher),
                            &macs[position],
                        )
                    })
            }
            _ => false,
        }
    }

    /// What a request's MACs cover: a domain tag, then the request.
    fn feed_authenticated(&self, hasher: &mut HashSink) {
        hasher.put(b"tessera-pbft/1/request");
        self.feed(hasher);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Checkpoint, Vote};

    fn setup() -> (PbftConfig, Vec<Keyring>) {
        let config = PbftConfig::new([1, 2, 3, 4]).unwrap();
        let nodes = [1, 2, 3, 4, 100];
        let keys = nodes
            .iter()
            .map(|id| Keyring::derive(3, *id, &nodes))
            .collect();
        (config, keys)
    }

    #[test]
    fn mac_vectors_verify_at_each_replica_and_nowhere_else() {
        let (config, keys) = setup();
        let vote = Vote {
            view: 0,
            seq: 1,
            digest: Digest::of(b"b"),
        };
        let envelope = Envelope::seal_for_replicas(&keys[0], &config, Payload::Prepare(vote));
        for ring in &keys[1..4] {
            envelope.verify(ring, &config).unwrap();
        }
        // The client holds no entry of a replica multicast.
        assert!(envelope.verify(&keys[4], &config).is_err());
        // Changing the sender, the payload or a MAC breaks it.
        let mut forged = envelope.clone();
        forged.sender = 3;
        assert!(forged.verify(&keys[1], &config).is_err());
        let mut forged = envelope.clone();
        forged.payload = Payload::Commit(vote);
        assert!(forged.verify(&keys[1], &config).is_err());
        let mut forged = envelope;
        if let Authenticator::MacVector(macs) = &mut forged.authenticator {
            macs[1][0] ^= 1;
        }
        assert!(forged.verify(&keys[1], &config).is_err());
        assert!(
            forged.verify(&keys[2], &config).is_ok(),
            "other entries still verify"
        );
    }

    #[test]
    fn payloads_that_prove_need_signatures() {
        let (config, keys) = setup();
        let checkpoint = Payload::Checkpoint(Checkpoint {
            seq: 8,
            digest: Digest::of(b"s"),
        });
        let signed = Envelope::seal_for_replicas(&keys[0], &config, checkpoint.clone());
        assert!(signed.authenticator.is_signature());
        signed.verify(&keys[2], &config).unwrap();
        signed.verify_signature(&keys[4]).unwrap();
        // A MAC vector is not enough for a checkpoint.
        let digest = Envelope::authenticated_digest(1, &checkpoint);
        let maced = Envelope {
            sender: 1,
            payload: checkpoint,
            authenticator: mac_vector(&keys[0], &config, &digest),
        };
        assert!(maced.verify(&keys[2], &config).is_err());
    }

    #[test]
    fn requests_verify_per_replica_and_signatures_mode_refuses_macs() {
        let (mut config, keys) = setup();
        let request = ClientRequest::seal(&keys[4], &config, 1, b"op".to_vec());
        assert!(keys[..4].iter().all(|ring| request.verify(ring, &config)));
        let mut tampered = request.clone();
        tampered.timestamp = 2;
        assert!(!tampered.verify(&keys[0], &config));
        config.authentication = Authentication::Signatures;
        assert!(!request.verify(&keys[0], &config));
        let signed = ClientRequest::seal(&keys[4], &config, 1, b"op".to_vec());
        assert!(signed.verify(&keys[0], &config));
    }
}
