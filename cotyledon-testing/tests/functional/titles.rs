//! Process titles in /proc/PID/cmdline and comm; the master's own session.

use cotyledon_testing::{Scenario, Signal, cmdline, comm, group_and_session};

use crate::bounds::start_args_app;
use crate::{SOON, bin, example_app};

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
    app.s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn the_master_leads_its_own_session_with_its_workers() {
    // Started inside the test's own process group: the manager's setsid() succeeds,
    // unless that group is a terminal's foreground group (then the manager keeps
    // its session on purpose, so that Ctrl-C reaches it).
    if let Ok(tty) = std::fs::File::open("/dev/tty")
        && nix::unistd::tcgetpgrp(&tty).is_ok_and(|g| g == nix::unistd::getpgrp())
    {
        eprintln!("skipped: the tests run in a terminal's foreground process group");
        return;
    }
    let mut s = Scenario::builder(bin(), "many_light")
        .env("SCENARIO_WORKERS", "2")
        .without_process_group()
        .spawn();
    let workers = [
        s.wait_for_run("light", 0, SOON),
        s.wait_for_run("light", 1, SOON),
    ];
    let master = s.pid();
    assert_eq!(group_and_session(master), Some((master, master)));
    for pid in workers {
        assert_eq!(
            group_and_session(pid),
            Some((master, master)),
            "worker {pid}"
        );
    }
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn args_os_returns_the_original_arguments_after_the_title_is_set() {
    let (mut s, argv) = start_args_app();
    let want = format!("{argv:?}");
    let line = |place: &str| format!("ERROR:scenarios::bounds:args in {place}: {want}");
    s.wait_for_run("argsy", 0, SOON);
    s.wait_for_run("argsy", 1, SOON);
    for place in ["factory", "new worker hook", "run"] {
        for _ in 0..2 {
            let l = line(place);
            s.wait_for(|got| got == l, SOON)
                .unwrap_or_else(|why| s.fail(&format!("no {l:?} ({why})")));
        }
    }
    // The titles were written (else the arguments would be intact trivially).
    let master = cmdline(s.pid()).expect("master cmdline");
    assert!(
        master.starts_with("scenarios: master process ["),
        "{master:?}"
    );
    s.signal(Signal::SIGHUP);
    let l = line("reload hook");
    s.wait_for(|got| got == l, SOON)
        .unwrap_or_else(|why| s.fail(&format!("no {l:?} ({why})")));
    let pid = s.wait_for_run("argsy", 0, SOON);
    assert_eq!(cmdline(pid).as_deref(), Some("scenarios: argsy worker(0)"));
    s.end_with(Signal::SIGTERM, 0);
    let lines = s.lines();
    assert!(
        lines
            .iter()
            .filter(|l| l.contains(": args in "))
            .all(|l| l.ends_with(&want)),
        "{lines:#?}"
    );
}
