// A type with neither `#[derive(Service)]` nor `impl Service`.
struct Nothing;

fn main() -> Result<(), cotyledon::Error> {
    let mut manager = cotyledon::ServiceManager::new()?;
    manager.add(|_| Nothing, 1)?;
    Ok(())
}
