use weft::Context;

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Counter {
    n: u64,
}

#[weft::actor]
impl Counter {
    pub async fn get(&self, ctx: &mut Context) -> u64 {
        let _ = ctx;
        self.n
    }

    pub async fn name(&self) -> &str {
        "counter"
    }
}

fn main() {}
