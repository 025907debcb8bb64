#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Counter {
    n: u64,
}

#[weft::actor]
impl Counter {
    pub async fn start(n: u64) -> u64 {
        n
    }
}

fn main() {}
