//! Service invocation: a backend app instance and a frontend that calls it by app id, as
//! `invoke_service` and `invoke_mtls` measure it.

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use tokio::runtime::Runtime;
use weft::resolve::StaticResolver;
use weft::security::WorkloadIdentity;
use weft::{Error, Host, HostHandle, ServiceCall, ServiceRequest, ServiceResponse};

use super::{timed, PAYLOAD};

/// A `backend` app instance whose `echo` method returns the request body, and a `frontend` host
/// that reaches it by app id through a static resolver, over loopback gRPC.
pub struct ServicePair {
    /// Kept alive (and listening) while the bench runs.
    _backend: Host,
    /// The caller.
    pub frontend: Host,
    /// The backend's listening address.
    pub address: String,
}

impl ServicePair {
    /// Starts the backend on `backend_rt` and the frontend on `frontend_rt`; `identities` =
    /// (backend's, frontend's) for mTLS, `None` for plain text.
    pub fn start(
        backend_rt: &Runtime,
        frontend_rt: &Runtime,
        identities: Option<(WorkloadIdentity, WorkloadIdentity)>,
    ) -> ServicePair {
        let (backend_id, frontend_id) =
            identities.map_or((None, None), |(b, f)| (Some(b), Some(f)));
        let backend = backend_rt.block_on(async {
            let mut builder = Host::builder()
                .app_id("backend")
                .listen("127.0.0.1:0".parse().expect("an address"))
                .method("echo", |r: ServiceRequest| async move {
                    Ok::<_, Error>(ServiceResponse::ok(r.body().clone()))
                });
            if let Some(id) = backend_id {
                builder = builder.security(id);
            }
            builder.start().expect("start the backend")
        });
        let address = backend
            .handle()
            .address()
            .expect("the backend listens")
            .to_owned();
        let frontend = frontend_rt.block_on(async {
            let resolver = StaticResolver::from_pairs([(("backend", "default"), address.clone())])
                .expect("a static resolver");
            let mut builder = Host::builder().app_id("frontend").resolver(resolver);
            if let Some(id) = frontend_id {
                builder = builder.security(id);
            }
            builder.start().expect("start the frontend")
        });
        ServicePair {
            _backend: backend,
            frontend,
            address,
        }
    }

    /// One call of [`PAYLOAD`] from the frontend (on its runtime, `frontend_rt`), checked: the
    /// bench then measures pooled connections only.
    pub fn warm_up(&self, frontend_rt: &Runtime) {
        let handle = self.frontend.handle();
        frontend_rt.block_on(async move {
            let payload = Bytes::from_static(PAYLOAD);
            let reply = handle
                .invoke("backend", "echo", payload.clone())
                .await
                .expect("warm-up call");
            assert_eq!(reply, payload);
        });
    }
}

/// Benches `{name}_{in_flight}`: service calls of [`PAYLOAD`] to the backend's `echo` from
/// `handle` (a frontend), `in_flight` at a time, timed inside a task on `rt`.
pub fn bench_service_calls(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    rt: &Runtime,
    handle: &HostHandle,
    in_flight: usize,
) {
    let payload = Bytes::from_static(PAYLOAD);
    group.bench_function(format!("{name}_{in_flight}"), |b| {
        b.iter_custom(|iters| {
            let (handle, payload) = (handle.clone(), payload.clone());
            timed(rt, iters, in_flight, move |_| {
                let (handle, payload) = (handle.clone(), payload.clone());
                async move {
                    handle
                        .send(ServiceCall::new("backend", "echo").body(payload))
                        .await
                        .expect("call the backend")
                        .into_body()
                }
            })
        });
    });
}
