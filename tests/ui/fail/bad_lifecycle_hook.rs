#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Counter {
    n: u64,
}

#[weft::actor]
impl Counter {
    pub async fn get(&self) -> u64 {
        self.n
    }

    async fn on_activate(&mut self, start: u64) -> u64 {
        self.n = start;
        start
    }

    #[method(name = "deactivate")]
    async fn on_deactivate(&self) {}
}

fn main() {}
