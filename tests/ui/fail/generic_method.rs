#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Counter {
    n: u64,
}

#[weft::actor]
impl Counter {
    pub async fn add<T: Into<u64>>(&mut self, by: T) {
        self.n += by.into();
    }

    pub async fn fill<const N: usize>(&mut self) {
        self.n = N as u64;
    }
}

fn main() {}
