use cotyledon::Service;

#[derive(Service)]
#[service(name = "")]
struct Heavy;

fn main() {}
