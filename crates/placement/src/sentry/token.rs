//! The join token: an operator-provided shared secret a host shows to get a certificate.

use std::fmt;

use subtle::ConstantTimeEq;

/// The operator's join token, compared in constant time and never printed.
///
/// The scheme is deliberately simple: one secret per Sentry, handed to every host of the trust
/// domain (a file readable by the hosts only, or an environment variable). Whoever holds it may
/// request a certificate for any app id, so treat it like the CA key's little sibling: rotate it
/// by restarting the Sentry with a new one.
#[derive(Clone)]
pub struct JoinToken(String);

impl JoinToken {
    /// A token from its text; surrounding whitespace (a trailing newline in a file) is trimmed.
    ///
    /// # Errors
    /// When the token is shorter than 16 characters: a short shared secret is guessable.
    pub fn new(token: impl AsRef<str>) -> Result<Self, String> {
        let token = token.as_ref().trim();
        if token.len() < 16 {
            return Err(format!(
                "the join token is {} characters long; it must have at least 16",
                token.len()
            ));
        }
        Ok(JoinToken(token.to_owned()))
    }

    /// Whether `presented` is this token (constant time in the token's contents).
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented.trim().as_bytes()))
    }

    /// The token's text, to send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_themselves_and_never_print() {
        let token = JoinToken::new("0123456789abcdef\n").unwrap();
        assert!(token.matches("0123456789abcdef"));
        assert!(!token.matches("0123456789abcdeX"));
        assert!(!token.matches("0123456789abcde"));
        assert!(!token.matches(""));
        assert!(!format!("{token:?}").contains("0123"));
        assert!(JoinToken::new("short").is_err());
    }
}
