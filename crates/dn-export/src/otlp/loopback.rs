//! A minimal OTLP/HTTP receiver on loopback that decodes every request and
//! answers from a script (status codes, `Retry-After`, a request that never
//! gets an answer). For tests and local debugging of an export setup; it
//! binds `127.0.0.1` only.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Answer {
    /// This status, with these headers.
    Status(u16, Vec<(&'static str, &'static str)>),
    /// Status 413 when the request holds more than this many spans, else 200 (stays in effect).
    LimitSpans(usize),
    /// Never answer (the connection stays open for 30 s).
    Hang,
}

/// What the receiver has seen.
#[derive(Default, Debug)]
pub struct Seen {
    /// Requests answered.
    pub requests: usize,
    /// Spans of the requests answered with 200.
    pub spans: Vec<opentelemetry_proto::tonic::trace::v1::Span>,
    /// Headers of each request (lower-case names).
    pub headers: Vec<Vec<(String, String)>>,
    /// Resource attributes of the last accepted request.
    pub resource: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
}

/// A running receiver.
#[derive(Debug)]
pub struct Receiver {
    /// Its traces endpoint (`http://127.0.0.1:<port>/v1/traces`).
    pub url: String,
    /// What it has seen so far.
    pub seen: Arc<Mutex<Seen>>,
}

/// Starts a receiver answering from `script`, then 200.
pub fn receiver(script: Vec<Answer>) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").expect("loopback receiver");
    let url = format!("http://{}/v1/traces", listener.local_addr().expect("loopback receiver"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (seen, script) = (s2.clone(), script.clone());
            std::thread::spawn(move || serve(conn, &seen, &script));
        }
    });
    Receiver { url, seen }
}

fn serve(conn: TcpStream, seen: &Mutex<Seen>, script: &Mutex<VecDeque<Answer>>) {
    let mut reader = BufReader::new(conn.try_clone().expect("loopback receiver"));
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = vec![];
        let mut len = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).expect("loopback receiver");
            let h = h.trim_end().to_string();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').expect("loopback receiver");
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                len = v.parse().expect("loopback receiver");
            }
            headers.push((k, v));
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).expect("loopback receiver");
        let mut raw = vec![];
        flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut raw).expect("loopback receiver");
        let req = ExportTraceServiceRequest::decode(&raw[..]).expect("loopback receiver");
        let spans: Vec<_> =
            req.resource_spans.iter().flat_map(|r| r.scope_spans.iter().flat_map(|s| s.spans.clone())).collect();
        let answer = script.lock().expect("loopback receiver").pop_front().unwrap_or(Answer::Status(200, vec![]));
        let (status, extra) = match answer {
            Answer::Hang => {
                std::thread::sleep(Duration::from_secs(30));
                return;
            }
            Answer::LimitSpans(max) if spans.len() > max => {
                script.lock().expect("loopback receiver").push_front(Answer::LimitSpans(max));
                (413, vec![])
            }
            Answer::LimitSpans(max) => {
                script.lock().expect("loopback receiver").push_front(Answer::LimitSpans(max));
                (200, vec![])
            }
            Answer::Status(s, h) => (s, h),
        };
        {
            let mut seen = seen.lock().expect("loopback receiver");
            seen.requests += 1;
            seen.headers.push(headers);
            if status == 200 {
                seen.resource = req.resource_spans[0].resource.clone().expect("loopback receiver").attributes;
                seen.spans.extend(spans);
            }
        }
        let mut resp = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n");
        for (k, v) in extra {
            resp.push_str(&format!("{k}: {v}\r\n"));
        }
        resp.push_str("\r\n");
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}
