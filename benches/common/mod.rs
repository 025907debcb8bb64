//! What several benches share: runtimes, the raw tonic echo baseline, the timed loop.
#![allow(dead_code, unreachable_pub)] // each bench uses a part; `pub` for the benches that `mod` it

use std::convert::Infallible;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::black_box;
use futures::stream::{self, StreamExt};
use tokio::runtime::Runtime;
use tonic::codegen::{http, Body, BoxFuture, Service, StdError};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

/// A multi-thread runtime with `workers` threads named `name`.
pub fn runtime(name: &str, workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("build a tokio runtime")
}

// ---------------------------------------------------------------------------------------------
// The baseline: a raw tonic unary echo service, written by hand as tonic's codegen would.

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
pub fn start_echo_server(rt: &Runtime) -> String {
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
pub async fn raw_echo(mut grpc: tonic::client::Grpc<Channel>, payload: Bytes) -> Bytes {
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

// ---------------------------------------------------------------------------------------------
// The timed loops.

/// Runs `iters` calls made by `call(i)` with `in_flight` calls at a time, in one task on `rt`;
/// returns the total time.
pub fn timed<F, Fut>(rt: &Runtime, iters: u64, in_flight: usize, call: F) -> Duration
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Bytes> + Send,
{
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            if in_flight == 1 {
                for i in 0..iters {
                    black_box(call(i).await);
                }
            } else {
                stream::iter(0..iters)
                    .map(call)
                    .buffer_unordered(in_flight)
                    .for_each(|reply| {
                        black_box(reply);
                        std::future::ready(())
                    })
                    .await;
            }
            start.elapsed()
        })
        .await
        .expect("the timing task ran")
    })
}

/// Connects a tonic client to the echo server at `uri` (TCP_NODELAY, as Weft's peer channels).
pub async fn echo_client(uri: String) -> tonic::client::Grpc<Channel> {
    let channel = Endpoint::from_shared(uri)
        .expect("the echo URI")
        .tcp_nodelay(true)
        .connect()
        .await
        .expect("connect to the echo server");
    tonic::client::Grpc::new(channel)
}

/// Keeps `Duration` used when a bench uses only part of this module.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(15);
