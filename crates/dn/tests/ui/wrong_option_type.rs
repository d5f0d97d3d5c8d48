#[dn::task(name = 5, log_output = "yes")]
fn f(x: i32) -> i32 {
    x
}

fn main() {}
