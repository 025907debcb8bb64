#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Counter {
    n: u64,
}

#[weft::actor]
impl Counter {
    pub async fn take(self) -> u64 {
        self.n
    }

    pub async fn take_box(self: Box<Self>) -> u64 {
        self.n
    }
}

fn main() {}
