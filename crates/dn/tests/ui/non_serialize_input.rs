struct Model {
    weights: Vec<f32>,
}

#[dn::task]
fn predict(model: Model, x: f32) -> f32 {
    model.weights.iter().sum::<f32>() * x
}

fn main() {}
