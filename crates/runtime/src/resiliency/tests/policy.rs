//! Parsing, validation and resolution of resiliency specs.

use std::time::Duration;

use super::{ms, secs};
use crate::error::{Error, ErrorKind, RetryClass};
use crate::resiliency::{
    BackoffKind, BreakerPolicy, Matching, MethodPolicy, Resiliency, RetryPolicy, Target,
    TargetPolicy,
};

/// A Dapr resource, in Dapr's own spelling (camelCase, `trip` expressions).
const DAPR_YAML: &str = r#"
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: shop-resiliency
scopes:
  - frontend
spec:
  policies:
    timeouts:
      general: 5s
      important: 1m30s
      fast: 100ms
    retries:
      retryFewTimes:
        policy: constant
        duration: 250ms
        maxRetries: 3
      important:
        policy: exponential
        initialInterval: 100ms
        maxInterval: 15s
        maxRetries: 10
        jitter: 0.5
        matching:
          idempotent: true
    circuitBreakers:
      simpleCB:
        maxRequests: 1
        timeout: 30s
        trip: consecutiveFailures > 4
  targets:
    apps:
      backend:
        timeout: general
        retry: retryFewTimes
        circuitBreaker: simpleCB
        methods:
          report:
            timeout: important
            retry: important
    actors:
      cart:
        timeout: fast
        retry: important
"#;

/// The same spec as a bare JSON spec in snake_case.
const BARE_JSON: &str = r#"{
  "scopes": ["frontend"],
  "policies": {
    "timeouts": { "general": "5s", "important": "90s", "fast": "100ms" },
    "retries": {
      "retryFewTimes": { "policy": "constant", "duration": "250ms", "max_retries": 3 },
      "important": {
        "policy": "exponential", "initial_interval": "100ms", "max_interval": "15s",
        "max_retries": 10, "jitter": 0.5, "matching": { "idempotent": true }
      }
    },
    "circuit_breakers": {
      "simpleCB": { "max_requests": 1, "open_timeout": "30s", "max_consecutive_failures": 5 }
    }
  },
  "targets": {
    "apps": {
      "backend": {
        "timeout": "general", "retry": "retryFewTimes", "circuit_breaker": "simpleCB",
        "methods": { "report": { "timeout": "important", "retry": "important" } }
      }
    },
    "actors": { "cart": { "timeout": "fast", "retry": "important" } }
  }
}"#;

fn err_of(result: Result<Resiliency, Error>) -> String {
    let e = result.expect_err("spec should be rejected");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    e.message().to_owned()
}

/// A minimal YAML spec with one retry policy `fast` whose body is `retry_body`.
fn with_retry(retry_body: &str) -> Result<Resiliency, Error> {
    Resiliency::from_yaml_str(&format!(
        "policies:\n  retries:\n    fast:\n{}",
        retry_body
            .lines()
            .map(|l| format!("      {l}\n"))
            .collect::<String>()
    ))
}

#[test]
fn dapr_resource_in_yaml_parses_policies_and_targets() {
    let spec = Resiliency::from_yaml_str(DAPR_YAML).unwrap();
    assert_eq!(spec.scopes, ["frontend"]);
    assert!(spec.applies_to("frontend") && !spec.applies_to("backend"));
    let p = &spec.policies;
    assert_eq!(p.timeouts["general"], secs(5));
    assert_eq!(p.timeouts["important"], secs(90));
    let few = &p.retries["retryFewTimes"];
    assert_eq!(few.policy, BackoffKind::Constant);
    assert_eq!((few.duration, few.max_retries), (ms(250), 3));
    assert_eq!(few.jitter, 0.2, "default jitter");
    assert_eq!(few.matching, Matching::default());
    let important = &p.retries["important"];
    assert_eq!(important.policy, BackoffKind::Exponential);
    assert_eq!(
        (important.initial_interval, important.max_interval),
        (ms(100), secs(15))
    );
    assert!(important.matching.idempotent);
    let cb = &p.circuit_breakers["simpleCB"];
    assert_eq!(
        cb.max_consecutive_failures, 5,
        "`consecutiveFailures > 4` trips at 5"
    );
    assert_eq!((cb.open_timeout, cb.max_requests), (secs(30), 1));
    let backend = &spec.targets.apps["backend"];
    assert_eq!(backend.circuit_breaker.as_deref(), Some("simpleCB"));
    assert_eq!(
        backend.methods["report"].retry.as_deref(),
        Some("important")
    );
}

#[test]
fn bare_json_spec_parses_to_the_same_struct_as_the_dapr_yaml() {
    let json = Resiliency::from_json_str(BARE_JSON).unwrap();
    assert_eq!(json, Resiliency::from_yaml_str(DAPR_YAML).unwrap());
}

#[test]
fn durations_take_go_style_strings() {
    let spec = Resiliency::from_yaml_str(
        "policies:\n  timeouts:\n    a: 1m30s\n    b: 100ms\n    c: 1h 30m\n    d: 2s500ms\n",
    )
    .unwrap();
    let t = &spec.policies.timeouts;
    assert_eq!(
        [t["a"], t["b"], t["c"], t["d"]],
        [secs(90), ms(100), secs(5400), ms(2500)]
    );
}

#[test]
fn a_duration_without_a_unit_is_rejected_with_a_hint() {
    let msg = err_of(Resiliency::from_yaml_str(
        "policies:\n  timeouts:\n    general: 5\n",
    ));
    assert!(
        msg.contains("duration 5 has no unit; write it as \"5s\""),
        "{msg}"
    );
    let msg = err_of(Resiliency::from_yaml_str(
        "policies:\n  timeouts:\n    general: soon\n",
    ));
    assert!(msg.contains("`soon` is not a duration"), "{msg}");
}

#[test]
fn unlimited_retries_are_rejected_naming_field_value_and_rule() {
    let msg = err_of(with_retry("maxRetries: -1"));
    assert_eq!(
        msg,
        "policies.retries.fast.max_retries is -1; must be between 0 and 100 \
         (unlimited retries are not allowed)"
    );
    let msg = err_of(with_retry("max_retries: 101"));
    assert_eq!(
        msg,
        "policies.retries.fast.max_retries is 101; must be between 0 and 100"
    );
}

#[test]
fn retry_policy_values_are_checked() {
    assert_eq!(
        err_of(with_retry("jitter: 1.5")),
        "policies.retries.fast.jitter is 1.5; must be between 0 and 1"
    );
    assert_eq!(
        err_of(with_retry("policy: exponential\nmultiplier: 0.5")),
        "policies.retries.fast.multiplier is 0.5; must be at least 1"
    );
    assert_eq!(
        err_of(with_retry(
            "policy: exponential\ninitial_interval: 2m\nmax_interval: 1m"
        )),
        "policies.retries.fast.initial_interval is 2m; must not exceed max_interval (1m)"
    );
    assert_eq!(
        err_of(with_retry("policy: exponential\ninitial_interval: 0s")),
        "policies.retries.fast.initial_interval is 0s; must be greater than 0 for an \
         exponential policy"
    );
    assert!(err_of(with_retry("policy: linear")).contains("unknown variant `linear`"));
}

#[test]
fn breaker_and_timeout_values_are_checked() {
    let cb = |body: &str| {
        Resiliency::from_yaml_str(&format!(
            "policies:\n  circuitBreakers:\n    cb: {{{body}}}\n"
        ))
    };
    assert_eq!(
        err_of(cb("trip: 0")),
        "policies.circuit_breakers.cb.max_consecutive_failures is 0; must be at least 1"
    );
    assert_eq!(
        err_of(cb("maxRequests: 0")),
        "policies.circuit_breakers.cb.max_requests is 0; must be at least 1"
    );
    assert_eq!(
        err_of(cb("timeout: 0s")),
        "policies.circuit_breakers.cb.open_timeout is 0s; must be greater than 0"
    );
    assert!(err_of(cb("trip: 'requests > 3'")).contains("trip expression `requests > 3`"));
    assert_eq!(
        err_of(Resiliency::from_yaml_str(
            "policies:\n  timeouts:\n    t: 0s\n"
        )),
        "policies.timeouts.t is 0s; must be greater than 0"
    );
}

#[test]
fn trip_expressions_follow_dapr() {
    let trip = |expr: &str| {
        let spec = Resiliency::from_yaml_str(&format!(
            "policies:\n  circuitBreakers:\n    cb:\n      trip: {expr}\n"
        ))
        .unwrap();
        spec.policies.circuit_breakers["cb"].max_consecutive_failures
    };
    assert_eq!(trip("consecutiveFailures > 4"), 5);
    assert_eq!(trip("consecutiveFailures >= 3"), 3);
    assert_eq!(trip("'consecutiveFailures>2'"), 3);
    assert_eq!(trip("7"), 7);
}

#[test]
fn unknown_policy_names_are_rejected() {
    let spec = |target: &str| {
        Resiliency::from_yaml_str(&format!(
            "policies:\n  retries:\n    fast: {{}}\n  timeouts:\n    general: 1s\ntargets:\n{target}"
        ))
    };
    assert_eq!(
        err_of(spec("  apps:\n    backend:\n      retry: slow\n")),
        "targets.apps.backend.retry refers to unknown retry policy `slow`"
    );
    assert_eq!(
        err_of(spec(
            "  actors:\n    cart:\n      methods:\n        checkout:\n          timeout: glacial\n"
        )),
        "targets.actors.cart.methods.checkout.timeout refers to unknown timeout policy `glacial`"
    );
    assert_eq!(
        err_of(spec("  apps:\n    backend:\n      circuitBreaker: cb\n")),
        "targets.apps.backend.circuit_breaker refers to unknown circuit breaker policy `cb`"
    );
}

#[test]
fn unknown_fields_and_kinds_are_rejected() {
    let msg = err_of(with_retry("maxRetrys: 3"));
    assert!(msg.contains("unknown field `maxRetrys`"), "{msg}");
    let msg = err_of(Resiliency::from_yaml_str("kind: Component\nspec: {}\n"));
    assert_eq!(msg, "kind is `Component`; must be `Resiliency`");
    let msg = err_of(Resiliency::from_json_str(
        "{\"policies\": {\"retries\": 3}}",
    ));
    assert!(msg.starts_with("invalid resiliency spec:"), "{msg}");
}

#[test]
fn method_overrides_win_over_target_defaults_field_by_field() {
    let spec = Resiliency::from_yaml_str(DAPR_YAML).unwrap();
    let other = spec.resolve(Target::App("backend"), "get");
    assert_eq!(other.timeout, Some(secs(5)));
    assert_eq!(other.retry.as_deref().map(|r| r.max_retries), Some(3));
    let report = spec.resolve(Target::App("backend"), "report");
    assert_eq!(report.timeout, Some(secs(90)));
    assert_eq!(report.retry.as_deref().map(|r| r.max_retries), Some(10));
    // The override names no breaker, so the target's applies.
    let (name, cb) = report.breaker.unwrap();
    assert_eq!(
        (name.as_str(), cb.max_consecutive_failures),
        ("simpleCB", 5)
    );
}

#[test]
fn app_and_actor_targets_are_looked_up_separately() {
    let spec = Resiliency::from_yaml_str(DAPR_YAML).unwrap();
    assert_eq!(
        spec.resolve(Target::Actor("cart"), "add").timeout,
        Some(ms(100))
    );
    assert_eq!(spec.resolve(Target::App("cart"), "add"), Default::default());
    assert_eq!(
        spec.resolve(Target::Actor("backend"), "get"),
        Default::default()
    );
}

#[test]
fn dapr_default_policies_apply_where_a_target_names_none() {
    let spec = Resiliency::builder()
        .timeout("DefaultTimeoutPolicy", secs(10))
        .timeout("DefaultActorTimeoutPolicy", secs(3))
        .retry(
            "DefaultRetryPolicy",
            RetryPolicy::constant(ms(10)).max_retries(2),
        )
        .timeout("general", secs(5))
        .app("backend", TargetPolicy::default().timeout("general"))
        .build()
        .unwrap();
    let app = spec.resolve(Target::App("backend"), "get");
    assert_eq!(app.timeout, Some(secs(5)), "the target's own policy wins");
    assert_eq!(app.retry.map(|r| r.max_retries), Some(2));
    assert_eq!(
        spec.resolve(Target::App("other"), "x").timeout,
        Some(secs(10))
    );
    assert_eq!(
        spec.resolve(Target::Actor("cart"), "x").timeout,
        Some(secs(3))
    );
    assert!(spec.resolve(Target::Actor("cart"), "x").breaker.is_none());
}

#[test]
fn builder_and_file_make_the_same_spec() {
    let built = Resiliency::builder()
        .scopes(["frontend"])
        .timeout("general", secs(5))
        .timeout("important", secs(90))
        .timeout("fast", ms(100))
        .retry(
            "retryFewTimes",
            RetryPolicy::constant(ms(250)).max_retries(3),
        )
        .retry(
            "important",
            RetryPolicy::exponential(ms(100), secs(15))
                .max_retries(10)
                .jitter(0.5)
                .idempotent(),
        )
        .circuit_breaker(
            "simpleCB",
            BreakerPolicy::trip_after(5).open_timeout(secs(30)),
        )
        .app(
            "backend",
            TargetPolicy::default()
                .timeout("general")
                .retry("retryFewTimes")
                .circuit_breaker("simpleCB")
                .method(
                    "report",
                    MethodPolicy::default()
                        .timeout("important")
                        .retry("important"),
                ),
        )
        .actor(
            "cart",
            TargetPolicy::default().timeout("fast").retry("important"),
        )
        .build()
        .unwrap();
    assert_eq!(built, Resiliency::from_yaml_str(DAPR_YAML).unwrap());
}

#[test]
fn builder_validates_like_the_loaders() {
    let msg = err_of(
        Resiliency::builder()
            .app("backend", TargetPolicy::default().retry("slow"))
            .build(),
    );
    assert_eq!(
        msg,
        "targets.apps.backend.retry refers to unknown retry policy `slow`"
    );
}

#[test]
fn load_picks_the_format_by_extension_and_names_the_file_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("resiliency.yaml");
    let json = dir.path().join("resiliency.json");
    std::fs::write(&yaml, DAPR_YAML).unwrap();
    std::fs::write(&json, BARE_JSON).unwrap();
    assert_eq!(
        Resiliency::load(&yaml).unwrap(),
        Resiliency::load(&json).unwrap()
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "policies:\n  retries:\n    fast:\n      maxRetries: -1\n",
    )
    .unwrap();
    let msg = err_of(Resiliency::load(&bad));
    assert!(msg.contains("bad.yaml"), "{msg}");
    assert!(
        msg.contains("policies.retries.fast.max_retries is -1"),
        "{msg}"
    );
    let msg = err_of(Resiliency::load(dir.path().join("missing.yaml")));
    assert!(msg.starts_with("cannot read resiliency spec"), "{msg}");
}

#[test]
fn only_never_reached_errors_are_retriable_by_default() {
    let default = Matching::default();
    let idempotent = Matching { idempotent: true };
    for kind in [
        ErrorKind::Unavailable,
        ErrorKind::Moved,
        ErrorKind::CircuitOpen,
    ] {
        assert!(
            default.is_retriable(kind) && idempotent.is_retriable(kind),
            "{kind}"
        );
    }
    for kind in [ErrorKind::Interrupted, ErrorKind::DeadlineExceeded] {
        assert!(
            !default.is_retriable(kind) && idempotent.is_retriable(kind),
            "{kind}"
        );
    }
    for kind in [
        ErrorKind::ActorFailed,
        ErrorKind::NotFound,
        ErrorKind::InvalidArgument,
        ErrorKind::Conflict,
        ErrorKind::Internal,
        ErrorKind::ShuttingDown,
        ErrorKind::Store,
        ErrorKind::Corrupt,
    ] {
        assert!(!idempotent.is_retriable(kind), "{kind}");
    }
}

#[test]
fn a_retry_policy_retries_by_retry_class_and_never_a_shutting_down_host() {
    for kind in crate::error::ALL_KINDS {
        let (default, idempotent) = match kind.retry_class() {
            // The one stated exception: a shutting-down host refuses its retry as well.
            _ if kind == ErrorKind::ShuttingDown => (false, false),
            RetryClass::NeverSent => (true, true),
            RetryClass::IdempotentOnly => (false, true),
            RetryClass::Never => (false, false),
        };
        assert_eq!(Matching::default().is_retriable(kind), default, "{kind}");
        assert_eq!(
            Matching { idempotent: true }.is_retriable(kind),
            idempotent,
            "{kind}"
        );
    }
}

#[test]
fn only_instance_failures_count_against_a_breaker() {
    let p = BreakerPolicy::default();
    let counts = |kind| p.is_failure(&Error::new(kind, "x"));
    for kind in [
        ErrorKind::Unavailable,
        ErrorKind::DeadlineExceeded,
        ErrorKind::Interrupted,
        ErrorKind::Internal,
    ] {
        assert!(counts(kind), "{kind}");
    }
    for kind in [
        ErrorKind::ActorFailed,
        ErrorKind::NotFound,
        ErrorKind::InvalidArgument,
        ErrorKind::Moved,
    ] {
        assert!(!counts(kind), "{kind}");
    }
}

#[test]
fn defaults_are_documented_values() {
    let r = RetryPolicy::default();
    assert_eq!(
        (r.policy, r.duration, r.initial_interval, r.max_interval),
        (BackoffKind::Constant, secs(5), ms(500), secs(60))
    );
    assert_eq!((r.multiplier, r.max_retries, r.jitter), (1.5, 3, 0.2));
    let b = BreakerPolicy::default();
    assert_eq!(
        (
            b.max_consecutive_failures,
            b.open_timeout,
            b.interval,
            b.max_requests
        ),
        (5, secs(60), Duration::ZERO, 1)
    );
}
