#[dn::task(type = "banana")]
fn f(x: i32) -> i32 {
    x
}

fn main() {}
