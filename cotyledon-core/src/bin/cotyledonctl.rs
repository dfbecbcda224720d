//! `cotyledonctl`: the command-line client of a manager's control endpoint
//! (`cotyledonctl --socket PATH status`); see `cotyledon::ctl`.

fn main() {
    cotyledon::ctl::main()
}
