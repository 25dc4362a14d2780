//! Grid quorums: members laid out in rows and columns; a full row writes,
//! a member of every row reads.

use tessera_core::{InvalidParameter, NodeId};

use crate::member_set::check_sorted_members;
use crate::{MemberSet, Phase, QuorumError, QuorumSystem};

/// Members in a grid of `rows × columns`.
///
/// - a **write** (phase-two) quorum contains a whole row: `columns`
///   members;
/// - a **read** (phase-one) quorum contains at least one member of every
///   row: `rows` members at least — a whole column is one, but any choice
///   of one member per row will do.
///
/// With `n = rows × columns`, both quorums are about `√n` when the grid is
/// square, against `n/2` for majorities: less load per operation, the trade
/// Flexible Paxos describes for grids.
///
/// # Intersection
///
/// A read quorum holds a member of *every* row, in particular of the row a
/// write quorum contains in full: that member is in both. (A whole column
/// meets a whole row in exactly one member, the classic grid argument; a
/// read quorum that is any set hitting every row is the largest family
/// with this property, so it is the most available choice.) Two write
/// quorums on different rows do not intersect, and two read quorums need
/// not either.
///
/// # Availability
///
/// A whole row down leaves every other row for writes, but no read quorum
/// (no member of that row answers). A whole column down leaves reads, but
/// no row is complete, so no writes.
///
/// # Examples
///
/// ```
/// use tessera_quorum::{Grid, QuorumSystem};
///
/// // 1 2 3
/// // 4 5 6
/// let grid = Grid::new(vec![vec![1, 2, 3], vec![4, 5, 6]])?;
/// assert!(grid.is_write_quorum_of(&[4, 5, 6]));
/// assert!(!grid.is_write_quorum_of(&[1, 2, 4, 5]));
/// assert!(grid.is_read_quorum_of(&[3, 4]));
/// assert!(!grid.is_read_quorum_of(&[1, 2, 3]));
/// # Ok::<(), tessera_quorum::QuorumError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(
        into = "crate::serde_repr::GridRepr",
        try_from = "crate::serde_repr::GridRepr"
    )
)]
pub struct Grid {
    members: Vec<NodeId>,
    /// The positions of each row's members.
    rows: Vec<MemberSet>,
    columns: usize,
}

impl Grid {
    /// A grid with the given rows, all of the same length.
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidParameter`] if there are no rows, the rows are
    /// empty or of different lengths, a node appears twice, or there are
    /// more than [`MEMBERS_MAX`](crate::MEMBERS_MAX) members.
    pub fn new(rows: Vec<Vec<NodeId>>) -> Result<Self, QuorumError> {
        let columns = rows.first().map_or(0, Vec::len);
        if columns == 0 {
            return Err(
                InvalidParameter::new("rows", "a grid needs at least one non-empty row").into(),
            );
        }
        if let Some(row) = rows.iter().find(|row| row.len() != columns) {
            return Err(InvalidParameter::new(
                "rows",
                format!(
                    "every row must have {columns} members (the first row's), one has {}",
                    row.len()
                ),
            )
            .into());
        }
        let mut members: Vec<NodeId> = rows.iter().flatten().copied().collect();
        members.sort_unstable();
        check_sorted_members("rows", &members)?;
        let row_sets = rows
            .iter()
            .map(|row| MemberSet::of_nodes(&members, row))
            .collect();
        Ok(Grid {
            members,
            rows: row_sets,
            columns,
        })
    }

    /// `members` laid out row by row, `columns` per row.
    ///
    /// # Errors
    ///
    /// As for [`new`](Self::new); also if `columns` is zero or does not
    /// divide the member count.
    pub fn with_columns(members: &[NodeId], columns: usize) -> Result<Self, QuorumError> {
        if columns == 0 || !members.len().is_multiple_of(columns) {
            return Err(InvalidParameter::new(
                "columns",
                format!(
                    "must divide the member count {} evenly, got {columns}",
                    members.len()
                ),
            )
            .into());
        }
        Grid::new(members.chunks(columns).map(<[NodeId]>::to_vec).collect())
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// The members of each row, row by row, each row in increasing id
    /// order.
    pub fn row_members(&self) -> Vec<Vec<NodeId>> {
        self.rows
            .iter()
            .map(|row| row.nodes(&self.members).collect())
            .collect()
    }

    /// The number of columns (members per row).
    pub fn columns(&self) -> usize {
        self.columns
    }
}

impl QuorumSystem for Grid {
    fn members(&self) -> &[NodeId] {
        &self.members
    }

    fn is_quorum(&self, phase: Phase, set: MemberSet) -> bool {
        match phase {
            Phase::Read => self
                .rows
                .iter()
                .all(|row| !row.intersection(set).is_empty()),
            Phase::Write => self.rows.iter().any(|row| row.is_subset(set)),
        }
    }

    fn quorum_size_min(&self, phase: Phase) -> usize {
        match phase {
            Phase::Read => self.rows.len(),
            Phase::Write => self.columns,
        }
    }

    /// The best row's lowest match index: the row whose every member has
    /// acknowledged the most.
    fn committed_index(&self, match_index: impl Fn(NodeId) -> u64) -> u64 {
        self.rows
            .iter()
            .map(|row| {
                row.nodes(&self.members)
                    .map(&match_index)
                    .min()
                    .unwrap_or(0)
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ragged_and_empty_grids_are_refused() {
        assert!(Grid::new(vec![]).is_err());
        assert!(Grid::new(vec![vec![]]).is_err());
        assert!(Grid::new(vec![vec![1, 2], vec![3]]).is_err());
        assert!(Grid::new(vec![vec![1, 2], vec![3, 1]]).is_err());
        assert!(Grid::with_columns(&[1, 2, 3], 2).is_err());
        assert!(Grid::with_columns(&[1, 2, 3], 0).is_err());
    }

    #[test]
    fn a_row_down_blocks_reads_a_column_down_blocks_writes() {
        let grid = Grid::with_columns(&[1, 2, 3, 4, 5, 6, 7, 8, 9], 3).unwrap();
        // Row {4, 5, 6} down.
        let up = [1, 2, 3, 7, 8, 9];
        assert!(grid.is_write_quorum_of(&up));
        assert!(!grid.is_read_quorum_of(&up));
        // Column {2, 5, 8} down.
        let up = [1, 3, 4, 6, 7, 9];
        assert!(!grid.is_write_quorum_of(&up));
        assert!(grid.is_read_quorum_of(&up));
    }

    #[test]
    fn committed_index_needs_a_whole_row() {
        let grid = Grid::with_columns(&[1, 2, 3, 4], 2).unwrap();
        let matches = [9u64, 1, 5, 6];
        assert_eq!(grid.committed_index(|n| matches[n as usize - 1]), 5);
        assert!(grid.is_acknowledged(5, |n| matches[n as usize - 1]));
        assert!(!grid.is_acknowledged(6, |n| matches[n as usize - 1]));
    }
}
