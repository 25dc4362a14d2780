//! The CRDT laws, property-tested for every type.
//!
//! Random scripts of updates and merges over three replicas (actors 1, 2
//! and 3) produce reachable states, on which we check:
//!
//! - **state-based** (Shapiro et al. 2011, §2.2): merge is commutative,
//!   associative and idempotent;
//! - **delta-state** (Almeida et al. 2018, §3): every update's delta `d`
//!   satisfies `m(X) = X ⊔ d`, and any replica `Y ⊒ X` gets the same from
//!   the delta as from the full state: `Y ⊔ d = Y ⊔ m(X)`; deltas join like
//!   states (`(Y ⊔ d₁) ⊔ d₂ = Y ⊔ (d₁ ⊔ d₂)`);
//! - **order**: `includes` is the lattice order (`x ⊒ y` iff `x ⊔ y = x`);
//! - **encodings**: the compact encoding and serde round-trip every state
//!   and delta.

use std::fmt::Debug;

use proptest::prelude::*;
use tessera_crdt::*;
use tessera_hlc::Timestamp;

/// A type under test: how to update it from a random action.
trait Subject: DeltaCrdt + CrdtEncoding + serde::Serialize + serde::de::DeserializeOwned {
    type Action: Debug + Clone;
    fn action() -> BoxedStrategy<Self::Action>;
    /// Runs `action` as `actor`; `None` if it does not apply here.
    fn update(&mut self, actor: u64, action: &Self::Action) -> Option<Self::Delta>;
}

#[derive(Debug, Clone)]
enum Step<A> {
    Update(usize, A),
    Merge(usize, usize),
}

fn script<T: Subject>() -> impl Strategy<Value = Vec<Step<T::Action>>> {
    let step = prop_oneof![
        3 => (0..3usize, T::action()).prop_map(|(replica, action)| Step::Update(replica, action)),
        1 => (0..3usize, 0..3usize).prop_map(|(from, to)| Step::Merge(from, to)),
    ];
    prop::collection::vec(step, 0..30)
}

fn join<T: StateCrdt>(a: &T, b: &T) -> T {
    let mut joined = a.clone();
    joined.merge(b);
    joined
}

fn join_delta<T: DeltaCrdt>(a: &T, delta: &T::Delta) -> T {
    let mut joined = a.clone();
    joined.join_delta(delta);
    joined
}

fn round_trips<T>(value: &T)
where
    T: CrdtEncoding + PartialEq + Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let bytes = value.to_bytes();
    assert_eq!(
        T::from_bytes(&bytes).as_ref(),
        Ok(value),
        "compact encoding"
    );
    let json = serde_json::to_string(value).expect("serializes");
    let back: T = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(&back, value, "serde");
}

fn check_laws<T>(script: &[Step<T::Action>])
where
    T: Subject,
    T::Delta: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut replicas = [T::default(), T::default(), T::default()];
    let mut previous_delta: Option<(usize, T::Delta)> = None;
    for step in script {
        match step {
            Step::Update(replica, action) => {
                let before = replicas[*replica].clone();
                let Some(delta) = replicas[*replica].update(*replica as u64 + 1, action) else {
                    continue;
                };
                let after = replicas[*replica].clone();
                // m(X) = X ⊔ d
                assert_eq!(join_delta(&before, &delta), after, "m(X) = X ⊔ mᵟ(X)");
                // Y ⊒ X: Y ⊔ d = Y ⊔ m(X)
                for other in &replicas {
                    let y = join(&before, other);
                    assert_eq!(join_delta(&y, &delta), join(&y, &after), "Y ⊔ d = Y ⊔ m(X)");
                }
                // Delta groups join like states.
                if let Some((source, earlier)) = &previous_delta
                    && *source == *replica
                {
                    let mut group = earlier.clone();
                    group.merge(&delta);
                    let base = T::default();
                    let one_by_one = join_delta(&join_delta(&base, earlier), &delta);
                    assert_eq!(
                        join_delta(&base, &group),
                        one_by_one,
                        "(Y ⊔ d₁) ⊔ d₂ = Y ⊔ (d₁ ⊔ d₂)"
                    );
                    // and in the other order
                    let reversed = join_delta(&join_delta(&base, &delta), earlier);
                    assert_eq!(reversed, one_by_one, "deltas commute");
                }
                round_trips(&delta);
                previous_delta = Some((*replica, delta));
            }
            Step::Merge(from, to) => {
                let source = replicas[*from].clone();
                replicas[*to]
                    .try_merge(&source)
                    .expect("reachable states merge");
            }
        }
    }
    let [a, b, c] = &replicas;
    for x in &replicas {
        x.validate().expect("reachable states are valid");
        round_trips(x);
        assert_eq!(&join(x, x), x, "idempotent");
    }
    for x in &replicas {
        for y in &replicas {
            assert_eq!(
                x.includes(y),
                join(x, y) == *x,
                "includes is the lattice order"
            );
        }
    }
    assert_eq!(join(a, b), join(b, a), "commutative");
    assert_eq!(join(&join(a, b), c), join(a, &join(b, c)), "associative");
    // Everyone merges everyone: CONVERGENCE.
    let all = join(&join(a, b), c);
    assert_eq!(join(&join(c, a), b), all);
}

// ----- the subjects -----

impl Subject for GCounter {
    type Action = u8;
    fn action() -> BoxedStrategy<u8> {
        any::<u8>().boxed()
    }
    fn update(&mut self, actor: u64, amount: &u8) -> Option<GCounter> {
        self.increment(actor, u64::from(*amount)).ok()
    }
}

impl Subject for PnCounter {
    type Action = i8;
    fn action() -> BoxedStrategy<i8> {
        any::<i8>().boxed()
    }
    fn update(&mut self, actor: u64, amount: &i8) -> Option<PnCounter> {
        self.add(actor, i64::from(*amount)).ok()
    }
}

impl Subject for GSet<u8> {
    type Action = u8;
    fn action() -> BoxedStrategy<u8> {
        (0..16u8).boxed()
    }
    fn update(&mut self, _actor: u64, element: &u8) -> Option<GSet<u8>> {
        Some(self.insert(*element))
    }
}

#[derive(Debug, Clone)]
enum SetAction {
    Add(u8),
    Remove(u8),
    Clear,
}

fn set_action() -> BoxedStrategy<SetAction> {
    prop_oneof![
        4 => (0..8u8).prop_map(SetAction::Add),
        3 => (0..8u8).prop_map(SetAction::Remove),
        1 => Just(SetAction::Clear),
    ]
    .boxed()
}

impl Subject for TwoPSet<u8> {
    type Action = SetAction;
    fn action() -> BoxedStrategy<SetAction> {
        set_action()
    }
    fn update(&mut self, _actor: u64, action: &SetAction) -> Option<TwoPSet<u8>> {
        match action {
            SetAction::Add(element) => Some(self.insert(*element)),
            SetAction::Remove(element) => self.remove(element).ok(),
            SetAction::Clear => None,
        }
    }
}

impl Subject for OrSet<u8> {
    type Action = SetAction;
    fn action() -> BoxedStrategy<SetAction> {
        set_action()
    }
    fn update(&mut self, actor: u64, action: &SetAction) -> Option<OrSetDelta<u8>> {
        match action {
            SetAction::Add(element) => self.add(*element, actor).ok(),
            SetAction::Remove(element) => Some(self.remove(element)),
            SetAction::Clear => Some(self.clear()),
        }
    }
}

impl Subject for EwFlag {
    type Action = bool;
    fn action() -> BoxedStrategy<bool> {
        any::<bool>().boxed()
    }
    fn update(&mut self, actor: u64, enable: &bool) -> Option<EwFlag> {
        if *enable {
            self.enable(actor).ok()
        } else {
            Some(self.disable())
        }
    }
}

impl Subject for DwFlag {
    type Action = bool;
    fn action() -> BoxedStrategy<bool> {
        any::<bool>().boxed()
    }
    fn update(&mut self, actor: u64, disable: &bool) -> Option<DwFlag> {
        if *disable {
            self.disable(actor).ok()
        } else {
            Some(self.enable())
        }
    }
}

impl Subject for LwwRegister<u8> {
    /// A value and a physical time.
    type Action = (u8, u8);
    fn action() -> BoxedStrategy<(u8, u8)> {
        (any::<u8>(), 0..20u8).boxed()
    }
    fn update(&mut self, actor: u64, (value, time): &(u8, u8)) -> Option<LwwRegister<u8>> {
        let stamp = self.next_stamp(Timestamp::from_nanos(u64::from(*time) * 4096), actor);
        Some(self.set(*value, stamp))
    }
}

#[derive(Debug, Clone)]
enum RegisterAction {
    Write(u8),
    Clear,
}

impl Subject for MvRegister<u8> {
    type Action = RegisterAction;
    fn action() -> BoxedStrategy<RegisterAction> {
        prop_oneof![4 => any::<u8>().prop_map(RegisterAction::Write), 1 => Just(RegisterAction::Clear)].boxed()
    }
    fn update(&mut self, actor: u64, action: &RegisterAction) -> Option<MvRegister<u8>> {
        match action {
            RegisterAction::Write(value) => self.write(*value, actor).ok(),
            RegisterAction::Clear => Some(self.clear()),
        }
    }
}

#[derive(Debug, Clone)]
enum MapAction<A> {
    Update(u8, A),
    Remove(u8),
}

impl Subject for OrMap<u8, OrSet<u8>> {
    type Action = MapAction<SetAction>;
    fn action() -> BoxedStrategy<Self::Action> {
        prop_oneof![
            3 => ((0..4u8), set_action()).prop_map(|(key, action)| MapAction::Update(key, action)),
            1 => (0..4u8).prop_map(MapAction::Remove),
        ]
        .boxed()
    }
    fn update(&mut self, actor: u64, action: &Self::Action) -> Option<Self::Delta> {
        match action {
            MapAction::Update(key, action) => self
                .update(*key, |set| {
                    set.update(actor, action).ok_or(CrdtError::NotPresent)
                })
                .ok(),
            MapAction::Remove(key) => Some(self.remove(key)),
        }
    }
}

impl Subject for OrMap<u8, MvRegister<u8>> {
    type Action = MapAction<RegisterAction>;
    fn action() -> BoxedStrategy<Self::Action> {
        prop_oneof![
            3 => ((0..4u8), <MvRegister<u8> as Subject>::action())
                .prop_map(|(key, action)| MapAction::Update(key, action)),
            1 => (0..4u8).prop_map(MapAction::Remove),
        ]
        .boxed()
    }
    fn update(&mut self, actor: u64, action: &Self::Action) -> Option<Self::Delta> {
        match action {
            MapAction::Update(key, action) => self
                .update(*key, |register| {
                    register.update(actor, action).ok_or(CrdtError::NotPresent)
                })
                .ok(),
            MapAction::Remove(key) => Some(self.remove(key)),
        }
    }
}

/// A map of maps: nesting all the way down.
impl Subject for OrMap<u8, OrMap<u8, EwFlag>> {
    type Action = MapAction<MapAction<bool>>;
    fn action() -> BoxedStrategy<Self::Action> {
        let inner = prop_oneof![
            3 => ((0..3u8), any::<bool>()).prop_map(|(key, enable)| MapAction::Update(key, enable)),
            1 => (0..3u8).prop_map(MapAction::Remove),
        ];
        prop_oneof![
            3 => ((0..3u8), inner).prop_map(|(key, action)| MapAction::Update(key, action)),
            1 => (0..3u8).prop_map(MapAction::Remove),
        ]
        .boxed()
    }
    fn update(&mut self, actor: u64, action: &Self::Action) -> Option<Self::Delta> {
        match action {
            MapAction::Update(key, inner) => self
                .update(*key, |map| match inner {
                    MapAction::Update(key, enable) => map.update(*key, |flag| {
                        flag.update(actor, enable).ok_or(CrdtError::NotPresent)
                    }),
                    MapAction::Remove(key) => Ok(map.remove(key)),
                })
                .ok(),
            MapAction::Remove(key) => Some(self.remove(key)),
        }
    }
}

#[derive(Debug, Clone)]
enum EditAction {
    /// Insert at a fraction of the length.
    Insert(u8, Vec<u8>),
    /// Delete from a fraction of the length.
    Delete(u8, u8),
}

impl Subject for Sequence<u8> {
    type Action = EditAction;
    fn action() -> BoxedStrategy<EditAction> {
        prop_oneof![
            3 => (any::<u8>(), prop::collection::vec(any::<u8>(), 1..4))
                .prop_map(|(at, values)| EditAction::Insert(at, values)),
            1 => (any::<u8>(), 1..4u8).prop_map(|(at, len)| EditAction::Delete(at, len)),
        ]
        .boxed()
    }
    fn update(&mut self, actor: u64, action: &EditAction) -> Option<SequenceDelta<u8>> {
        let before = self.version();
        match action {
            EditAction::Insert(at, values) => {
                let position = usize::from(*at) * (self.len() + 1) / 256;
                self.insert(actor, position, values.iter().copied()).ok()?;
            }
            EditAction::Delete(at, len) => {
                if self.is_empty() {
                    return None;
                }
                let position = usize::from(*at) * self.len() / 256;
                let len = usize::from(*len).min(self.len() - position);
                self.delete(actor, position, len).ok()?;
            }
        }
        Some(self.ops_since(&before))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn gcounter_laws(script in script::<GCounter>()) {
        check_laws::<GCounter>(&script);
    }

    #[test]
    fn pncounter_laws(script in script::<PnCounter>()) {
        check_laws::<PnCounter>(&script);
    }

    #[test]
    fn gset_laws(script in script::<GSet<u8>>()) {
        check_laws::<GSet<u8>>(&script);
    }

    #[test]
    fn two_p_set_laws(script in script::<TwoPSet<u8>>()) {
        check_laws::<TwoPSet<u8>>(&script);
    }

    #[test]
    fn or_set_laws(script in script::<OrSet<u8>>()) {
        check_laws::<OrSet<u8>>(&script);
    }

    #[test]
    fn ew_flag_laws(script in script::<EwFlag>()) {
        check_laws::<EwFlag>(&script);
    }

    #[test]
    fn dw_flag_laws(script in script::<DwFlag>()) {
        check_laws::<DwFlag>(&script);
    }

    #[test]
    fn lww_register_laws(script in script::<LwwRegister<u8>>()) {
        check_laws::<LwwRegister<u8>>(&script);
    }

    #[test]
    fn mv_register_laws(script in script::<MvRegister<u8>>()) {
        check_laws::<MvRegister<u8>>(&script);
    }

    #[test]
    fn or_map_of_sets_laws(script in script::<OrMap<u8, OrSet<u8>>>()) {
        check_laws::<OrMap<u8, OrSet<u8>>>(&script);
    }

    #[test]
    fn or_map_of_registers_laws(script in script::<OrMap<u8, MvRegister<u8>>>()) {
        check_laws::<OrMap<u8, MvRegister<u8>>>(&script);
    }

    #[test]
    fn or_map_of_maps_laws(script in script::<OrMap<u8, OrMap<u8, EwFlag>>>()) {
        check_laws::<OrMap<u8, OrMap<u8, EwFlag>>>(&script);
    }

    #[test]
    fn sequence_laws(script in script::<Sequence<u8>>()) {
        check_laws::<Sequence<u8>>(&script);
    }
}
