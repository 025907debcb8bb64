#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Cart {
    items: Vec<String>,
}

#[weft::actor]
impl Cart {
    pub async fn add(&mut self, sku: &str) {
        self.items.push(sku.to_owned());
    }

    pub async fn add_all(&mut self, skus: Vec<&'static str>) {
        self.items.extend(skus.iter().map(|s| s.to_string()));
    }
}

fn main() {}
