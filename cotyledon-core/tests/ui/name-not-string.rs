use cotyledon::Service;

#[derive(Service)]
#[service(name = heavy)]
struct Heavy;

fn main() {}
