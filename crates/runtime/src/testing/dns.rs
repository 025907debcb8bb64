//! A fake authoritative DNS server, so tests control what a name resolves to.

#![allow(clippy::expect_used)] // test support: a failure to bind is a broken test machine

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// A tiny authoritative DNS server on 127.0.0.1 (UDP): answers A queries for the names in
/// `records` (TTL 1 s), NOERROR/empty for other types of known names, NXDOMAIN otherwise.
#[derive(Debug)]
pub struct FakeDns {
    /// Where the server answers.
    pub addr: SocketAddr,
    records: Arc<Mutex<HashMap<String, Vec<Ipv4Addr>>>>,
    task: JoinHandle<()>,
}

impl FakeDns {
    /// Starts the server on a free port of 127.0.0.1.
    ///
    /// # Panics
    /// When no UDP port can be bound (test support).
    pub async fn start(records: &[(&str, &[Ipv4Addr])]) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind a UDP port for the fake DNS server");
        let addr = socket
            .local_addr()
            .expect("local address of the fake DNS socket");
        let records = Arc::new(Mutex::new(
            records
                .iter()
                .map(|(name, ips)| (name.to_string(), ips.to_vec()))
                .collect::<HashMap<_, _>>(),
        ));
        let table = records.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let reply = answer(
                    &query,
                    &table
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                );
                if let Ok(bytes) = reply.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        Self {
            addr,
            records,
            task,
        }
    }

    /// Replaces the addresses of `name` (the next query after the cache expires sees them).
    pub fn set(&self, name: &str, ips: &[Ipv4Addr]) {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), ips.to_vec());
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(query: &Message, table: &HashMap<String, Vec<Ipv4Addr>>) -> Message {
    let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.authoritative = true;
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    let Some(q) = query.queries.first() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply;
    };
    reply.add_query(q.clone());
    let name = q.name().to_ascii().to_ascii_lowercase();
    let name = name.trim_end_matches('.');
    match table.get(name) {
        None => reply.metadata.response_code = ResponseCode::NXDomain,
        Some(ips) => {
            if q.query_type() == RecordType::A {
                for ip in ips {
                    reply.add_answer(Record::from_rdata(q.name().clone(), 1, RData::A(A(*ip))));
                }
            }
        }
    }
    reply
}
