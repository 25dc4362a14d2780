//! Maelstrom node names (`"n1"`) and the numeric ids the protocols use.

use tessera_core::NodeId;

/// The cluster as `init` listed it: node `i` of the list (from 0) has the
/// numeric id `i + 1`. Every node receives the same list, so every node
/// maps names to ids the same way.
///
/// # Examples
///
/// ```
/// use tessera_maelstrom::NodeDirectory;
///
/// let directory = NodeDirectory::new("n2", vec!["n1".into(), "n2".into(), "n3".into()])?;
/// assert_eq!(directory.me(), 2);
/// assert_eq!(directory.id_of("n3"), Some(3));
/// assert_eq!(directory.name_of(1), Some("n1"));
/// assert_eq!(directory.id_of("c1"), None);
/// # Ok::<(), tessera_maelstrom::MaelstromError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDirectory {
    names: Vec<String>,
    me: NodeId,
}

impl NodeDirectory {
    /// The directory of `names`, as node `me`.
    ///
    /// # Errors
    ///
    /// [`MaelstromError::MalformedRequest`](crate::MaelstromError::MalformedRequest)
    /// if `me` is not listed.
    pub fn new(me: &str, names: Vec<String>) -> Result<Self, crate::MaelstromError> {
        let position = names.iter().position(|name| name == me).ok_or_else(|| {
            crate::MaelstromError::malformed_request("init", format!("{me} is not in node_ids"))
        })?;
        Ok(NodeDirectory {
            me: position as NodeId + 1,
            names,
        })
    }

    /// This node's id.
    pub fn me(&self) -> NodeId {
        self.me
    }

    /// This node's name.
    pub fn my_name(&self) -> &str {
        self.name_of(self.me).unwrap_or_default()
    }

    /// Every node's id, in order.
    pub fn ids(&self) -> Vec<NodeId> {
        (1..=self.names.len() as NodeId).collect()
    }

    /// Every node's name, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The id of the node called `name`.
    pub fn id_of(&self, name: &str) -> Option<NodeId> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|position| position as NodeId + 1)
    }

    /// The name of node `id`.
    pub fn name_of(&self, id: NodeId) -> Option<&str> {
        let position = usize::try_from(id.checked_sub(1)?).ok()?;
        self.names.get(position).map(String::as_str)
    }
}
