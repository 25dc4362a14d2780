//! The causal core both flags share: a set of surviving marks.

use tessera_core::NodeId;
use tessera_vclock::{Decoder, Dot};

use crate::{CausalContext, CrdtEncoding, CrdtError, DotSet, DotStore};

/// A dot set with its causal context: *marking* adds a fresh dot and
/// replaces the marks seen; *clearing* drops the marks seen. A mark
/// concurrent with a clear survives it. The enable-wins flag is "marked
/// means enabled", the disable-wins flag "marked means disabled".
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Marks {
    pub(crate) dots: DotSet,
    pub(crate) context: CausalContext,
}

/// An operation of the op-based flags ([`EwFlag`](crate::EwFlag),
/// [`DwFlag`](crate::DwFlag)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum FlagOp {
    /// Add the mark `dot`, replacing the marks the source observed (enable
    /// an enable-wins flag, disable a disable-wins flag).
    Mark {
        /// The fresh dot.
        dot: Dot,
        /// The marks at the source.
        observed: DotSet,
    },
    /// Drop the marks the source observed (disable an enable-wins flag,
    /// enable a disable-wins flag).
    Clear {
        /// The marks at the source.
        observed: DotSet,
    },
}

impl Marks {
    pub(crate) fn is_marked(&self) -> bool {
        !self.dots.is_empty()
    }

    pub(crate) fn mark(&mut self, actor: NodeId) -> Result<Marks, CrdtError> {
        let dot = self.context.next_dot(actor)?;
        self.context.insert(dot);
        let replaced = std::mem::replace(&mut self.dots, DotSet::single(dot));
        let mut context = CausalContext::from_dots(replaced.iter());
        context.insert(dot);
        Ok(Marks {
            dots: DotSet::single(dot),
            context,
        })
    }

    pub(crate) fn clear(&mut self) -> Marks {
        let replaced = std::mem::take(&mut self.dots);
        Marks {
            dots: DotSet::new(),
            context: CausalContext::from_dots(replaced.iter()),
        }
    }

    pub(crate) fn mark_op(&self, actor: NodeId) -> Result<FlagOp, CrdtError> {
        Ok(FlagOp::Mark {
            dot: self.context.next_dot(actor)?,
            observed: self.dots.clone(),
        })
    }

    pub(crate) fn clear_op(&self) -> FlagOp {
        FlagOp::Clear {
            observed: self.dots.clone(),
        }
    }

    pub(crate) fn merge(&mut self, other: &Marks) -> bool {
        let before = self.dots.clone();
        let grew = !other.context.is_subset_of(&self.context);
        self.dots.join(&self.context, &other.dots, &other.context);
        if grew {
            self.context.merge(&other.context);
        }
        grew || before != self.dots
    }

    pub(crate) fn includes(&self, other: &Marks) -> bool {
        other.context.is_subset_of(&self.context) && self.dots.survives(&other.dots, &other.context)
    }

    pub(crate) fn validate(&self) -> Result<(), CrdtError> {
        self.dots.validate_in(&self.context)
    }

    pub(crate) fn apply_op(&mut self, op: &FlagOp) {
        match op {
            FlagOp::Mark { dot, observed } => {
                self.dots.retain(|d| !observed.contains(d));
                self.dots.insert(*dot);
                self.context.insert(*dot);
            }
            FlagOp::Clear { observed } => self.dots.retain(|d| !observed.contains(d)),
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        self.context.encode(out);
        self.dots.encode(out);
    }

    pub(crate) fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let context = CausalContext::decode(decoder)?;
        let dots = DotSet::decode(decoder)?;
        let marks = Marks { dots, context };
        marks.validate()?;
        Ok(marks)
    }
}

/// Tag 0 mark (dot, observed), 1 clear (observed).
impl CrdtEncoding for FlagOp {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            FlagOp::Mark { dot, observed } => {
                out.push(0);
                dot.encode(out);
                observed.encode(out);
            }
            FlagOp::Clear { observed } => {
                out.push(1);
                observed.encode(out);
            }
        }
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let offset = decoder.position();
        match decoder.read_u8()? {
            0 => Ok(FlagOp::Mark {
                dot: Dot::decode(decoder)?,
                observed: DotSet::decode(decoder)?,
            }),
            1 => Ok(FlagOp::Clear {
                observed: DotSet::decode(decoder)?,
            }),
            tag => Err(tessera_vclock::VclockError::InvalidTag { offset, tag }.into()),
        }
    }
}

/// The methods and trait implementations of a flag type made of
/// [`Marks`]: `$mark` adds a mark, `$clear` drops the marks seen, and the
/// flag is enabled when it is marked (`$marked_means_enabled`) or when it
/// is not.
macro_rules! causal_flag {
    (
        $flag:ident,
        marked_means_enabled: $marked_means_enabled:expr,
        new: $new_doc:literal,
        $mark:ident: $mark_doc:literal,
        $clear:ident: $clear_doc:literal,
        $mark_op:ident,
        $clear_op:ident $(,)?
    ) => {
        impl $flag {
            #[doc = $new_doc]
            pub fn new() -> Self {
                Self::default()
            }

            /// Whether the flag is enabled.
            pub fn value(&self) -> bool {
                self.marks.is_marked() == $marked_means_enabled
            }

            /// Every event this replica has seen.
            pub fn context(&self) -> &CausalContext {
                &self.marks.context
            }

            #[doc = $mark_doc]
            ///
            /// # Errors
            ///
            /// [`CrdtError::CounterExhausted`] if `actor` has used every dot.
            pub fn $mark(&mut self, actor: NodeId) -> Result<$flag, CrdtError> {
                Ok($flag {
                    marks: self.marks.mark(actor)?,
                })
            }

            #[doc = $clear_doc]
            pub fn $clear(&mut self) -> $flag {
                $flag {
                    marks: self.marks.clear(),
                }
            }

            #[doc = concat!("The operation that ", stringify!($mark), "s the flag as `actor` (op-based use).")]
            ///
            /// # Errors
            ///
            /// [`CrdtError::CounterExhausted`].
            pub fn $mark_op(&self, actor: NodeId) -> Result<FlagOp, CrdtError> {
                self.marks.mark_op(actor)
            }

            #[doc = concat!("The operation that ", stringify!($clear), "s the flag (op-based use).")]
            pub fn $clear_op(&self) -> FlagOp {
                self.marks.clear_op()
            }
        }

        impl fmt::Debug for $flag {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($flag))
                    .field("value", &self.value())
                    .field("marks", &self.marks.dots)
                    .field("context", &self.marks.context)
                    .finish()
            }
        }

        impl StateCrdt for $flag {
            fn includes(&self, other: &Self) -> bool {
                self.marks.includes(&other.marks)
            }

            fn merge(&mut self, other: &Self) {
                self.marks.merge(&other.marks);
            }

            fn validate(&self) -> Result<(), CrdtError> {
                self.marks.validate()
            }
        }

        impl DeltaCrdt for $flag {
            type Delta = $flag;

            fn join_delta(&mut self, delta: &$flag) -> bool {
                self.marks.merge(&delta.marks)
            }
        }

        impl OpCrdt for $flag {
            type Op = FlagOp;

            fn apply_op(&mut self, op: &FlagOp) -> Result<(), CrdtError> {
                self.marks.apply_op(op);
                Ok(())
            }
        }

        impl Embeddable for $flag {
            type Store = DotSet;

            fn from_parts(store: DotSet, context: CausalContext) -> Self {
                $flag {
                    marks: Marks {
                        dots: store,
                        context,
                    },
                }
            }

            fn into_parts(self) -> (DotSet, CausalContext) {
                (self.marks.dots, self.marks.context)
            }

            fn delta_into_parts(delta: $flag) -> (DotSet, CausalContext) {
                delta.into_parts()
            }
        }

        /// The context, then the marks.
        impl CrdtEncoding for $flag {
            fn encode(&self, out: &mut Vec<u8>) {
                self.marks.encode(out);
            }

            fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
                Ok($flag {
                    marks: Marks::decode(decoder)?,
                })
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $flag {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                (&self.marks.dots, &self.marks.context).serialize(serializer)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $flag {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let (dots, context) = <(DotSet, CausalContext)>::deserialize(deserializer)?;
                let marks = Marks { dots, context };
                marks.validate().map_err(serde::de::Error::custom)?;
                Ok($flag { marks })
            }
        }
    };
}

pub(crate) use causal_flag;
