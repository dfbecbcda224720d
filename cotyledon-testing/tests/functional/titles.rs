//! Process titles in /proc/PID/cmdline and comm, and the process group.

use assert_cmd::assert::OutputAssertExt;
use cotyledon_testing::{Signal, cmdline, comm};

use crate::{SOON, example_app};

/// `title` cut to what fits in `space` bytes (argv's area less its final NUL).
fn fits(title: &str, space: usize) -> String {
    title.chars().take(space).collect()
}

#[test]
fn master_and_workers_carry_cotyledon_titles() {
    let mut app = example_app();
    let bin = crate::bin();
    let argv0 = bin.to_str().expect("utf-8 path");
    // The area argv had: "ARGV0\0example_app\0", the title may use all but one byte.
    let space = argv0.len() + 1 + "example_app".len();

    let master = cmdline(app.s.pid()).expect("master cmdline");
    let want = format!("scenarios: master process [{argv0} example_app]");
    assert_eq!(master, fits(&want, space));
    assert_eq!(comm(app.s.pid()).expect("comm"), fits(&want, 15));

    for (pid, title) in [
        (app.heavy[0], "scenarios: heavy worker(0)"),
        (app.heavy[1], "scenarios: heavy worker(1)"),
        (app.light, "scenarios: light worker(0)"),
    ] {
        assert_eq!(cmdline(pid).expect("worker cmdline"), fits(title, space));
        assert_eq!(comm(pid).expect("worker comm"), fits(title, 15));
    }
    app.s.signal(Signal::SIGTERM);
    app.s.wait_exit(SOON).assert().code(0);
    app.s.assert_no_process_left(SOON);
}
