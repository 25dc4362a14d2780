//! One anti-entropy session between two replicas of a range: the state a
//! side keeps between messages, and the checks that keep a malformed
//! message from being applied.

use std::collections::BTreeSet;

use tessera_core::NodeId;

use crate::{
    ANTI_ENTROPY_KEYS_MAX, AbortReason, AntiEntropyMessage, Key, KeyRange, LeafEntry, MerkleTree,
    ObjectStore, QuorumError, ReplicatedValue, Ring, VersionedObject,
};

/// What one side waits for next.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// It sent its hashes of these nodes at `level`; the reply flags some.
    Flags { level: u8, sent: Vec<u64> },
    /// It sent entries of these leaves; the reply carries objects and may
    /// ask for some back.
    Objects { leaves: Vec<u64> },
    /// It asked for these keys; the reply carries their objects and asks
    /// for nothing.
    Wanted { keys: BTreeSet<Key> },
    /// The session is over.
    Done,
}

/// What [`AntiEntropySession::synchronize`] cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncReport {
    /// Messages exchanged, both ways.
    pub messages: usize,
    /// Bytes of those messages in their binary form.
    pub bytes: usize,
    /// Objects transferred, both ways.
    pub objects: usize,
}

/// What handling one message produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AntiEntropyStep<V> {
    /// The message to send back, if any.
    pub reply: Option<AntiEntropyMessage<V>>,
    /// Objects the peer sent, already checked: merge them into the store
    /// (after any local filtering, such as purged tombstones).
    pub received: Vec<(Key, VersionedObject<V>)>,
    /// Whether the session is over.
    pub finished: bool,
}

impl<V> AntiEntropyStep<V> {
    fn reply(reply: AntiEntropyMessage<V>, finished: bool) -> Self {
        AntiEntropyStep {
            reply: Some(reply),
            received: Vec::new(),
            finished,
        }
    }
}

/// One side of an anti-entropy session over one range.
///
/// The session reads the store but never writes it: objects received come
/// back in [`AntiEntropyStep::received`], checked, for the caller to merge.
/// Every message is checked against what this side sent last — the level,
/// the number of flags, the number of hashes, that every key is in the
/// range and in a leaf that differs, that objects are well-formed and that
/// nothing arrives twice — and a message that fails is refused whole
/// ([`QuorumError::MalformedMessage`]) with nothing applied.
///
/// # Examples
///
/// Two stores that differ in one key converge in one session; the session
/// sends the hashes on that key's path, not the other 99 keys.
///
/// ```
/// use tessera_quorum::{AntiEntropySession, KeyRange, ObjectStore, Version};
/// use tessera_vclock::{Dot, DottedVersionVector, VersionVector};
///
/// let range = KeyRange { start: 0, end: u64::MAX };
/// let mut a: ObjectStore<u64> = ObjectStore::new(7)?;
/// let mut b: ObjectStore<u64> = ObjectStore::new(7)?;
/// for i in 0..100u64 {
///     let version = Version {
///         clock: DottedVersionVector::new(Dot::new(1, i + 1), VersionVector::new())?,
///         value: Some(i),
///     };
///     a.add(range, &i.to_le_bytes(), version.clone());
///     if i != 42 {
///         b.add(range, &i.to_le_bytes(), version);
///     }
/// }
/// let report = AntiEntropySession::synchronize(&mut a, &mut b, range)?;
/// assert_eq!(a.root(range), b.root(range));
/// assert_eq!(report.objects, 1);
/// assert!(report.bytes < 400, "{report:?}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AntiEntropySession {
    id: u64,
    peer: NodeId,
    range: KeyRange,
    depth: u8,
    expect: Expect,
}

impl AntiEntropySession {
    /// Opens session `id` with `peer` over `range`: the session and the
    /// `Begin` message to send.
    pub fn initiate<V: ReplicatedValue>(
        store: &ObjectStore<V>,
        peer: NodeId,
        id: u64,
        range: KeyRange,
    ) -> (Self, AntiEntropyMessage<V>) {
        let session = AntiEntropySession {
            id,
            peer,
            range,
            depth: store.depth(),
            expect: Expect::Flags {
                level: 0,
                sent: vec![0],
            },
        };
        let begin = AntiEntropyMessage::Begin {
            session: id,
            range,
            depth: store.depth(),
            root: store.root(range),
        };
        (session, begin)
    }

    /// Answers `peer`'s `Begin` over `range`.
    ///
    /// # Errors
    ///
    /// [`QuorumError::MalformedMessage`] if `begin` is not a `Begin` for
    /// `range`. A depth mismatch is not an error: the step carries an
    /// `Abort`.
    pub fn respond<V: ReplicatedValue>(
        store: &ObjectStore<V>,
        peer: NodeId,
        range: KeyRange,
        begin: &AntiEntropyMessage<V>,
    ) -> Result<(Self, AntiEntropyStep<V>), QuorumError> {
        let AntiEntropyMessage::Begin {
            session: id,
            range: begun,
            depth,
            root,
        } = begin
        else {
            return Err(malformed(peer, "a session must open with Begin"));
        };
        if *begun != range {
            return Err(malformed(peer, "Begin names another range"));
        }
        let mut session = AntiEntropySession {
            id: *id,
            peer,
            range,
            depth: store.depth(),
            expect: Expect::Done,
        };
        if *depth != store.depth() {
            let abort = AntiEntropyMessage::Abort {
                session: *id,
                reason: AbortReason::DepthMismatch,
            };
            return Ok((session, AntiEntropyStep::reply(abort, true)));
        }
        let step = session.compare_level(store, 0, vec![0], &[*root]);
        Ok((session, step))
    }

    /// Runs a whole session between two stores in one process: every
    /// message is encoded, counted and decoded again on the other side, and
    /// received objects are merged. For tests, benchmarks and tools; a
    /// replica drives its sessions through messages instead.
    ///
    /// # Errors
    ///
    /// The first [`QuorumError`] either side raised.
    pub fn synchronize<V: ReplicatedValue>(
        a: &mut ObjectStore<V>,
        b: &mut ObjectStore<V>,
        range: KeyRange,
    ) -> Result<SyncReport, QuorumError> {
        const A: NodeId = 1;
        const B: NodeId = 2;
        let mut report = SyncReport::default();
        let mut transmit = |message: &AntiEntropyMessage<V>| {
            let bytes = message.encode();
            report.messages += 1;
            report.bytes += bytes.len();
            if let AntiEntropyMessage::Objects { objects, .. } = message {
                report.objects += objects.len();
            }
            AntiEntropyMessage::decode(&bytes)
        };
        let (mut left, begin) = AntiEntropySession::initiate(a, B, 1, range);
        let begin = transmit(&begin)?;
        let (mut right, mut step) = AntiEntropySession::respond(b, A, range, &begin)?;
        let mut to_left = true;
        while let Some(message) = step.reply.take() {
            let message = transmit(&message)?;
            let (session, store) = if to_left {
                (&mut left, &mut *a)
            } else {
                (&mut right, &mut *b)
            };
            step = session.handle(store, &message)?;
            for (key, object) in &step.received {
                store.merge(range, key, object);
            }
            to_left = !to_left;
        }
        Ok(report)
    }

    /// The session's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The peer.
    pub fn peer(&self) -> NodeId {
        self.peer
    }

    /// The range compared.
    pub fn range(&self) -> KeyRange {
        self.range
    }

    /// Whether the session is over.
    pub fn is_finished(&self) -> bool {
        self.expect == Expect::Done
    }

    /// Compares the peer's `hashes` of nodes `indexes` at `level` with the
    /// store's, and answers: descend, describe the differing leaves, or
    /// report no difference.
    fn compare_level<V: ReplicatedValue>(
        &mut self,
        store: &ObjectStore<V>,
        level: u8,
        indexes: Vec<u64>,
        hashes: &[u64],
    ) -> AntiEntropyStep<V> {
        let differs: Vec<bool> = indexes
            .iter()
            .zip(hashes)
            .map(|(index, hash)| store.node_hash(self.range, level, *index) != *hash)
            .collect();
        let differing: Vec<u64> = indexes
            .iter()
            .zip(&differs)
            .filter(|(_, differ)| **differ)
            .map(|(index, _)| *index)
            .collect();
        if differing.is_empty() {
            self.expect = Expect::Done;
            return AntiEntropyStep::reply(AntiEntropyMessage::InSync { session: self.id }, true);
        }
        if level == self.depth {
            let entries = differing
                .iter()
                .flat_map(|leaf| store.bucket(self.range, *leaf))
                .take(ANTI_ENTROPY_KEYS_MAX)
                .map(|(key, object)| LeafEntry {
                    key: key.clone(),
                    digest: object.digest(),
                    context: object.context(),
                })
                .collect();
            self.expect = Expect::Objects { leaves: differing };
            return AntiEntropyStep::reply(
                AntiEntropyMessage::Entries {
                    session: self.id,
                    differs,
                    entries,
                },
                false,
            );
        }
        let children: Vec<u64> = differing
            .iter()
            .flat_map(|index| [2 * index, 2 * index + 1])
            .collect();
        let child_hashes = children
            .iter()
            .map(|child| store.node_hash(self.range, level + 1, *child))
            .collect();
        self.expect = Expect::Flags {
            level: level + 1,
            sent: children,
        };
        AntiEntropyStep::reply(
            AntiEntropyMessage::Hashes {
                session: self.id,
                level: level + 1,
                differs,
                hashes: child_hashes,
            },
            false,
        )
    }

    /// Handles the peer's next message.
    ///
    /// # Errors
    ///
    /// [`QuorumError::MalformedMessage`] if the message does not fit the
    /// session; nothing of it is applied, and the session is over (the
    /// caller sends `Abort`).
    pub fn handle<V: ReplicatedValue>(
        &mut self,
        store: &ObjectStore<V>,
        message: &AntiEntropyMessage<V>,
    ) -> Result<AntiEntropyStep<V>, QuorumError> {
        let result = self.handle_inner(store, message);
        if result.is_err() {
            self.expect = Expect::Done;
        }
        result
    }

    fn handle_inner<V: ReplicatedValue>(
        &mut self,
        store: &ObjectStore<V>,
        message: &AntiEntropyMessage<V>,
    ) -> Result<AntiEntropyStep<V>, QuorumError> {
        let peer = self.peer;
        if message.session() != self.id {
            return Err(malformed(peer, "message for another session"));
        }
        let expect = std::mem::replace(&mut self.expect, Expect::Done);
        match (expect, message) {
            (_, AntiEntropyMessage::InSync { .. } | AntiEntropyMessage::Abort { .. }) => {
                Ok(AntiEntropyStep {
                    reply: None,
                    received: Vec::new(),
                    finished: true,
                })
            }
            (
                Expect::Flags { level, sent },
                AntiEntropyMessage::Hashes {
                    level: their_level,
                    differs,
                    hashes,
                    ..
                },
            ) => {
                if *their_level != level + 1 || level >= self.depth {
                    return Err(malformed(peer, "hashes for an unexpected level"));
                }
                let flagged = flagged(peer, &sent, differs)?;
                if hashes.len() != 2 * flagged.len() {
                    return Err(malformed(peer, "hash count does not match the flags"));
                }
                let children = flagged
                    .iter()
                    .flat_map(|index| [2 * index, 2 * index + 1])
                    .collect();
                Ok(self.compare_level(store, level + 1, children, hashes))
            }
            (
                Expect::Flags { level, sent },
                AntiEntropyMessage::Entries {
                    differs, entries, ..
                },
            ) => {
                if level != self.depth {
                    return Err(malformed(peer, "entries before the leaves"));
                }
                let leaves = flagged(peer, &sent, differs)?;
                self.check_keys(peer, Some(&leaves), entries.iter().map(|entry| &entry.key))?;
                Ok(self.answer_entries(store, &leaves, entries))
            }
            (
                Expect::Objects { leaves },
                AntiEntropyMessage::Objects {
                    objects, wanted, ..
                },
            ) => {
                self.check_keys(peer, Some(&leaves), objects.iter().map(|(key, _)| key))?;
                self.check_keys(peer, Some(&leaves), wanted.iter())?;
                check_objects(peer, objects)?;
                let received = objects.clone();
                if wanted.is_empty() {
                    return Ok(AntiEntropyStep {
                        reply: None,
                        received,
                        finished: true,
                    });
                }
                let objects = wanted
                    .iter()
                    .filter_map(|key| store.get(key).map(|object| (key.clone(), object.clone())))
                    .collect();
                Ok(AntiEntropyStep {
                    reply: Some(AntiEntropyMessage::Objects {
                        session: self.id,
                        objects,
                        wanted: Vec::new(),
                    }),
                    received,
                    finished: true,
                })
            }
            (
                Expect::Wanted { keys },
                AntiEntropyMessage::Objects {
                    objects, wanted, ..
                },
            ) => {
                if !wanted.is_empty() {
                    return Err(malformed(peer, "a final answer may not ask for more"));
                }
                if objects.iter().any(|(key, _)| !keys.contains(key)) {
                    return Err(malformed(peer, "an object that was not asked for"));
                }
                self.check_keys(peer, None, objects.iter().map(|(key, _)| key))?;
                check_objects(peer, objects)?;
                Ok(AntiEntropyStep {
                    reply: None,
                    received: objects.clone(),
                    finished: true,
                })
            }
            (Expect::Done, _) => Err(malformed(peer, "message after the session ended")),
            _ => Err(malformed(peer, "message out of turn")),
        }
    }

    /// Compares the peer's entries of the differing `leaves` with the
    /// store's, and sends what is newer here, asking for what is newer
    /// there.
    fn answer_entries<V: ReplicatedValue>(
        &mut self,
        store: &ObjectStore<V>,
        leaves: &[u64],
        entries: &[LeafEntry],
    ) -> AntiEntropyStep<V> {
        let mut objects: Vec<(Key, VersionedObject<V>)> = Vec::new();
        let mut wanted: Vec<Key> = Vec::new();
        let mut theirs = entries.iter().peekable();
        let mut mine = leaves
            .iter()
            .flat_map(|leaf| {
                store
                    .bucket(self.range, *leaf)
                    .map(move |(k, o)| (*leaf, k, o))
            })
            .peekable();
        // Both sequences are in (leaf, key) order: walk them together.
        loop {
            let order = match (mine.peek(), theirs.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((leaf, key, _)), Some(entry)) => {
                    (*leaf, *key).cmp(&(MerkleTree::bucket(&entry.key, self.depth), &entry.key))
                }
            };
            match order {
                std::cmp::Ordering::Less => {
                    if let Some((_, key, object)) = mine.next() {
                        objects.push((key.clone(), object.clone()));
                    }
                }
                std::cmp::Ordering::Greater => {
                    if let Some(entry) = theirs.next() {
                        wanted.push(entry.key.clone());
                    }
                }
                std::cmp::Ordering::Equal => {
                    if let (Some((_, key, object)), Some(entry)) = (mine.next(), theirs.next())
                        && object.digest() != entry.digest
                    {
                        let context = object.context();
                        let newer_here = !entry.context.descends(&context);
                        let newer_there = !context.descends(&entry.context);
                        if newer_here || !newer_there {
                            objects.push((key.clone(), object.clone()));
                        }
                        if newer_there || !newer_here {
                            wanted.push(key.clone());
                        }
                    }
                }
            }
            if objects.len() + wanted.len() >= ANTI_ENTROPY_KEYS_MAX {
                break;
            }
        }
        if objects.is_empty() && wanted.is_empty() {
            self.expect = Expect::Done;
            return AntiEntropyStep::reply(AntiEntropyMessage::InSync { session: self.id }, true);
        }
        let finished = wanted.is_empty();
        self.expect = if finished {
            Expect::Done
        } else {
            Expect::Wanted {
                keys: wanted.iter().cloned().collect(),
            }
        };
        AntiEntropyStep::reply(
            AntiEntropyMessage::Objects {
                session: self.id,
                objects,
                wanted,
            },
            finished,
        )
    }

    /// Every key is in the range, in one of `leaves` (when given), in
    /// (leaf, key) order with no repeats, and there are not too many.
    fn check_keys<'a>(
        &self,
        peer: NodeId,
        leaves: Option<&[u64]>,
        keys: impl Iterator<Item = &'a Key>,
    ) -> Result<(), QuorumError> {
        let mut previous: Option<(u64, &Key)> = None;
        let mut count = 0usize;
        for key in keys {
            count += 1;
            if count > ANTI_ENTROPY_KEYS_MAX {
                return Err(malformed(peer, "too many keys in one message"));
            }
            if !self.range.contains(Ring::position(key)) {
                return Err(malformed(peer, "a key outside the session's range"));
            }
            let leaf = MerkleTree::bucket(key, self.depth);
            if leaves.is_some_and(|leaves| leaves.binary_search(&leaf).is_err()) {
                return Err(malformed(peer, "a key in a leaf that does not differ"));
            }
            if previous.is_some_and(|previous| previous >= (leaf, key)) {
                return Err(malformed(peer, "keys out of order or repeated"));
            }
            previous = Some((leaf, key));
        }
        Ok(())
    }
}

/// The indexes among `sent` whose flag is set, checking there is one flag
/// per index sent and at least one is set.
fn flagged(peer: NodeId, sent: &[u64], differs: &[bool]) -> Result<Vec<u64>, QuorumError> {
    if differs.len() != sent.len() {
        return Err(malformed(peer, "flag count does not match the hashes sent"));
    }
    let flagged: Vec<u64> = sent
        .iter()
        .zip(differs)
        .filter(|(_, differ)| **differ)
        .map(|(index, _)| *index)
        .collect();
    if flagged.is_empty() {
        return Err(malformed(peer, "descending with no differing node"));
    }
    Ok(flagged)
}

fn check_objects<V: ReplicatedValue>(
    peer: NodeId,
    objects: &[(Key, VersionedObject<V>)],
) -> Result<(), QuorumError> {
    if objects.iter().any(|(_, object)| object.is_empty()) {
        return Err(malformed(peer, "an empty object"));
    }
    Ok(())
}

fn malformed(peer: NodeId, reason: &str) -> QuorumError {
    QuorumError::MalformedMessage {
        reason: format!("anti-entropy message from node {peer}: {reason}"),
    }
}
