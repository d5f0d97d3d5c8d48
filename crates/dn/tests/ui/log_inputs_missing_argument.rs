#[dn::task(log_inputs = [x, z])]
fn f(x: i32) -> i32 {
    x
}

fn main() {}
