//! One workload of `cargo xtask bench workloads`, as a whole process:
//! `workload <dn|otel|fastrace> <task|threads|light|current|metric|decorated|runs|payload|startup> <N> <DIR>`
//! (`dn` also `burst`: N empty task spans in a run, and `thread-burst`: N
//! task spans from 16 threads each logging a 2 000-character input, for
//! the memory figures),
//! or `workload floor <workload> <N> <DIR> <BYTES>`: the file-system work
//! the local layout itself asks for, with no SDK — N lines of BYTES bytes
//! (dn's average line) appended to one file in 256 KiB writes, or for
//! `runs` a directory, a file and one line per run (on two threads, every
//! other run each, as dn's writer and its side thread share them), or for
//! `metric` the one line,
//! or `workload count <DIR>`: the lines and bytes of the JSONL files under
//! DIR, as every run ends by counting them (`cargo xtask bench
//! instructions` counts them so, outside valgrind, and sets
//! `WORKLOAD_UNDER_CALLGRIND`: the run then leaves the count out of the
//! instructions it reads, and lets dn's clock calibrate before the loop,
//! whose readings would otherwise take the wall clock's path for as long
//! as the calibration takes under valgrind: a part of the loop that moved
//! with the timing).
//!
//! The clock starts before the SDK is configured and stops when its shutdown
//! returns, so it includes writing every span to disk; then the lines under
//! DIR are counted and the peak RSS read. Prints one JSON object, with the
//! CPU time the main thread (the caller's loop) and every other thread
//! (dn's writer and side threads, the baselines' exporters) spent meanwhile.
//!
//! The loop bodies are those of issue #13 ("Bench loop bodies"); `threads`
//! is the task body from two threads in one run, every other `i` each;
//! `current` is the light span with each baseline's span made current
//! while it is open, as dn's entered light span is (for dn the same loop
//! as `light`; the issue's `fastrace::Span` leaves the current parent
//! alone, and raw OTel's `light` loop too). `otel` is the
//! raw `opentelemetry_sdk` with a batch processor (queue raised so it keeps
//! every span) and an exporter writing one JSON line per span; `fastrace` is
//! a `fastrace::Span` per operation with a reporter writing JSON lines. The
//! baselines carry the same values, as attributes/properties and events.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark program fails loudly

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, count, dir] = args.as_slice() {
        if count == "count" {
            let (lines, bytes) = count_lines(Path::new(dir));
            println!("{}", serde_json::json!({"lines": lines, "bytes": bytes}));
            return;
        }
    }
    let (system, workload, n, dir, line_bytes) = match args.as_slice() {
        [_, system, workload, n, dir] => (system, workload, n, dir, 0),
        [_, system, workload, n, dir, bytes] => (system, workload, n, dir, bytes.parse().expect("BYTES")),
        _ => {
            eprintln!(
                "usage: workload <dn|otel|fastrace> <workload> <N> <DIR> | workload floor <workload> <N> <DIR> <BYTES> | workload count <DIR>"
            );
            std::process::exit(2);
        }
    };
    let n: u64 = n.parse().expect("N");
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cpu0 = (cpu_ns(libc::CLOCK_PROCESS_CPUTIME_ID), cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID));
    let t0 = Instant::now();
    match system.as_str() {
        "dn" => dn_workload(workload, n, &dir),
        "otel" => otel::workload(workload, n, &dir),
        "fastrace" => fast::workload(workload, n, &dir),
        "floor" => floor(workload, n, line_bytes, &dir),
        other => panic!("unknown system {other}"),
    }
    let elapsed = t0.elapsed();
    let cpu_all = cpu_ns(libc::CLOCK_PROCESS_CPUTIME_ID).saturating_sub(cpu0.0);
    let cpu_main = cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID).saturating_sub(cpu0.1);
    let (_, peak_kib) = dn_process_tests::rss_kib();
    let (lines, bytes) = if under_callgrind() { (0, 0) } else { count_lines(&dir) };
    println!(
        "{}",
        serde_json::json!({"system": system, "workload": workload, "n": n,
            "elapsed_ns": elapsed.as_nanos() as u64, "lines": lines, "bytes": bytes, "peak_kib": peak_kib,
            "cpu_main_ns": cpu_main, "cpu_other_ns": cpu_all.saturating_sub(cpu_main)})
    );
}

/// Run by `cargo xtask bench instructions` (see the module docs).
fn under_callgrind() -> bool {
    std::env::var_os("WORKLOAD_UNDER_CALLGRIND").is_some()
}

/// Runs one system's loop: a function of its own, so that callgrind can
/// split the caller's loop from the process's start and shutdown
/// (`cargo xtask bench instructions` dumps its counts as this function is
/// entered and left: `--dump-before` / `--dump-after`).
#[inline(never)]
fn caller_loop(body: &dyn Fn()) {
    body();
}

/// The file-system floor (see the module docs): what any writer of this
/// layout pays for these lines, whatever it does before writing them.
fn floor(workload: &str, n: u64, line_bytes: u64, dir: &Path) {
    let project = dir.join("projects").join("default");
    std::fs::create_dir_all(&project).unwrap();
    let mut line = vec![b'x'; line_bytes.max(1) as usize];
    if let Some(last) = line.last_mut() {
        *last = b'\n';
    }
    match workload {
        "startup" => {}
        "runs" => {
            // Two threads share the work, as dn's writer and its side
            // thread do: each makes the directory, creates the file and
            // writes the line of every other run.
            let run = |i: u64| project.join(format!("{:032x}", u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
            let one = |i: u64| {
                let dir = run(i);
                std::fs::create_dir(&dir).unwrap();
                let mut f =
                    std::fs::OpenOptions::new().create_new(true).append(true).open(dir.join("spans.jsonl")).unwrap();
                f.write_all(&line).unwrap();
            };
            std::thread::scope(|s| {
                s.spawn(|| (1..n).step_by(2).for_each(one));
                (0..n).step_by(2).for_each(one);
            });
        }
        "metric" => {
            let run = project.join("r");
            std::fs::create_dir(&run).unwrap();
            std::fs::write(run.join("spans.jsonl"), &line).unwrap();
        }
        _ => {
            let run = project.join("r");
            std::fs::create_dir(&run).unwrap();
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(run.join("spans.jsonl")).unwrap();
            let mut batch = Vec::with_capacity(256 * 1024 + line.len());
            for _ in 0..n {
                batch.extend_from_slice(&line);
                if batch.len() >= 256 * 1024 {
                    f.write_all(&batch).unwrap();
                    batch.clear();
                }
            }
            f.write_all(&batch).unwrap();
        }
    }
}

fn payload(i: u64) -> String {
    let mut s = "p".repeat(5120);
    let d = i.to_string();
    s.replace_range(..d.len(), &d);
    s
}

#[dn::task]
async fn f(x: i64) -> i64 {
    x * 2
}

fn dn_workload(workload: &str, n: u64, dir: &Path) {
    let mut cfg = dn::Config::new().isolated().local_dir(dir);
    if under_callgrind() {
        // valgrind runs a program some 50 times slower, one thread at a
        // time: the runs workload's 12 000 files once took longer than the
        // default 10 s to write at shutdown, which then reported a timeout.
        cfg = cfg.shutdown_timeout(std::time::Duration::from_secs(600));
    }
    dn::configure(cfg).expect("configure");
    if under_callgrind() {
        // The first reading starts the clock's calibration (a 2 ms window
        // on a thread of its own); under valgrind it ends at a point of the
        // loop that moves with the timing. Let it end first.
        dn::core::Timestamp::now();
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let in_run = |body: &dyn Fn()| dn::run("bench").run(|_| body());
    // The task body of the `task` and `threads` workloads.
    let task = |i: u64| {
        dn::task_span("t").run(|t| {
            t.log_input("x", i);
            t.log_metric("m", dn::Metric::new(i as f64 * 0.5).step(i));
            t.log_output("y", i * 2);
        })
    };
    caller_loop(&|| match workload {
        "task" => in_run(&|| (0..n).for_each(task)),
        "threads" => in_run(&|| {
            std::thread::scope(|s| {
                dn::thread::spawn_scoped(s, || (1..n).step_by(2).for_each(task));
                (0..n).step_by(2).for_each(task);
            });
        }),
        // dn's light span is current while entered in both: `current` is
        // the baselines' span made current as well.
        "light" | "current" => in_run(&|| {
            for _ in 0..n {
                drop(dn::span("s").enter());
            }
        }),
        "metric" => in_run(&|| {
            for i in 0..n {
                dn::log_metric("loss", dn::Metric::new(1.0 / (i as f64 + 1.0)).step(i));
            }
        }),
        "decorated" => {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            let run = dn::run("bench").start();
            rt.block_on(run.clone().instrument(async move {
                let mut acc = 0i64;
                for i in 0..n as i64 {
                    acc = acc.wrapping_add(f(i).await);
                }
                std::hint::black_box(acc);
            }));
        }
        "runs" => {
            for i in 0..n {
                dn::run("r").run(|r| {
                    r.log_param("p", i);
                    r.log_metric("m", dn::Metric::new(i as f64).step(0));
                });
            }
        }
        "thread-burst" => in_run(&|| {
            let input = "v".repeat(2000);
            std::thread::scope(|s| {
                for _ in 0..16 {
                    dn::thread::spawn_scoped(s, || {
                        for _ in 0..n / 16 {
                            dn::task_span("t").run(|t| t.log_input("x", input.as_str()));
                        }
                    });
                }
            });
        }),
        "burst" => in_run(&|| {
            for _ in 0..n {
                dn::task_span("t").run(|_| ());
            }
        }),
        "payload" => in_run(&|| {
            for i in 0..n {
                let p = payload(i);
                dn::task_span("t").run(|t| t.log_input("x", p.as_str()));
            }
        }),
        "startup" => {}
        other => panic!("unknown workload {other}"),
    });
    let report = dn::shutdown();
    assert!(report.is_clean(), "{report:?}");
}

/// Lines and bytes in the span files under `dir`.
fn count_lines(dir: &Path) -> (u64, u64) {
    let (mut n, mut bytes) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|f| f != ".dn-delivery") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "jsonl")
                && p.file_name().is_some_and(|f| f != "artifacts.jsonl")
            {
                let mut f = std::fs::File::open(&p).unwrap();
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let k = std::io::Read::read(&mut f, &mut buf).unwrap();
                    if k == 0 {
                        break;
                    }
                    bytes += k as u64;
                    n += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
                }
            }
        }
    }
    (n, bytes)
}

fn json_file(dir: &Path) -> std::io::BufWriter<std::fs::File> {
    std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(dir.join("spans.jsonl")).unwrap())
}

mod otel {
    use super::*;
    use opentelemetry::KeyValue;
    use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
    use std::sync::Mutex;

    #[derive(Debug)]
    struct JsonLines(Mutex<std::io::BufWriter<std::fs::File>>);

    impl SpanExporter for JsonLines {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            let mut out = self.0.lock().unwrap();
            for s in batch {
                let attrs: serde_json::Map<String, serde_json::Value> =
                    s.attributes.iter().map(|kv| (kv.key.to_string(), kv.value.to_string().into())).collect();
                let events: Vec<serde_json::Value> = s
                    .events
                    .iter()
                    .map(|e| {
                        serde_json::json!({"name": e.name, "attributes": e.attributes.iter()
                        .map(|kv| (kv.key.to_string(), serde_json::Value::from(kv.value.to_string())))
                        .collect::<serde_json::Map<_, _>>()})
                    })
                    .collect();
                let line = serde_json::json!({
                    "trace_id": s.span_context.trace_id().to_string(),
                    "span_id": s.span_context.span_id().to_string(),
                    "parent_id": s.parent_span_id.to_string(),
                    "name": s.name,
                    "start_time": s.start_time.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64,
                    "end_time": s.end_time.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64,
                    "attributes": attrs,
                    "events": events,
                });
                serde_json::to_writer(&mut *out, &line).unwrap();
                out.write_all(b"\n").unwrap();
            }
            Ok(())
        }
        fn shutdown(&self) -> OTelSdkResult {
            self.0.lock().unwrap().flush().unwrap();
            Ok(())
        }
    }

    pub fn workload(workload: &str, n: u64, dir: &Path) {
        let processor = BatchSpanProcessor::builder(JsonLines(Mutex::new(json_file(dir))))
            .with_batch_config(BatchConfigBuilder::default().with_max_queue_size((n as usize + 16).max(2048)).build())
            .build();
        let provider = SdkTracerProvider::builder().with_span_processor(processor).build();
        let tracer = provider.tracer("bench");
        let root = |name: &'static str, body: &dyn Fn(&opentelemetry::Context)| {
            let span = tracer.start(name);
            let cx = opentelemetry::Context::current_with_span(span);
            body(&cx);
            cx.span().end();
        };
        // The task body of the `task` and `threads` workloads.
        let task = |cx: &opentelemetry::Context, i: u64| {
            let mut s = tracer.start_with_context("t", cx);
            s.set_attribute(KeyValue::new("input.x", i as i64));
            s.add_event("metric", vec![KeyValue::new("m", i as f64 * 0.5), KeyValue::new("step", i as i64)]);
            s.set_attribute(KeyValue::new("output.y", (i * 2) as i64));
            s.end();
        };
        caller_loop(&|| match workload {
            "task" => root("bench", &|cx| (0..n).for_each(|i| task(cx, i))),
            "threads" => root("bench", &|cx| {
                std::thread::scope(|s| {
                    s.spawn(|| (1..n).step_by(2).for_each(|i| task(cx, i)));
                    (0..n).step_by(2).for_each(|i| task(cx, i));
                });
            }),
            "light" => root("bench", &|cx| {
                for _ in 0..n {
                    tracer.start_with_context("s", cx).end();
                }
            }),
            "current" => root("bench", &|cx| {
                for _ in 0..n {
                    let inner = cx.with_span(tracer.start_with_context("s", cx));
                    let attached = inner.clone().attach();
                    drop(attached);
                    inner.span().end();
                }
            }),
            "metric" => root("bench", &|cx| {
                let span = cx.span();
                for i in 0..n {
                    span.add_event(
                        "loss",
                        vec![KeyValue::new("value", 1.0 / (i as f64 + 1.0)), KeyValue::new("step", i as i64)],
                    );
                }
            }),
            "decorated" => {
                use opentelemetry::trace::FutureExt as _;
                let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
                root("bench", &|cx| {
                    rt.block_on(async {
                        let mut acc = 0i64;
                        for i in 0..n as i64 {
                            let mut s = tracer.start_with_context("f", cx);
                            s.set_attribute(KeyValue::new("input.x", i));
                            let scx = cx.with_span(s);
                            let y = async move { i * 2 }.with_context(scx.clone()).await;
                            scx.span().set_attribute(KeyValue::new("output", y));
                            scx.span().end();
                            acc = acc.wrapping_add(y);
                        }
                        std::hint::black_box(acc);
                    });
                });
            }
            "runs" => {
                for i in 0..n {
                    let mut s = tracer.start("r");
                    s.set_attribute(KeyValue::new("param.p", i as i64));
                    s.add_event("metric", vec![KeyValue::new("m", i as f64)]);
                    s.end();
                }
            }
            "payload" => root("bench", &|cx| {
                for i in 0..n {
                    let mut s = tracer.start_with_context("t", cx);
                    s.set_attribute(KeyValue::new("input.x", payload(i)));
                    s.end();
                }
            }),
            "startup" => {}
            other => panic!("unknown workload {other}"),
        });
        provider.shutdown().unwrap();
    }
}

mod fast {
    use super::*;
    use fastrace::collector::{Config, Reporter, SpanRecord};
    use fastrace::prelude::*;

    struct JsonLines(std::io::BufWriter<std::fs::File>);

    /// Lines the reporter has written.
    static WRITTEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    /// The name of the spans `deliver_pending` sends; not written.
    const NUDGE: &str = "__nudge";

    impl Reporter for JsonLines {
        fn report(&mut self, spans: Vec<SpanRecord>) {
            for s in spans {
                if s.name == NUDGE {
                    continue;
                }
                WRITTEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let props: serde_json::Map<String, serde_json::Value> =
                    s.properties.iter().map(|(k, v)| (k.to_string(), v.to_string().into())).collect();
                let events: Vec<serde_json::Value> = s
                    .events
                    .iter()
                    .map(|e| {
                        serde_json::json!({"name": e.name, "properties": e.properties.iter()
                        .map(|(k, v)| (k.to_string(), serde_json::Value::from(v.to_string())))
                        .collect::<serde_json::Map<_, _>>()})
                    })
                    .collect();
                let line = serde_json::json!({
                    "trace_id": s.trace_id.to_string(), "span_id": s.span_id.to_string(),
                    "parent_id": s.parent_id.to_string(), "name": s.name,
                    "start_time": s.begin_time_unix_ns, "duration": s.duration_ns,
                    "properties": props, "events": events,
                });
                serde_json::to_writer(&mut self.0, &line).unwrap();
                self.0.write_all(b"\n").unwrap();
            }
            self.0.flush().unwrap();
        }
    }

    pub fn workload(workload: &str, n: u64, dir: &Path) {
        fastrace::set_reporter(JsonLines(json_file(dir)), Config::default());
        let in_root = |body: &dyn Fn(&Span)| {
            let root = Span::root("bench", SpanContext::random());
            body(&root);
        };
        // The task body of the `task` and `threads` workloads.
        let task = |root: &Span, i: u64| {
            let s = Span::enter_with_parent("t", root).with_property(|| ("input.x", i.to_string()));
            s.add_event(
                Event::new("metric").with_properties(|| [("m", (i as f64 * 0.5).to_string()), ("step", i.to_string())]),
            );
            s.add_property(|| ("output.y", (i * 2).to_string()));
        };
        caller_loop(&|| match workload {
            "task" => in_root(&|root| (0..n).for_each(|i| task(root, i))),
            "threads" => in_root(&|root| {
                std::thread::scope(|s| {
                    s.spawn(|| {
                        (1..n).step_by(2).for_each(|i| task(root, i));
                        // This thread's own queue is pushed on from this
                        // thread only: left to the main thread's rounds
                        // after the loop, 6 833 of its spans went
                        // unwritten in one process of N = 100 000.
                        deliver_pending();
                    });
                    (0..n).step_by(2).for_each(|i| task(root, i));
                });
            }),
            "light" => in_root(&|root| {
                for _ in 0..n {
                    drop(Span::enter_with_parent("s", root));
                }
            }),
            "current" => in_root(&|root| {
                for _ in 0..n {
                    let s = Span::enter_with_parent("s", root);
                    let current = s.set_local_parent();
                    drop(current);
                    drop(s);
                }
            }),
            "metric" => in_root(&|root| {
                for i in 0..n {
                    root.add_event(Event::new("loss").with_properties(|| {
                        [("value", (1.0 / (i as f64 + 1.0)).to_string()), ("step", i.to_string())]
                    }));
                }
            }),
            "decorated" => {
                let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
                in_root(&|root| {
                    rt.block_on(async {
                        let mut acc = 0i64;
                        for i in 0..n as i64 {
                            let s = Span::enter_with_parent("f", root).with_property(|| ("input.x", i.to_string()));
                            let y = async move { i * 2 }.in_span(s).await;
                            acc = acc.wrapping_add(y);
                        }
                        std::hint::black_box(acc);
                    });
                });
            }
            "runs" => {
                for i in 0..n {
                    let r = Span::root("r", SpanContext::random()).with_property(|| ("param.p", i.to_string()));
                    r.add_event(Event::new("metric").with_properties(|| [("m", (i as f64).to_string())]));
                }
            }
            "payload" => in_root(&|root| {
                for i in 0..n {
                    let p = payload(i);
                    drop(Span::enter_with_parent("t", root).with_property(move || ("input.x", p)));
                }
            }),
            "startup" => {}
            other => panic!("unknown workload {other}"),
        });
        if workload == "startup" {
            fastrace::flush(); // nothing pending: one flush, as before
        } else {
            deliver_pending();
        }
    }

    /// Writes every span the loop made. When fastrace's per-thread ring to
    /// its collector is full, a thread keeps further messages in its own
    /// queue and pushes them only when it next sends one, so `flush` alone
    /// left whole traces unwritten (0 of 100 001 lines for the light
    /// workload). Each round sends one span (not written) to push the queue
    /// on, then flushes, until three rounds write nothing more.
    fn deliver_pending() {
        let mut last = u64::MAX;
        let mut still = 0;
        while still < 3 {
            drop(Span::root(NUDGE, SpanContext::random()));
            fastrace::flush();
            let now = WRITTEN.load(std::sync::atomic::Ordering::Relaxed);
            still = if now == last { still + 1 } else { 0 };
            last = now;
        }
    }
}

/// CPU time of a clock (`CLOCK_PROCESS_CPUTIME_ID`: every thread of the
/// process, ended ones included; `CLOCK_THREAD_CPUTIME_ID`: this thread).
fn cpu_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
