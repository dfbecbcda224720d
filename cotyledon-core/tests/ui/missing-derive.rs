// `impl Service` without `#[derive(Service)]`: the metadata trait is missing.
struct Plain;

impl cotyledon::Service for Plain {}

fn main() -> Result<(), cotyledon::Error> {
    let mut manager = cotyledon::ServiceManager::new()?;
    manager.add(|_| Plain, 1)?;
    Ok(())
}
