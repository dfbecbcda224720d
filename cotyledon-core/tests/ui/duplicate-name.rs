use cotyledon::Service;

#[derive(Service)]
#[service(name = "heavy", graceful_shutdown_timeout = 1, name = "light")]
struct Heavy;

fn main() {}
