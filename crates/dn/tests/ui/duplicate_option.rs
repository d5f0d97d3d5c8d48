#[dn::task(name = "a", name = "b")]
fn f(x: i32) -> i32 {
    x
}

fn main() {}
