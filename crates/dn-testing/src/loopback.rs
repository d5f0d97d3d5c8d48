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
    /// Close the connection without answering (a transport error).
    Close,
    /// Wait this long, then answer 200.
    Slow(Duration),
    /// This status with this body (a receiver explaining a rejection).
    Body(u16, &'static str),
}

/// What the receiver has seen.
#[derive(Default, Debug)]
pub struct Seen {
    /// Requests answered.
    pub requests: usize,
    /// Spans of the requests answered with 200.
    pub spans: Vec<opentelemetry_proto::tonic::trace::v1::Span>,
    /// How many spans each request answered with 200 carried, in order.
    pub batch_sizes: Vec<usize>,
    /// Headers of each request (lower-case names).
    pub headers: Vec<Vec<(String, String)>>,
    /// Resource attributes of the last accepted request.
    pub resource: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
}

/// A running receiver.
#[derive(Debug)]
pub struct Receiver {
    /// While set, every request's connection is closed unanswered (the
    /// receiver is down); nothing is counted.
    pub down: Arc<std::sync::atomic::AtomicBool>,
    /// Its traces endpoint (`http://127.0.0.1:<port>/v1/traces`).
    pub url: String,
    /// What it has seen so far.
    pub seen: Arc<Mutex<Seen>>,
}

/// One HTTP request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path (with query).
    pub path: String,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body bytes (as sent, still compressed).
    pub body: Vec<u8>,
}

/// A handler's answer: status, headers, body.
pub type Response = (u16, Vec<(String, String)>, Vec<u8>);

/// A running HTTP server on loopback.
#[derive(Debug)]
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

/// A handler status that closes the connection without answering.
pub const CLOSE: u16 = 1;

/// Starts an HTTP/1.1 server on `127.0.0.1` answering every request with
/// `handler` (one thread per connection; keep-alive supported).
pub fn server(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Server {
    server_on(0, handler)
}

/// [`server`] on a given port of `127.0.0.1` (0: any free port) — to bring a
/// receiver back where a process expects it after an outage.
pub fn server_on(port: u16, handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("loopback receiver");
    let base = format!("http://{}", listener.local_addr().expect("loopback receiver"));
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let h = handler.clone();
            std::thread::spawn(move || serve_requests(conn, &*h));
        }
    });
    Server { base }
}

fn serve_requests(conn: TcpStream, handler: &dyn Fn(&Request) -> Response) {
    let Ok(read_half) = conn.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut headers = vec![];
        let mut len = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end().to_string();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
                if k == "content-length" {
                    len = v.parse().unwrap_or(0);
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, extra, resp_body) = handler(&Request { method, path, headers, body });
        if status == 0 {
            // Never answer.
            std::thread::sleep(Duration::from_secs(30));
            return;
        }
        if status == CLOSE {
            return;
        }
        let mut resp = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", resp_body.len());
        for (k, v) in extra {
            resp.push_str(&format!("{k}: {v}\r\n"));
        }
        resp.push_str("\r\n");
        if out.write_all(resp.as_bytes()).is_err() || out.write_all(&resp_body).is_err() {
            return;
        }
    }
}

/// The spans of an OTLP/HTTP request body (gzip or plain protobuf).
pub fn decode_spans(req: &Request) -> Option<ExportTraceServiceRequest> {
    let gz = req.headers.iter().any(|(k, v)| k == "content-encoding" && v == "gzip");
    let raw = if gz {
        let mut raw = vec![];
        flate2::read::GzDecoder::new(&req.body[..]).read_to_end(&mut raw).ok()?;
        raw
    } else {
        req.body.clone()
    };
    ExportTraceServiceRequest::decode(&raw[..]).ok()
}

/// Starts a receiver answering from `script`, then 200.
pub fn receiver(script: Vec<Answer>) -> Receiver {
    receiver_on(0, script)
}

/// A receiver that answers every request 200 without decoding it, counting
/// requests and body bytes: the cheapest possible peer, for throughput
/// benchmarks (correctness is checked against [`receiver`]).
pub fn null_receiver_on(port: u16) -> (Server, Arc<Mutex<(u64, u64)>>) {
    let counts = Arc::new(Mutex::new((0u64, 0u64)));
    let c2 = counts.clone();
    let srv = server_on(port, move |req| {
        if let Ok(mut c) = c2.lock() {
            c.0 += 1;
            c.1 += req.body.len() as u64;
        }
        (200, vec![], vec![])
    });
    (srv, counts)
}

/// A free port of `127.0.0.1` with nothing listening on it (yet): the
/// address of a receiver that is down, or of a server started later.
///
/// Chosen below the kernel's ephemeral range (Linux's starts at 32 768),
/// where no outgoing connection takes its local port, and never the same
/// twice in one process. From `bind(0)`, the port came from that range:
/// while one outage test's producer kept connecting to its receiver that
/// was down, the other test's port was taken as the local end of one of
/// those connections between its `free_port` and its bind ("Address already
/// in use", seen in CI); and a connection to a port of that range with
/// nothing listening can connect to itself.
pub fn free_port() -> u16 {
    const FROM: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Processes running tests at once start at different places.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        .wrapping_add(std::process::id().wrapping_mul(7_919));
    for k in 0..SPAN {
        let Ok(port) = u16::try_from(FROM + (seed.wrapping_add(k)) % SPAN) else { continue };
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// [`receiver`] on a given port (0: any free port).
pub fn receiver_on(port: u16, script: Vec<Answer>) -> Receiver {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let s2 = seen.clone();
    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d2 = down.clone();
    let srv = server_on(port, move |req| {
        if d2.load(std::sync::atomic::Ordering::Relaxed) {
            return (CLOSE, vec![], vec![]);
        }
        let Some(decoded) = decode_spans(req) else { return (400, vec![], vec![]) };
        let spans: Vec<_> =
            decoded.resource_spans.iter().flat_map(|r| r.scope_spans.iter().flat_map(|s| s.spans.clone())).collect();
        let mut script = script.lock().expect("loopback receiver");
        let answer = script.pop_front().unwrap_or(Answer::Status(200, vec![]));
        let mut body = vec![];
        let (status, extra) = match answer {
            Answer::Hang => return (0, vec![], vec![]),
            Answer::Close => return (CLOSE, vec![], vec![]),
            Answer::Slow(d) => {
                drop(script);
                std::thread::sleep(d);
                (200, vec![])
            }
            Answer::Body(st, text) => {
                body = text.as_bytes().to_vec();
                (st, vec![])
            }
            Answer::LimitSpans(max) => {
                script.push_front(Answer::LimitSpans(max));
                (if spans.len() > max { 413 } else { 200 }, vec![])
            }
            Answer::Status(s, h) => (s, h.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        };
        let mut seen = s2.lock().expect("loopback receiver");
        seen.requests += 1;
        seen.headers.push(req.headers.clone());
        if status == 200 {
            if let Some(r) = decoded.resource_spans.first().and_then(|r| r.resource.clone()) {
                seen.resource = r.attributes;
            }
            seen.batch_sizes.push(spans.len());
            seen.spans.extend(spans);
        }
        (status, extra, body)
    });
    Receiver { down, url: format!("{}/v1/traces", srv.base), seen }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ports from `free_port` are outside the ephemeral range, free to bind,
    /// and not given twice.
    #[test]
    fn free_ports_are_below_the_ephemeral_range_and_never_given_twice() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        for (i, p) in ports.iter().enumerate() {
            assert!((20_000..32_000).contains(p), "{p}");
            assert!(!ports[..i].contains(p), "{p} given twice");
        }
        let l = TcpListener::bind(("127.0.0.1", ports[0])).expect("a given port binds");
        assert_eq!(l.local_addr().unwrap().port(), ports[0]);
    }
}
