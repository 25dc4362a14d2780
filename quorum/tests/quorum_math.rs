//! The quorum-system contract, checked exhaustively: every configuration
//! the API accepts really intersects (INTERSECTION), every configuration it
//! refuses really could miss, and the fast committed-index paths agree with
//! the definition.

use proptest::prelude::*;
use tessera_core::NodeId;
use tessera_quorum::{
    AnyQuorum, Byzantine, Flexible, Grid, Joint, Majority, MemberSet, Phase, QuorumError,
    QuorumSystem, Weighted, verify_intersection,
};

/// Distinct node ids, shuffled, so that nothing depends on ids being
/// `1..=n` or given in order.
fn node_ids(n: usize) -> impl Strategy<Value = Vec<NodeId>> {
    proptest::collection::btree_set(0u64..1_000, n)
        .prop_map(|set| set.into_iter().collect::<Vec<_>>())
        .prop_shuffle()
}

/// Checks the contract and returns the report, failing the test with the
/// violation.
fn assert_contract<Q: QuorumSystem + std::fmt::Debug>(
    system: &Q,
) -> tessera_quorum::IntersectionReport {
    let report = verify_intersection(system).expect("small enough to check");
    if let Err(violation) = report.check() {
        panic!("{system:?}: {violation}");
    }
    report
}

/// The definition of the committed index: the largest index such that the
/// members that acknowledged it form a write quorum.
fn committed_by_definition<Q: QuorumSystem>(system: &Q, matches: &[(NodeId, u64)]) -> u64 {
    let lookup = |node: NodeId| {
        matches
            .iter()
            .find(|(n, _)| *n == node)
            .map_or(0, |(_, index)| *index)
    };
    let mut candidates: Vec<u64> = matches.iter().map(|(_, index)| *index).collect();
    candidates.push(0);
    candidates
        .into_iter()
        .filter(|candidate| {
            system.is_write_quorum(system.members_where(|node| lookup(node) >= *candidate))
        })
        .max()
        .unwrap_or(0)
}

fn lookup_in(matches: &[(NodeId, u64)]) -> impl Fn(NodeId) -> u64 + '_ {
    |node| {
        matches
            .iter()
            .find(|(n, _)| *n == node)
            .map_or(0, |(_, index)| *index)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Rule: majority quorums intersect, each other too (Raft needs it).
    #[test]
    fn majority_intersects(ids in (1usize..=12).prop_flat_map(node_ids)) {
        let config = Majority::new(ids.clone()).unwrap();
        let report = assert_contract(&config);
        prop_assert_eq!(report.smallest_write_quorum, Some(ids.len() / 2 + 1));
        prop_assert!(report.write_quorums_intersect && report.read_quorums_intersect);
    }

    /// Rule: a flexible configuration is accepted exactly when
    /// `read + write > n` (and the sizes are in range), and then it
    /// intersects; a refused one really has disjoint quorums.
    #[test]
    fn flexible_accepted_iff_it_intersects(
        (ids, read, write) in (1usize..=10).prop_flat_map(|n| (node_ids(n), 0..=n + 1, 0..=n + 1))
    ) {
        let n = ids.len();
        match Flexible::new(ids, read, write) {
            Ok(config) => {
                let report = assert_contract(&config);
                prop_assert_eq!(report.smallest_read_quorum, Some(read));
                prop_assert_eq!(report.smallest_write_quorum, Some(write));
                prop_assert_eq!(report.read_write_overlap_min, read + write - n);
            }
            Err(QuorumError::NoIntersection { .. }) => {
                prop_assert!((1..=n).contains(&read) && (1..=n).contains(&write));
                // Disjoint quorums exist: the first `read` and the last `write`.
                prop_assert!(read + write <= n);
            }
            Err(QuorumError::InvalidParameter(_)) => {
                prop_assert!(!(1..=n).contains(&read) || !(1..=n).contains(&write));
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    /// Rule: any grid intersects: a whole row meets a member of every row.
    #[test]
    fn grid_intersects(
        (ids, columns) in (1usize..=4, 1usize..=4)
            .prop_flat_map(|(rows, columns)| (node_ids(rows * columns), Just(columns)))
    ) {
        let config = Grid::with_columns(&ids, columns).unwrap();
        let report = assert_contract(&config);
        prop_assert_eq!(report.smallest_write_quorum, Some(columns));
        prop_assert_eq!(report.smallest_read_quorum, Some(ids.len() / columns));
        prop_assert_eq!(report.read_write_overlap_min, 1);
    }

    /// Rule: weighted thresholds are accepted only when they intersect.
    #[test]
    fn weighted_accepted_iff_it_intersects(
        (weights, read, write) in (1usize..=8)
            .prop_flat_map(|n| (node_ids(n), proptest::collection::vec(0u64..=5, n)))
            .prop_flat_map(|(ids, weights)| {
                let total: u64 = weights.iter().sum();
                let pairs: Vec<(NodeId, u64)> = ids.into_iter().zip(weights).collect();
                (Just(pairs), 0..=total + 1, 0..=total + 1)
            })
    ) {
        let total: u64 = weights.iter().map(|(_, w)| w).sum();
        match Weighted::new(weights, read, write) {
            Ok(config) => {
                assert_contract(&config);
            }
            Err(QuorumError::NoIntersection { .. }) => prop_assert!(read + write <= total),
            Err(QuorumError::InvalidParameter(_)) => prop_assert!(
                total == 0 || read == 0 || write == 0 || read > total || write > total
            ),
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    /// Rule: Byzantine quorums overlap in f + 1 members, and are refused
    /// below 3f + 1 members.
    #[test]
    fn byzantine_overlaps_in_a_correct_member(
        (ids, faults) in (1usize..=13).prop_flat_map(|n| (node_ids(n), 0usize..=4))
    ) {
        let n = ids.len();
        match Byzantine::new(ids, faults) {
            Ok(config) => {
                let report = assert_contract(&config);
                prop_assert!(report.read_write_overlap_min > faults);
                // Live with f members silent.
                prop_assert!(config.quorum_size() <= n - faults);
            }
            Err(QuorumError::TooManyFaults { .. }) => prop_assert!(n < 3 * faults + 1),
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    /// Rule: a joint configuration intersects, and its quorums intersect
    /// every quorum of either half alone (what makes old → joint → new
    /// safe).
    #[test]
    fn joint_intersects_itself_and_each_half(
        old in (1usize..=6).prop_flat_map(|n| proptest::collection::btree_set(0u64..10, n)),
        new in (1usize..=6).prop_flat_map(|n| proptest::collection::btree_set(0u64..10, n)),
        flexible_new in any::<bool>(),
    ) {
        let old = AnyQuorum::from(Majority::new(old).unwrap());
        let n = new.len();
        let new = if flexible_new && n > 1 {
            AnyQuorum::from(Flexible::new(new, n, 1).unwrap())
        } else {
            AnyQuorum::from(Majority::new(new).unwrap())
        };
        let joint = Joint::new(old.clone(), new.clone()).unwrap();
        assert_contract(&joint);
        // Every joint write quorum meets every read quorum of each half
        // alone: no joint write quorum's complement holds one.
        let members = joint.members().to_vec();
        let full = (1u128 << members.len()) - 1;
        for mask in 0..=full {
            let set = MemberSet::from_bits(mask);
            if !joint.is_write_quorum(set) {
                continue;
            }
            let outside: Vec<NodeId> = MemberSet::from_bits(full & !mask).nodes(&members).collect();
            prop_assert!(!old.is_read_quorum_of(&outside));
            prop_assert!(!new.is_read_quorum_of(&outside));
        }
    }

    /// The fast committed-index paths agree with the definition.
    #[test]
    fn committed_index_matches_the_definition(
        (ids, indexes) in (1usize..=9)
            .prop_flat_map(|n| (node_ids(n), proptest::collection::vec(0u64..20, n)))
    ) {
        let n = ids.len();
        let matches: Vec<(NodeId, u64)> = ids.iter().copied().zip(indexes).collect();
        let lookup = lookup_in(&matches);

        let majority = Majority::new(ids.clone()).unwrap();
        prop_assert_eq!(majority.committed_index(&lookup), committed_by_definition(&majority, &matches));

        let flexible = Flexible::new(ids.clone(), n, 1).unwrap();
        prop_assert_eq!(flexible.committed_index(&lookup), committed_by_definition(&flexible, &matches));

        let byzantine = Byzantine::tolerating_most(ids.clone()).unwrap();
        prop_assert_eq!(byzantine.committed_index(&lookup), committed_by_definition(&byzantine, &matches));

        let weighted = Weighted::majority(ids.iter().map(|id| (*id, id % 3 + 1))).unwrap();
        prop_assert_eq!(weighted.committed_index(&lookup), committed_by_definition(&weighted, &matches));

        if n % 2 == 0 {
            let grid = Grid::with_columns(&ids, 2).unwrap();
            prop_assert_eq!(grid.committed_index(&lookup), committed_by_definition(&grid, &matches));
        }

        let (first, second) = ids.split_at(n / 2 + 1);
        let mut shifted: Vec<NodeId> = second.to_vec();
        shifted.push(first[0]);
        let joint = Joint::new(Majority::new(first.to_vec()).unwrap(), Majority::new(shifted).unwrap()).unwrap();
        prop_assert_eq!(joint.committed_index(&lookup), committed_by_definition(&joint, &matches));
        prop_assert!(joint.is_acknowledged(joint.committed_index(&lookup), &lookup));

        let any = AnyQuorum::from(majority.clone());
        prop_assert_eq!(any.committed_index(&lookup), majority.committed_index(&lookup));
    }
}

#[test]
fn grid_of_sixteen_and_byzantine_of_sixteen_check_exhaustively() {
    let ids: Vec<NodeId> = (1..=16).collect();
    let report = assert_contract(&Grid::with_columns(&ids, 4).unwrap());
    assert_eq!(report.minimal_write_quorums, 4);
    // One member of each of 4 rows of 4.
    assert_eq!(report.minimal_read_quorums, 256);
    let report = assert_contract(&Byzantine::tolerating_most(ids).unwrap());
    assert_eq!(report.read_write_overlap_min, 6); // f = 5
}

#[test]
fn phases_are_distinct_where_the_system_says_so() {
    let flexible = Flexible::new([1, 2, 3, 4, 5], 4, 2).unwrap();
    assert_eq!(flexible.quorum_size_min(Phase::Read), 4);
    assert_eq!(flexible.quorum_size_min(Phase::Write), 2);
    let report = verify_intersection(&flexible).unwrap();
    assert!(!report.write_quorums_intersect);
    assert!(report.read_quorums_intersect);
}
