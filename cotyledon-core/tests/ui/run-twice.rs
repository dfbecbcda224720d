// `run` takes the manager by value: calling it twice does not compile.
fn main() -> Result<(), cotyledon::Error> {
    let manager = cotyledon::ServiceManager::new()?;
    let _ = manager.run();
    manager.run()?;
    Ok(())
}
