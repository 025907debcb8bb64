//! Access control per app, modelled on Dapr's `accessControl` configuration: which callers
//! (by the SPIFFE id of their verified certificate) may call which methods with which verbs.

use std::path::Path;

use serde::Deserialize;

use super::SpiffeId;
use crate::error::{Error, ErrorKind};

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The call goes ahead.
    Allow,
    /// The call fails with [`ErrorKind::PermissionDenied`].
    Deny,
}

/// An app's access-control policy. The file format (YAML) is Dapr's `accessControl`:
///
/// ```yaml
/// accessControl:
///   defaultAction: deny          # callers without a policy of their own
///   trustDomain: cluster.local   # optional: policies apply to callers of this trust domain
///   policies:
///   - appId: frontend            # the caller's app id, from its certificate
///     namespace: shop            # optional: only callers of this namespace
///     defaultAction: deny        # methods no operation below matches
///     operations:
///     - name: /api/*             # `*` matches within one path segment, `**` any segments
///       httpVerb: [GET, POST]    # `*` or omitted: any verb
///       action: allow
/// ```
///
/// The first operation (in file order) whose name and verb match decides; then the caller's
/// policy's `defaultAction`; callers without a policy (or without a verified identity, in
/// plain-text mode) get the top-level `defaultAction`. Method names are compared without a
/// leading `/`, so `/api/items` and `api/items` are the same method.
///
/// # Examples
/// ```
/// use weft_runtime::security::{AccessControl, Action, SpiffeId};
///
/// let acl = AccessControl::from_yaml(r#"
/// accessControl:
///   defaultAction: deny
///   policies:
///   - appId: frontend
///     defaultAction: deny
///     operations:
///     - { name: "/api/*", httpVerb: [GET], action: allow }
/// "#)?;
/// let frontend: SpiffeId = "spiffe://cluster.local/ns/default/frontend".parse().unwrap();
/// assert_eq!(acl.decide(Some(&frontend), "api/items", "GET").action, Action::Allow);
/// assert_eq!(acl.decide(Some(&frontend), "api/items", "DELETE").action, Action::Deny);
/// assert_eq!(acl.decide(None, "api/items", "GET").action, Action::Deny);
/// # Ok::<(), weft_runtime::Error>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessControl {
    default_action: Action,
    #[serde(default)]
    trust_domain: Option<String>,
    #[serde(default)]
    policies: Vec<Policy>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Policy {
    app_id: String,
    default_action: Action,
    #[serde(default)]
    trust_domain: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    operations: Vec<Operation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Operation {
    name: String,
    #[serde(default)]
    http_verb: Vec<String>,
    action: Action,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct File {
    access_control: AccessControl,
}

/// The outcome of [`AccessControl::decide`], with the rule that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allow or deny.
    pub action: Action,
    /// Which rule decided, for the audit log and the error message.
    pub reason: String,
}

impl AccessControl {
    /// A policy that applies `default_action` to every call.
    pub fn new(default_action: Action) -> Self {
        AccessControl {
            default_action,
            trust_domain: None,
            policies: Vec::new(),
        }
    }

    /// Parses a policy: a document with a top-level `accessControl:` key (as in Dapr's
    /// Configuration `spec`), or the policy's fields at the top level.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming what does not parse or is invalid (an unknown
    /// field, two policies for the same caller, an empty operation name).
    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        let bad = |e: serde_yaml_ng::Error| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid access-control policy: {e}"),
            )
        };
        let acl = match serde_yaml_ng::from_str::<File>(text) {
            Ok(file) => file.access_control,
            Err(wrapped) => match serde_yaml_ng::from_str::<AccessControl>(text) {
                Ok(acl) => acl,
                // Report the error of the documented (wrapped) form when the text uses it.
                Err(e) if !text.contains("accessControl") => return Err(bad(e)),
                Err(_) => return Err(bad(wrapped)),
            },
        };
        acl.validate()?;
        Ok(acl)
    }

    /// Reads and parses a policy file; see [`from_yaml`](Self::from_yaml).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] when the file cannot be read or parsed.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        Self::from_yaml(&text).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("{}: {}", path.display(), e.message()),
            )
        })
    }

    fn validate(&self) -> Result<(), Error> {
        let bad = |why: String| Err(Error::new(ErrorKind::InvalidArgument, why));
        for (i, policy) in self.policies.iter().enumerate() {
            let twin = self.policies[..i].iter().any(|p| {
                p.app_id == policy.app_id
                    && p.namespace == policy.namespace
                    && p.trust_domain == policy.trust_domain
            });
            if twin {
                return bad(format!(
                    "access-control policy for app id `{}` is given twice",
                    policy.app_id
                ));
            }
            for op in &policy.operations {
                if op.name.trim_start_matches('/').is_empty() {
                    return bad(format!(
                        "an operation of the policy for `{}` has an empty name",
                        policy.app_id
                    ));
                }
            }
        }
        Ok(())
    }

    /// Decides whether `caller` (the verified identity; `None` when there is none) may call
    /// `method` with `verb`.
    pub fn decide(&self, caller: Option<&SpiffeId>, method: &str, verb: &str) -> Decision {
        let default = |why: &str| Decision {
            action: self.default_action,
            reason: format!("{why}: default action {:?}", self.default_action).to_lowercase(),
        };
        let Some(caller) = caller else {
            return default("caller has no verified identity");
        };
        let policy = self.policies.iter().find(|p| {
            p.app_id == caller.app_id()
                && p.namespace
                    .as_deref()
                    .is_none_or(|ns| ns == caller.namespace())
                && p.trust_domain
                    .as_deref()
                    .or(self.trust_domain.as_deref())
                    .is_none_or(|td| td == caller.trust_domain())
        });
        let Some(policy) = policy else {
            return default("no policy for this caller");
        };
        let method = method.trim_start_matches('/');
        for op in &policy.operations {
            let verb_matches = op.http_verb.is_empty()
                || op
                    .http_verb
                    .iter()
                    .any(|v| v == "*" || v.eq_ignore_ascii_case(verb));
            if verb_matches && glob_matches(op.name.trim_start_matches('/'), method) {
                return Decision {
                    action: op.action,
                    reason: format!(
                        "operation `{}` of the policy for `{}`",
                        op.name, policy.app_id
                    ),
                };
            }
        }
        Decision {
            action: policy.default_action,
            reason: format!(
                "no operation matches; default action of the policy for `{}`",
                policy.app_id
            ),
        }
    }
}

/// Matches a `/`-separated path against a pattern: `**` matches any number of segments
/// (including none), `*` within a segment matches any characters but `/`.
fn glob_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    segments_match(&pattern, &path)
}

fn segments_match(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| segments_match(rest, &path[skip..])),
        Some((first, rest)) => match path.split_first() {
            Some((segment, path_rest)) => {
                segment_matches(first, segment) && segments_match(rest, path_rest)
            }
            None => false,
        },
    }
}

fn segment_matches(pattern: &str, segment: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return true;
    };
    let Some(mut rest) = segment.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: the whole segment must be the literal.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_segments_and_double_stars_match_paths() {
        assert!(glob_matches("api/*", "api/items"));
        assert!(!glob_matches("api/*", "api/items/1"));
        assert!(!glob_matches("api/*", "api"));
        assert!(glob_matches("api/**", "api/items/1"));
        assert!(glob_matches("api/**", "api"));
        assert!(glob_matches("**", "anything/at/all"));
        assert!(glob_matches("get*", "getItem"));
        assert!(glob_matches("*Item", "getItem"));
        assert!(glob_matches("g*t*m", "getItem"));
        assert!(!glob_matches("g*t*x", "getItem"));
        assert!(!glob_matches("ab*ba", "aba"));
        assert!(glob_matches("exact", "exact"));
        assert!(!glob_matches("exact", "exactly"));
    }

    #[test]
    fn policies_parse_with_and_without_the_wrapper_and_bad_ones_do_not() {
        let plain = "defaultAction: allow\npolicies: []\n";
        assert_eq!(
            AccessControl::from_yaml(plain)
                .unwrap()
                .decide(None, "x", "GET")
                .action,
            Action::Allow
        );
        for bad in [
            "accessControl:\n  defaultAction: maybe\n",
            "accessControl:\n  defaultAction: allow\n  extra: 1\n",
            "accessControl:\n  defaultAction: allow\n  policies:\n  - {appId: a, defaultAction: deny}\n  - {appId: a, defaultAction: allow}\n",
            "accessControl:\n  defaultAction: allow\n  policies:\n  - appId: a\n    defaultAction: deny\n    operations: [{name: '/', action: allow}]\n",
        ] {
            assert!(AccessControl::from_yaml(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_matching_operation_decides_then_the_policy_then_the_global_default() {
        let acl = AccessControl::from_yaml(
            r#"
accessControl:
  defaultAction: deny
  trustDomain: td
  policies:
  - appId: a
    namespace: ns
    defaultAction: allow
    operations:
    - { name: /admin/**, action: deny }
    - { name: /admin/ping, action: allow }
"#,
        )
        .unwrap();
        let a: SpiffeId = "spiffe://td/ns/ns/a".parse().unwrap();
        let a_elsewhere: SpiffeId = "spiffe://td/ns/other/a".parse().unwrap();
        let a_other_td: SpiffeId = "spiffe://xx/ns/ns/a".parse().unwrap();
        assert_eq!(
            acl.decide(Some(&a), "admin/ping", "GET").action,
            Action::Deny
        );
        assert_eq!(acl.decide(Some(&a), "/orders", "GET").action, Action::Allow);
        assert_eq!(
            acl.decide(Some(&a_elsewhere), "orders", "GET").action,
            Action::Deny
        );
        assert_eq!(
            acl.decide(Some(&a_other_td), "orders", "GET").action,
            Action::Deny
        );
    }
}
