//! The baseline: a raw tonic unary echo service, written by hand as tonic's codegen would, and
//! its client. What a forwarded call or a service call cannot go below.

use std::convert::Infallible;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use tokio::runtime::Runtime;
use tonic::codegen::{http, Body, BoxFuture, Service, StdError};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

use super::{runtime, timed, PAYLOAD};

/// The request and the reply of the echo service.
#[derive(Clone, PartialEq, prost::Message)]
struct EchoMessage {
    #[prost(bytes = "bytes", tag = "1")]
    payload: Bytes,
}

const ECHO_PATH: &str = "/bench.Echo/Echo";

/// The echo service: the routing a generated `*Server` does, for one method.
#[derive(Debug, Clone, Copy)]
struct EchoServer;

impl tonic::server::NamedService for EchoServer {
    const NAME: &'static str = "bench.Echo";
}

/// The echo method.
struct EchoMethod;

impl tonic::server::UnaryService<EchoMessage> for EchoMethod {
    type Response = EchoMessage;
    type Future = BoxFuture<Response<EchoMessage>, Status>;

    fn call(&mut self, request: Request<EchoMessage>) -> Self::Future {
        Box::pin(async move { Ok(Response::new(request.into_inner())) })
    }
}

impl<B> Service<http::Request<B>> for EchoServer
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        Box::pin(async move {
            if request.uri().path() == ECHO_PATH {
                let mut grpc =
                    tonic::server::Grpc::new(ProstCodec::<EchoMessage, EchoMessage>::default());
                Ok(grpc.unary(EchoMethod, request).await)
            } else {
                Ok(Status::unimplemented(request.uri().path().to_owned()).into_http())
            }
        })
    }
}

/// Serves the echo service on a free loopback port on `rt`; returns its URI.
fn start_echo_server(rt: &Runtime) -> String {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the echo server");
        let addr = listener.local_addr().expect("the echo server's address");
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        tokio::spawn(
            tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .add_service(EchoServer)
                .serve_with_incoming(incoming),
        );
        format!("http://{addr}")
    })
}

/// One echo call over `grpc` (a clone of the client, as Weft clones its peer client per call).
async fn raw_echo(mut grpc: tonic::client::Grpc<Channel>, payload: Bytes) -> Bytes {
    grpc.ready().await.expect("the echo channel is ready");
    let reply: Response<EchoMessage> = grpc
        .unary(
            Request::new(EchoMessage { payload }),
            http::uri::PathAndQuery::from_static(ECHO_PATH),
            ProstCodec::default(),
        )
        .await
        .expect("the echo call");
    reply.into_inner().payload
}

/// The raw tonic echo baseline, connected and checked: the server and the client each on a
/// 1-worker runtime of their own, so neither shares threads with the hosts under test.
pub struct EchoBaseline {
    server_rt: Runtime,
    client_rt: Runtime,
    grpc: tonic::client::Grpc<Channel>,
}

impl EchoBaseline {
    /// Starts the server, connects the client and checks that one call echoes [`PAYLOAD`].
    pub fn start() -> EchoBaseline {
        let server_rt = runtime("echo-server", 1);
        let client_rt = runtime("echo-client", 1);
        let echo_uri = start_echo_server(&server_rt);
        let grpc = client_rt.block_on(async {
            let grpc = echo_client(echo_uri).await;
            let payload = Bytes::from_static(PAYLOAD);
            assert_eq!(raw_echo(grpc.clone(), payload.clone()).await, payload);
            grpc
        });
        EchoBaseline {
            server_rt,
            client_rt,
            grpc,
        }
    }

    /// Benches `raw_tonic_echo_{in_flight}`: echo calls of [`PAYLOAD`], `in_flight` at a time,
    /// timed inside a task on the client's runtime (as the Weft calls they are the floor for).
    pub fn bench(&self, group: &mut BenchmarkGroup<'_, WallTime>, in_flight: usize) {
        let payload = Bytes::from_static(PAYLOAD);
        group.bench_function(format!("raw_tonic_echo_{in_flight}"), |b| {
            b.iter_custom(|iters| {
                let (grpc, payload) = (self.grpc.clone(), payload.clone());
                timed(&self.client_rt, iters, in_flight, move |_| {
                    raw_echo(grpc.clone(), payload.clone())
                })
            });
        });
    }

    /// Closes the client's channel, then drops both runtimes without waiting for their tasks
    /// (the server runs forever).
    pub fn shutdown(self) {
        let EchoBaseline {
            server_rt,
            client_rt,
            grpc,
        } = self;
        drop(grpc);
        client_rt.shutdown_background();
        server_rt.shutdown_background();
    }
}

/// Connects a tonic client to the echo server at `uri` (TCP_NODELAY, as Weft's peer channels).
async fn echo_client(uri: String) -> tonic::client::Grpc<Channel> {
    let channel = Endpoint::from_shared(uri)
        .expect("the echo URI")
        .tcp_nodelay(true)
        .connect()
        .await
        .expect("connect to the echo server");
    tonic::client::Grpc::new(channel)
}
