//! The state key scheme shared with Dapr: `app||type||id||key`.

use std::fmt;
use std::sync::Arc;

/// A fully qualified state key: `app||actor type||actor id||key`, Dapr's actor state scheme.
///
/// # Examples
/// ```
/// use weft_runtime::state::StateKey;
/// let k = StateKey::actor("shop", "cart", "u42", "items");
/// assert_eq!(k.as_str(), "shop||cart||u42||items");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateKey(Arc<str>);

impl StateKey {
    /// The separator between the parts of a key.
    pub const SEPARATOR: &'static str = "||";

    /// The key of actor state `key` of actor `id` of type `actor_type` in app `app`.
    pub fn actor(app: &str, actor_type: &str, id: &str, key: &str) -> Self {
        let sep = Self::SEPARATOR;
        Self(Arc::from(format!(
            "{app}{sep}{actor_type}{sep}{id}{sep}{key}"
        )))
    }

    /// A key taken verbatim (for stores used outside the actor scheme, and for tests).
    pub fn raw(key: impl Into<Arc<str>>) -> Self {
        Self(key.into())
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateKey({:?})", &*self.0)
    }
}
