#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Counter {
    n: u64,
}

#[weft::actor]
impl Counter {
    pub fn get(&self) -> u64 {
        self.n
    }
}

fn main() {}
