use cotyledon::Service;

#[derive(Service)]
#[service]
struct Heavy;

fn main() {}
