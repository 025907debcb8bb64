#[weft::actor]
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Counter {
    n: u64,
}

fn main() {}
