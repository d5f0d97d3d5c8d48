#[dn::task]
struct NotAFunction;

fn main() {}
