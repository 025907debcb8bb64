#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Counter {
    n: u64,
}

trait Named {
    fn name(&self) -> String;
}

#[weft::actor]
impl Named for Counter {
    fn name(&self) -> String {
        "counter".to_owned()
    }
}

fn main() {}
