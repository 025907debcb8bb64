//! The one rule for the names that become parts of a stored key: actor types, actor ids, state
//! keys and reminder names. Every entry point checks it (a turn's commit, [`HostHandle`]'s
//! state, call and reminder APIs, the host-to-host server, weftd's HTTP API), here and only here.
//!
//! A stored actor key is `app||type||id||key` (Dapr's scheme). With a part that contains `||`,
//! or starts or ends with `|`, two different actors could write the same stored key (actor `x`
//! with key `y||k` and actor `x||y` with key `k`), and an outside write could reach the
//! runtime's own records (id `victim||__weft_reminder`). Under the rule below, `||` in a stored
//! key occurs only between parts, so every stored key has exactly one reading.
//!
//! The rule: a name is
//! - non-empty and at most [`MAX_NAME_BYTES`] bytes;
//! - free of `||`, and does not start or end with `|`;
//! - for state keys only: does not start with `__weft` (the runtime's records).
//!
//! Any other byte is allowed (spaces, `/`, `.`, control characters, non-ASCII): weftd passes
//! ids byte-for-byte to its app, percent-encoded.
//!
//! [`HostHandle`]: crate::HostHandle

use crate::error::{Error, ErrorKind};

/// The longest actor type, actor id, state key or reminder name, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// State keys that start with this belong to the runtime (owner epochs, reminder records).
pub const RESERVED_KEY_PREFIX: &str = "__weft";

/// Checks an actor type name against the rule of this module.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] naming the type and the rule it breaks.
pub fn check_actor_type(name: &str) -> Result<(), Error> {
    check("actor type", name)
}

/// Checks an actor id against the rule of this module.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] naming the id and the rule it breaks.
pub fn check_actor_id(id: &str) -> Result<(), Error> {
    check("actor id", id)
}

/// Checks a state key against the rule of this module (reserved prefix included).
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] naming the key and the rule it breaks.
pub fn check_state_key(key: &str) -> Result<(), Error> {
    check("state key", key)?;
    if key.starts_with(RESERVED_KEY_PREFIX) {
        return Err(invalid(
            "state key",
            key,
            format_args!("keys starting with `{RESERVED_KEY_PREFIX}` are reserved for the runtime"),
        ));
    }
    Ok(())
}

/// Checks a reminder name against the rule of this module.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] naming the reminder and the rule it breaks.
pub fn check_reminder_name(name: &str) -> Result<(), Error> {
    check("reminder name", name)
}

/// Checks a type and an id together: the target of a call, a state read or a reminder.
pub(crate) fn check_target(actor_type: &str, id: &str) -> Result<(), Error> {
    check_actor_type(actor_type)?;
    check_actor_id(id)
}

fn check(what: &str, name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(invalid(what, name, format_args!("it must not be empty")));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "{what} is invalid: it is {} bytes long, the limit is {MAX_NAME_BYTES}",
                name.len()
            ),
        ));
    }
    // Most names have no `|` at all: one byte scan settles them.
    let bytes = name.as_bytes();
    if bytes.contains(&b'|')
        && (name.contains("||") || bytes.first() == Some(&b'|') || bytes.last() == Some(&b'|'))
    {
        return Err(invalid(
            what,
            name,
            format_args!("it must not contain `||` nor start or end with `|` (the key separator)"),
        ));
    }
    Ok(())
}

fn invalid(what: &str, name: &str, why: std::fmt::Arguments<'_>) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("{what} {name:?} is invalid: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateKey;

    #[test]
    fn ordinary_names_pass() {
        for name in ["u42", "a|b", "z\tz", "..", "ümlaut", "with space", "a/b"] {
            check_actor_id(name).unwrap();
            check_state_key(name).unwrap();
        }
    }

    #[test]
    fn names_that_could_alias_another_key_are_refused() {
        for name in ["", "a||b", "|a", "a|", "||", "victim||__weft_reminder"] {
            let e = check_actor_id(name).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{name:?}");
            assert!(check_state_key(name).is_err(), "{name:?}");
            assert!(check_actor_type(name).is_err(), "{name:?}");
            assert!(check_reminder_name(name).is_err(), "{name:?}");
        }
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        assert!(check_actor_id(&long).is_err());
        assert!(check_actor_id(&long[1..]).is_ok());
    }

    #[test]
    fn reserved_keys_are_refused_only_as_state_keys() {
        let e = check_state_key("__weft_epoch").unwrap_err();
        assert!(e.message().contains("reserved"), "{e}");
        check_actor_id("__weft_epoch").unwrap();
    }

    /// The property the rule exists for: two distinct (type, id, key) triples that pass it never
    /// make the same stored key. Checked over every triple built from a set of tricky parts.
    #[test]
    fn no_two_valid_triples_share_a_stored_key() {
        let parts = [
            "a", "b", "a|b", "b|a", "a|b|a", "|", "a||b", "ab", "a|", "|b",
        ];
        let mut seen = std::collections::HashMap::new();
        for t in parts {
            for id in parts {
                for key in parts {
                    if check_target(t, id).is_err() || check_state_key(key).is_err() {
                        continue;
                    }
                    let stored = StateKey::actor("app", t, id, key);
                    if let Some(other) = seen.insert(stored.clone(), (t, id, key)) {
                        panic!("{stored:?} is both {other:?} and {:?}", (t, id, key));
                    }
                }
            }
        }
        assert!(seen.len() > 20);
    }
}
