//! Op-based CRDTs converge under every causal delivery order, and causal
//! delivery is enforced, not assumed.
//!
//! Law (Shapiro et al. 2011, §2.4; Baquero et al. 2014): replicas that
//! deliver the same operations, each in some causal order, are equal. Each
//! case makes random operations at three replicas with random partial
//! deliveries in between, then delivers every operation to every replica
//! in a random order — [`CausalDelivery::receive`] holds back the early
//! ones — and checks that all replicas are equal.

use std::fmt::Debug;

use proptest::prelude::*;
use tessera_core::SeededRng;
use tessera_crdt::*;
use tessera_hlc::{NodeTimestamp, Timestamp};

trait OpSubject: OpCrdt + StateCrdt + Default {
    type Action: Debug + Clone;
    fn action() -> BoxedStrategy<Self::Action>;
    /// The operation `action` makes here as `actor`, if it applies.
    fn make(&self, actor: u64, action: &Self::Action) -> Option<Self::Op>;
}

#[derive(Debug, Clone)]
enum Step<A> {
    Make(usize, A),
    /// Deliver to a replica the operation at this index (modulo) of the
    /// log, if it can be delivered.
    Deliver(usize, usize),
}

fn script<T: OpSubject>() -> impl Strategy<Value = (Vec<Step<T::Action>>, u64)> {
    let step = prop_oneof![
        2 => (0..3usize, T::action()).prop_map(|(replica, action)| Step::Make(replica, action)),
        1 => (0..3usize, any::<usize>()).prop_map(|(to, index)| Step::Deliver(to, index)),
    ];
    (prop::collection::vec(step, 0..40), any::<u64>())
}

fn check_convergence<T: OpSubject>(script: &[Step<T::Action>], seed: u64) {
    let mut replicas: Vec<CausalDelivery<T>> = (1..=3)
        .map(|replica| CausalDelivery::new(replica, T::default()))
        .collect();
    let mut log: Vec<CausalOp<T::Op>> = Vec::new();
    for step in script {
        match step {
            Step::Make(replica, action) => {
                let actor = *replica as u64 + 1;
                let made = replicas[*replica]
                    .update(|state| state.make(actor, action).ok_or(CrdtError::NotPresent));
                if let Ok(op) = made {
                    log.push(op);
                }
            }
            Step::Deliver(to, index) => {
                if log.is_empty() {
                    continue;
                }
                let op = log[index % log.len()].clone();
                // Early or repeated operations are refused, never applied.
                match replicas[*to].apply(&op) {
                    Ok(()) => {}
                    Err(CrdtError::AlreadyApplied { .. }) => {
                        assert!(replicas[*to].delivered().contains(op.dot));
                    }
                    Err(CrdtError::MissingDependencies { missing, .. }) => {
                        assert!(!missing.is_empty());
                        assert!(!replicas[*to].delivered().contains(op.dot));
                    }
                    Err(other) => panic!("unexpected refusal: {other}"),
                }
            }
        }
    }
    // Every replica receives every operation, in its own random order.
    let mut rng = SeededRng::new(seed);
    for replica in &mut replicas {
        let mut order: Vec<usize> = (0..log.len()).collect();
        for i in (1..order.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        for index in order {
            match replica.receive(log[index].clone()) {
                Ok(_) | Err(CrdtError::AlreadyApplied { .. }) => {}
                Err(other) => panic!("delivery failed: {other}"),
            }
        }
        assert_eq!(replica.buffered(), 0, "everything was delivered");
    }
    let first = replicas[0].state();
    for replica in &replicas[1..] {
        assert_eq!(replica.state(), first, "CONVERGENCE");
        assert_eq!(replica.delivered(), replicas[0].delivered());
    }
}

impl OpSubject for GCounter {
    type Action = u8;
    fn action() -> BoxedStrategy<u8> {
        any::<u8>().boxed()
    }
    fn make(&self, actor: u64, amount: &u8) -> Option<GCounterOp> {
        Some(self.increment_op(actor, u64::from(*amount)))
    }
}

impl OpSubject for PnCounter {
    type Action = i8;
    fn action() -> BoxedStrategy<i8> {
        any::<i8>().boxed()
    }
    fn make(&self, actor: u64, amount: &i8) -> Option<PnCounterOp> {
        Some(self.add_op(actor, i64::from(*amount)))
    }
}

impl OpSubject for GSet<u8> {
    type Action = u8;
    fn action() -> BoxedStrategy<u8> {
        (0..16u8).boxed()
    }
    fn make(&self, _actor: u64, element: &u8) -> Option<u8> {
        Some(*element)
    }
}

impl OpSubject for TwoPSet<u8> {
    type Action = (bool, u8);
    fn action() -> BoxedStrategy<(bool, u8)> {
        (any::<bool>(), 0..8u8).boxed()
    }
    fn make(&self, _actor: u64, (add, element): &(bool, u8)) -> Option<TwoPSetOp<u8>> {
        if *add {
            Some(TwoPSetOp::Insert(*element))
        } else {
            self.contains(element)
                .then_some(TwoPSetOp::Remove(*element))
        }
    }
}

impl OpSubject for OrSet<u8> {
    type Action = (bool, u8);
    fn action() -> BoxedStrategy<(bool, u8)> {
        (any::<bool>(), 0..8u8).boxed()
    }
    fn make(&self, actor: u64, (add, element): &(bool, u8)) -> Option<OrSetOp<u8>> {
        if *add {
            self.add_op(*element, actor).ok()
        } else {
            self.remove_op(element)
        }
    }
}

impl OpSubject for EwFlag {
    type Action = bool;
    fn action() -> BoxedStrategy<bool> {
        any::<bool>().boxed()
    }
    fn make(&self, actor: u64, enable: &bool) -> Option<FlagOp> {
        if *enable {
            self.enable_op(actor).ok()
        } else {
            Some(self.disable_op())
        }
    }
}

impl OpSubject for DwFlag {
    type Action = bool;
    fn action() -> BoxedStrategy<bool> {
        any::<bool>().boxed()
    }
    fn make(&self, actor: u64, disable: &bool) -> Option<FlagOp> {
        if *disable {
            self.disable_op(actor).ok()
        } else {
            Some(self.enable_op())
        }
    }
}

impl OpSubject for LwwRegister<u8> {
    type Action = (u8, u8);
    fn action() -> BoxedStrategy<(u8, u8)> {
        (any::<u8>(), 0..20u8).boxed()
    }
    fn make(&self, actor: u64, (value, time): &(u8, u8)) -> Option<LwwWrite<u8>> {
        let stamp: NodeTimestamp =
            self.next_stamp(Timestamp::from_nanos(u64::from(*time) * 4096), actor);
        Some(self.set_op(*value, stamp))
    }
}

impl OpSubject for MvRegister<u8> {
    type Action = u8;
    fn action() -> BoxedStrategy<u8> {
        any::<u8>().boxed()
    }
    fn make(&self, actor: u64, value: &u8) -> Option<MvWrite<u8>> {
        self.write_op(*value, actor).ok()
    }
}

impl OpSubject for OrMap<u8, OrSet<u8>> {
    type Action = (u8, Option<(bool, u8)>);
    fn action() -> BoxedStrategy<Self::Action> {
        (0..4u8, prop::option::weighted(0.8, (any::<bool>(), 0..4u8))).boxed()
    }
    fn make(&self, actor: u64, (key, action): &Self::Action) -> Option<Self::Op> {
        match action {
            Some(action) => self
                .update_op(*key, |set| {
                    OpSubject::make(set, actor, action).ok_or(CrdtError::NotPresent)
                })
                .ok(),
            None => self.remove_op(key),
        }
    }
}

impl OpSubject for Sequence<u8> {
    /// Insert values at a fraction of the length, or delete one item there.
    type Action = (u8, Option<Vec<u8>>);
    fn action() -> BoxedStrategy<Self::Action> {
        (
            any::<u8>(),
            prop::option::weighted(0.7, prop::collection::vec(any::<u8>(), 1..4)),
        )
            .boxed()
    }
    fn make(&self, actor: u64, (at, values): &Self::Action) -> Option<SequenceOp<u8>> {
        match values {
            Some(values) => {
                let position = usize::from(*at) * (self.len() + 1) / 256;
                self.insert_op(actor, position, values.iter().copied()).ok()
            }
            None if self.is_empty() => None,
            None => self
                .delete_op(actor, usize::from(*at) * self.len() / 256)
                .ok(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn gcounter_ops_converge((script, seed) in script::<GCounter>()) {
        check_convergence::<GCounter>(&script, seed);
    }

    #[test]
    fn pncounter_ops_converge((script, seed) in script::<PnCounter>()) {
        check_convergence::<PnCounter>(&script, seed);
    }

    #[test]
    fn gset_ops_converge((script, seed) in script::<GSet<u8>>()) {
        check_convergence::<GSet<u8>>(&script, seed);
    }

    #[test]
    fn two_p_set_ops_converge((script, seed) in script::<TwoPSet<u8>>()) {
        check_convergence::<TwoPSet<u8>>(&script, seed);
    }

    #[test]
    fn or_set_ops_converge((script, seed) in script::<OrSet<u8>>()) {
        check_convergence::<OrSet<u8>>(&script, seed);
    }

    #[test]
    fn ew_flag_ops_converge((script, seed) in script::<EwFlag>()) {
        check_convergence::<EwFlag>(&script, seed);
    }

    #[test]
    fn dw_flag_ops_converge((script, seed) in script::<DwFlag>()) {
        check_convergence::<DwFlag>(&script, seed);
    }

    #[test]
    fn lww_register_ops_converge((script, seed) in script::<LwwRegister<u8>>()) {
        check_convergence::<LwwRegister<u8>>(&script, seed);
    }

    #[test]
    fn mv_register_ops_converge((script, seed) in script::<MvRegister<u8>>()) {
        check_convergence::<MvRegister<u8>>(&script, seed);
    }

    #[test]
    fn or_map_ops_converge((script, seed) in script::<OrMap<u8, OrSet<u8>>>()) {
        check_convergence::<OrMap<u8, OrSet<u8>>>(&script, seed);
    }

    #[test]
    fn sequence_ops_converge((script, seed) in script::<Sequence<u8>>()) {
        check_convergence::<Sequence<u8>>(&script, seed);
    }
}

/// The sequence checks its own dependencies too: an insert whose origin
/// is missing is refused with the missing item named, and applies once it
/// is there.
#[test]
fn sequence_refuses_operations_before_their_origins() {
    let mut alice = Text::new();
    alice.insert_str(1, 0, "ab").unwrap();
    let later = alice.insert_op(1, 1, ['x']).unwrap();
    let mut bob = Text::new();
    let refused = bob.apply_op(&later).unwrap_err();
    assert!(
        matches!(&refused, CrdtError::MissingDependencies { missing, .. } if !missing.is_empty()),
        "{refused}"
    );
    assert!(bob.is_empty());
    for op in alice.ops_since(&bob.version()).into_ops() {
        bob.apply_op(&op).unwrap();
    }
    bob.apply_op(&later).unwrap();
    assert_eq!(bob.to_string(), "axb");
    assert!(matches!(
        bob.apply_op(&later),
        Err(CrdtError::AlreadyApplied { .. })
    ));
}

/// Causal delivery keeps a counter exact: a duplicate increment is refused
/// (it would count twice), an early one waits.
#[test]
fn causal_delivery_counts_each_increment_once() {
    let mut a = CausalDelivery::new(1, GCounter::new());
    let mut b = CausalDelivery::new(2, GCounter::new());
    let first = a.update(|c| Ok(c.increment_op(1, 2))).unwrap();
    let second = a.update(|c| Ok(c.increment_op(1, 3))).unwrap();
    assert_eq!(b.receive(second.clone()).unwrap(), 0);
    assert_eq!(b.buffered(), 1);
    assert_eq!(b.state().value(), 0);
    assert_eq!(b.receive(first.clone()).unwrap(), 2);
    assert!(matches!(
        b.receive(first),
        Err(CrdtError::AlreadyApplied { .. })
    ));
    assert!(matches!(
        b.apply(&second),
        Err(CrdtError::AlreadyApplied { .. })
    ));
    assert_eq!(b.state().value(), 5);
}

/// The causal buffer is bounded.
#[test]
fn causal_delivery_buffer_is_bounded() {
    let mut a = CausalDelivery::new(1, GCounter::new());
    let mut b = CausalDelivery::new(2, GCounter::new()).with_buffer_max(2);
    let ops: Vec<_> = (0..4)
        .map(|_| a.update(|c| Ok(c.increment_op(1, 1))).unwrap())
        .collect();
    b.receive(ops[1].clone()).unwrap();
    b.receive(ops[2].clone()).unwrap();
    assert!(matches!(
        b.receive(ops[3].clone()),
        Err(CrdtError::BufferFull { limit: 2, .. })
    ));
}
