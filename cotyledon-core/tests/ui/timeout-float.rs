use cotyledon::Service;

#[derive(Service)]
#[service(graceful_shutdown_timeout = 1.5)]
struct Heavy;

fn main() {}
