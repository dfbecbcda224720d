use cotyledon::Service;

#[derive(Service)]
#[service(name = "heavy", workers = 4)]
struct Heavy;

fn main() {}
