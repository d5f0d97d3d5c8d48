#![no_implicit_prelude]

#[::dn::task(scorers = [score])]
fn classify(text: ::std::string::String) -> ::core::result::Result<::std::string::String, ::std::string::String> {
    ::core::result::Result::Ok(text)
}

fn score(_output: &::std::string::String) -> f64 {
    1.0
}

#[::dn::task]
async fn later(x: u32) -> u32 {
    x
}

fn main() {
    let _ = classify(::std::string::ToString::to_string("x"));
    let _ = later(1);
}
