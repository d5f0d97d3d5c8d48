fn accuracy(_output: &str, _inputs: &dn::TaskInputs) -> f64 {
    1.0
}

#[dn::task(scorers = [accuracy(output, label)])]
fn classify(text: String, label: String) -> String {
    let _ = label;
    text
}

fn main() {}
