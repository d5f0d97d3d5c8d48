//! One shape for each kind of call: every `.instrument(fut)` returns the
//! future, every logging call returns a plain value (no `Result`), values are
//! taken by value or by reference alike, and steps take any integer type.

use serde::Serialize;

#[derive(Serialize)]
struct Config {
    lr: f64,
}

async fn body() -> u8 {
    1
}

fn main() {
    // Every instrument returns the future itself.
    let _: dn::TaskFuture<_> = dn::run("r").instrument(body());
    let _: dn::TaskFuture<_> = dn::task_span("t").instrument(body());
    let _: dn::TaskFuture<_> = dn::task_and_run("tr").instrument(body());
    let _: dn::SpanFuture<_> = dn::span("s").instrument(body());
    let _: dn::WithContext<_> = dn::with_session_id("s1", body());

    // Every closure form returns what its body returns.
    let n: u8 = dn::run("r").run(|_| 1);
    let m: u8 = dn::task_and_run("tr").run(|_| 2);
    let _ = (n, m);

    // Logging returns a plain value; by value or by reference alike.
    let cfg = Config { lr: 0.1 };
    let () = dn::log_param("lr", 0.001);
    let () = dn::log_param("cfg", &cfg);
    let () = dn::log_params(&cfg);
    let () = dn::log_params(cfg);
    let () = dn::log_input("rows", 250);
    let () = dn::log_input("text", "hello");
    let () = dn::log_input("owned", String::from("x"));
    let () = dn::log_output("list", vec![1, 2]);
    let () = dn::tag(["a"]);
    let _: f64 = dn::log_metric("loss", 0.5);

    // Steps: any integer type.
    for (i, x) in [0.1, 0.2].iter().enumerate() {
        dn::log_metric("m", dn::Metric::new(*x).step(i));
    }
    dn::log_metric("m", dn::Metric::new(1).step(3u8));
    dn::log_metric("m", dn::Metric::new(1).step(-1i32));
    dn::log_metrics([("a", 1.0)], 7u64, dn::Aggregation::Max);
    dn::log_sample("s", 1, 2, [("ok", 1.0)], 4usize);

    // The try_ twins return the error for those who want it.
    let _: Result<(), dn::Error> = dn::try_log_param("lr", 1);
    let _: Result<dn::Hash16, dn::Error> = dn::try_log_input("x", 1);
    let _: Result<f64, dn::Error> = dn::try_log_metric("m", 1);
}
