#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Counter {
    n: u64,
}

#[weft::actor(nmae = "counter")]
impl Counter {
    pub async fn get(&self) -> u64 {
        self.n
    }
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Gauge {
    n: u64,
}

#[weft::actor]
impl Gauge {
    #[method(rename = "Get")]
    pub async fn get(&self) -> u64 {
        self.n
    }
}

fn main() {}
