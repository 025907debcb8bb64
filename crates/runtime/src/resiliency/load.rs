//! Loading a spec from YAML or JSON (a bare spec or a whole Dapr `kind: Resiliency` document),
//! and validating it with errors that name the field, its value and the rule.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::policy::{BackoffKind, BreakerPolicy, Resiliency, RetryPolicy, MAX_RETRIES_LIMIT};
use super::targets::{MethodPolicy, TargetPolicy};
use crate::error::{Error, ErrorKind};

/// Just enough of a document to tell a Dapr resource (with `spec`) from a bare spec.
#[derive(Deserialize)]
struct Probe {
    spec: Option<IgnoredAny>,
}

/// A whole Dapr resource: `apiVersion`, `kind`, `metadata`, `scopes`, `spec`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DaprDocument {
    #[serde(default)]
    api_version: Option<IgnoredAny>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<IgnoredAny>,
    #[serde(default)]
    version: Option<IgnoredAny>,
    #[serde(default)]
    scopes: Vec<String>,
    spec: Resiliency,
}

impl DaprDocument {
    fn into_spec(self) -> Result<Resiliency, Error> {
        let _ = (self.api_version, self.metadata, self.version);
        if let Some(kind) = self.kind.filter(|k| k != "Resiliency") {
            return Err(invalid(format!("kind is `{kind}`; must be `Resiliency`")));
        }
        let mut spec = self.spec;
        spec.scopes.extend(self.scopes);
        Ok(spec)
    }
}

impl Resiliency {
    /// Parses and validates a spec written in YAML.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] when the text is not a spec (the message gives the path
    /// and line) or the spec is invalid (see [`Resiliency::validate`]).
    pub fn from_yaml_str(text: &str) -> Result<Self, Error> {
        let probe: Probe = serde_yaml_ng::from_str(text).map_err(parse_error)?;
        let spec = if probe.spec.is_some() {
            serde_yaml_ng::from_str::<DaprDocument>(text)
                .map_err(parse_error)?
                .into_spec()?
        } else {
            serde_yaml_ng::from_str(text).map_err(parse_error)?
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Parses and validates a spec written in JSON.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] when the text is not a spec (the message gives the line
    /// and column) or the spec is invalid (see [`Resiliency::validate`]).
    pub fn from_json_str(text: &str) -> Result<Self, Error> {
        let probe: Probe = serde_json::from_str(text).map_err(parse_error)?;
        let spec = if probe.spec.is_some() {
            serde_json::from_str::<DaprDocument>(text)
                .map_err(parse_error)?
                .into_spec()?
        } else {
            serde_json::from_str(text).map_err(parse_error)?
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Reads, parses and validates a spec file: JSON if its name ends in `.json`, else YAML.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] when the file cannot be read, is not a spec, or the spec
    /// is invalid; the message names the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            invalid(format!(
                "cannot read resiliency spec {}: {e}",
                path.display()
            ))
            .with_source(e)
        })?;
        let is_json = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        let spec = if is_json {
            Self::from_json_str(&text)
        } else {
            Self::from_yaml_str(&text)
        };
        spec.map_err(|e| {
            invalid(format!(
                "resiliency spec {}: {}",
                path.display(),
                e.message()
            ))
            .with_source(e)
        })
    }

    /// Checks every policy's values and every name a target refers to.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the first bad field, its value and the rule, e.g.
    /// "policies.retries.fast.max_retries is -1; must be between 0 and 100 (unlimited retries
    /// are not allowed)" or "targets.apps.backend.retry refers to unknown retry policy `slow`".
    pub fn validate(&self) -> Result<(), Error> {
        for (name, timeout) in &self.policies.timeouts {
            if timeout.is_zero() {
                return Err(invalid(format!(
                    "policies.timeouts.{name} is 0s; must be greater than 0"
                )));
            }
        }
        for (name, retry) in &self.policies.retries {
            validate_retry(&format!("policies.retries.{name}"), retry)?;
        }
        for (name, breaker) in &self.policies.circuit_breakers {
            validate_breaker(&format!("policies.circuit_breakers.{name}"), breaker)?;
        }
        self.validate_targets("targets.apps", &self.targets.apps)?;
        self.validate_targets("targets.actors", &self.targets.actors)
    }

    fn validate_targets(
        &self,
        path: &str,
        targets: &BTreeMap<String, TargetPolicy>,
    ) -> Result<(), Error> {
        for (target, tp) in targets {
            let at = format!("{path}.{target}");
            self.check_names(&at, &tp.timeout, &tp.retry, &tp.circuit_breaker)?;
            for (
                method,
                MethodPolicy {
                    timeout,
                    retry,
                    circuit_breaker,
                },
            ) in &tp.methods
            {
                let at = format!("{at}.methods.{method}");
                self.check_names(&at, timeout, retry, circuit_breaker)?;
            }
        }
        Ok(())
    }

    fn check_names(
        &self,
        at: &str,
        timeout: &Option<String>,
        retry: &Option<String>,
        circuit_breaker: &Option<String>,
    ) -> Result<(), Error> {
        let p = &self.policies;
        if let Some(name) = timeout.as_deref().filter(|n| !p.timeouts.contains_key(*n)) {
            return Err(unknown(at, "timeout", "timeout", name));
        }
        if let Some(name) = retry.as_deref().filter(|n| !p.retries.contains_key(*n)) {
            return Err(unknown(at, "retry", "retry", name));
        }
        if let Some(name) = circuit_breaker
            .as_deref()
            .filter(|n| !p.circuit_breakers.contains_key(*n))
        {
            return Err(unknown(at, "circuit_breaker", "circuit breaker", name));
        }
        Ok(())
    }
}

fn validate_retry(at: &str, p: &RetryPolicy) -> Result<(), Error> {
    if !(0..=MAX_RETRIES_LIMIT).contains(&p.max_retries) {
        let why = if p.max_retries < 0 {
            " (unlimited retries are not allowed)"
        } else {
            ""
        };
        return Err(invalid(format!(
            "{at}.max_retries is {}; must be between 0 and {MAX_RETRIES_LIMIT}{why}",
            p.max_retries
        )));
    }
    if !(0.0..=1.0).contains(&p.jitter) {
        return Err(invalid(format!(
            "{at}.jitter is {}; must be between 0 and 1",
            p.jitter
        )));
    }
    if p.policy == BackoffKind::Exponential {
        if !(p.multiplier.is_finite() && p.multiplier >= 1.0) {
            return Err(invalid(format!(
                "{at}.multiplier is {}; must be at least 1",
                p.multiplier
            )));
        }
        if p.initial_interval.is_zero() {
            return Err(invalid(format!(
                "{at}.initial_interval is 0s; must be greater than 0 for an exponential policy"
            )));
        }
        if p.initial_interval > p.max_interval {
            return Err(invalid(format!(
                "{at}.initial_interval is {}; must not exceed max_interval ({})",
                show(p.initial_interval),
                show(p.max_interval)
            )));
        }
    }
    Ok(())
}

fn validate_breaker(at: &str, p: &BreakerPolicy) -> Result<(), Error> {
    if p.max_consecutive_failures == 0 {
        return Err(invalid(format!(
            "{at}.max_consecutive_failures is 0; must be at least 1"
        )));
    }
    if p.max_requests == 0 {
        return Err(invalid(format!(
            "{at}.max_requests is 0; must be at least 1"
        )));
    }
    if p.open_timeout.is_zero() {
        return Err(invalid(format!(
            "{at}.open_timeout is 0s; must be greater than 0"
        )));
    }
    Ok(())
}

fn unknown(at: &str, field: &str, what: &str, name: &str) -> Error {
    invalid(format!(
        "{at}.{field} refers to unknown {what} policy `{name}`"
    ))
}

pub(crate) fn show(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

fn parse_error(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    invalid(format!("invalid resiliency spec: {e}")).with_source(e)
}
