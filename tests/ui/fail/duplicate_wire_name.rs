#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Counter {
    n: u64,
}

#[weft::actor]
impl Counter {
    pub async fn get(&self) -> u64 {
        self.n
    }

    #[method(name = "get")]
    pub async fn current(&self) -> u64 {
        self.n
    }
}

fn main() {}
