#![deny(unused_must_use)]

fn main() {
    dn::task_span("forgotten");
    dn::run("r").instrument(async {});
}
