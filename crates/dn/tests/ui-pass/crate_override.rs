mod tracing_sdk {
    pub use dn::*;
}

#[dn::task(crate = crate::tracing_sdk, name = "renamed")]
fn f(x: i32) -> i32 {
    x + 1
}

fn main() {
    assert_eq!(f(1), 2);
}
