#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Counter<T> {
    n: T,
}

#[weft::actor]
impl<T: Copy> Counter<T> {
    pub async fn get(&self) -> T {
        self.n
    }
}

fn main() {}
