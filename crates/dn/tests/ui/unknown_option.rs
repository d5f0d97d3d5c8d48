#[dn::task(bogus = 1)]
fn f(x: i32) -> i32 {
    x
}

fn main() {}
