//! `cargo xtask bench [--smoke] [--json] [--write] [--no-python]`: whole-process
//! figures of cotyledon-rs ("ours") next to Python cotyledon ("python") and two
//! floors, run alternately: a bare C fork/waitpid/sigwaitinfo program ("bare"),
//! and the same whose workers each hold one idle thread ("threaded", the cost of
//! the run thread every cotyledon worker has), then ours' hung-worker watchdog
//! against issue 10's targets (`watchdog`: rows of ours alone).
//!
//! The task first prepares the subjects (`setup`), then runs itself again under the
//! `bare reaper` subreaper (so that orphaned workers are reaped even when PID 1 does
//! not) to measure (`figures`) and report (`report`, `output`). `--smoke` is a
//! short run (small N, one repetition, no python); `--json` prints JSON instead
//! of the table; `--write` also writes `BENCHMARKS.md`.

mod figures;
pub(crate) mod output;
mod plan;
pub(crate) mod procfs;
pub(crate) mod report;
pub(crate) mod setup;
mod signaller;
mod subject;
mod watchdog;

use std::process::Command;
use std::time::Instant;

use figures::Bench;
use plan::Plan;
use report::{Row, Stat};
use subject::{KINDS, Kind, Programs};

/// Set in the measuring (inner) process; holds the venv's python, or is empty.
const INNER_ENV: &str = "COTYLEDON_BENCH_INNER_PYTHON";

/// Command-line options.
#[derive(Clone, Copy, Default)]
pub(crate) struct Options {
    pub(crate) smoke: bool,
    pub(crate) json: bool,
    pub(crate) write: bool,
    pub(crate) no_python: bool,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut opts = Options::default();
    for arg in args {
        match arg.as_str() {
            "--smoke" => opts.smoke = true,
            "--json" => opts.json = true,
            "--write" => opts.write = true,
            "--no-python" => opts.no_python = true,
            other => {
                return Err(format!(
                    "`bench` takes --smoke, --json, --write, --no-python; got `{other}`"
                ));
            }
        }
    }
    let ours = setup::target_dir().join("release/examples/bench");
    if let Some(python) = std::env::var_os(INNER_ENV) {
        let python = (!python.is_empty()).then(|| (python.into(), setup::python_script()));
        let bare = setup::target_dir().join("bench/bare");
        let programs = Programs {
            ours,
            python,
            bare: bare.is_file().then_some(bare),
        };
        return measure(opts, args, programs);
    }

    setup::build_ours()?;
    let bare = setup::build_bare();
    let python = if opts.smoke || opts.no_python {
        None
    } else {
        setup::python()
    };
    let python_env = python.clone().unwrap_or_default();
    let Some(bare) = bare else {
        eprintln!("bench: no subreaper: orphaned workers are left to PID 1");
        let programs = Programs {
            ours,
            python: python.map(|p| (p, setup::python_script())),
            bare: None,
        };
        return measure(opts, args, programs);
    };
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the xtask binary: {e}"))?;
    let status = Command::new(&bare)
        .arg("reaper")
        .arg(exe)
        .arg("bench")
        .args(args)
        .env(INNER_ENV, python_env)
        .status()
        .map_err(|e| format!("cannot start the bench under {}: {e}", bare.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("bench failed ({status})"))
    }
}

/// The rows, in table order, each with its planned runs.
struct Table {
    rows: Vec<Row>,
}

impl Table {
    fn add(&mut self, figure: String, unit: &'static str, stat: Stat, runs: String) -> usize {
        self.rows.push(Row {
            figure,
            unit,
            stat,
            runs,
            cells: Default::default(),
            ours_only: false,
            target: None,
        });
        self.rows.len() - 1
    }
}

fn measure(opts: Options, args: &[String], programs: Programs) -> Result<(), String> {
    let began = Instant::now();
    let plan = Plan::new(opts.smoke);
    let python_version = programs
        .python
        .as_ref()
        .map(|(p, _)| setup::python_version(p));
    let scratch = setup::target_dir().join("bench");
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let mut bench = Bench::new(programs, scratch);
    let available = KINDS.map(|k| bench.available(k));
    let kinds: Vec<Kind> = KINDS.into_iter().filter(|k| bench.available(*k)).collect();
    let mut t = Table { rows: Vec::new() };

    let mut startup_rows = Vec::new();
    for &(n, wait, runs) in &plan.startup {
        let label = format!("start-up N={n}, wait_interval {wait} ms");
        startup_rows.push(t.add(label, "ms", Stat::Median, runs.to_string()));
    }
    let (rn, rruns, kills) = plan.respawn;
    let per = format!("{rruns} × {kills} kills");
    let respawn_med = t.add(
        format!("respawn latency, median (N={rn})"),
        "ms",
        Stat::Median,
        per.clone(),
    );
    let respawn_p95 = t.add(
        format!("respawn latency, p95 (N={rn})"),
        "ms",
        Stat::P95,
        per,
    );
    let mut shutdown_rows = Vec::new();
    for &(n, wait, runs) in &plan.startup {
        if wait == 0 && plan.shutdown.contains(&n) {
            shutdown_rows.push((
                n,
                t.add(
                    format!("shutdown N={n}"),
                    "ms",
                    Stat::Median,
                    runs.to_string(),
                ),
            ));
        }
    }
    let (kn, kruns) = plan.master_kill;
    let kill_row = t.add(
        format!("master SIGKILL → N={kn} workers gone"),
        "ms",
        Stat::Median,
        kruns.to_string(),
    );
    let (ln, lruns, reloads) = plan.reload;
    let reload_row = t.add(
        format!("reload round-trip N={ln}"),
        "ms",
        Stat::Median,
        format!("{lruns} × {reloads} SIGHUPs"),
    );
    let (inn, secs, iruns) = plan.idle;
    let idle_label = |what: &str| format!("idle {secs} s, N={inn}: master {what}");
    let ir = iruns.to_string();
    let idle_rows = [
        t.add(
            idle_label("CPU (utime+stime)"),
            "ms",
            Stat::Median,
            ir.clone(),
        ),
        t.add(
            idle_label("CPU (schedstat)"),
            "µs",
            Stat::Median,
            ir.clone(),
        ),
        t.add(
            idle_label("voluntary ctxt switches"),
            "count",
            Stat::Median,
            ir.clone(),
        ),
        t.add(
            format!("footprint N={inn}: master RSS"),
            "KiB",
            Stat::Median,
            ir.clone(),
        ),
        t.add(
            format!("footprint N={inn}: master PSS"),
            "KiB",
            Stat::Median,
            ir.clone(),
        ),
        t.add(
            format!("footprint N={inn}: worker RSS (mean)"),
            "KiB",
            Stat::Median,
            ir.clone(),
        ),
        t.add(
            format!("footprint N={inn}: worker PSS (mean)"),
            "KiB",
            Stat::Median,
            ir,
        ),
    ];
    let (big, small, sruns) = plan.scale;
    let sr = sruns.to_string();
    let scale_rows = [
        t.add(
            format!("scale {big}→{small}: SIGHUP → {} reaped", big - small),
            "ms",
            Stat::Median,
            sr.clone(),
        ),
        t.add(
            format!("scale {small}→{big}: SIGHUP → {} in run()", big - small),
            "ms",
            Stat::Median,
            sr.clone(),
        ),
        t.add(
            format!("scale {big}→{small}→{big} round trip"),
            "ms",
            Stat::Median,
            sr.clone(),
        ),
        t.add(
            format!("scale check: ids 0..{} each once", big - 1),
            "",
            Stat::Check,
            sr,
        ),
    ];

    let (wt, hangs) = plan.watchdog;
    let watchdog_rows = watchdog::rows(&mut t, wt, hangs);

    let total: usize =
        plan.startup.iter().map(|s| s.2).sum::<usize>() + rruns + kruns + lruns + iruns + sruns + 1;
    let mut done = 0;
    let mut progress = |what: &str| {
        done += 1;
        eprintln!("bench [{done}/{total} runs of each subject] {what}");
    };

    for (i, &(n, wait, runs)) in plan.startup.iter().enumerate() {
        let shutdown = shutdown_rows
            .iter()
            .find(|(sn, _)| *sn == n && wait == 0)
            .map(|s| s.1);
        for _ in 0..runs {
            progress(&format!("start-up N={n} wait {wait} ms"));
            for &kind in &kinds {
                let (up, down) = figures::startup(&mut bench, kind, n, wait, shutdown.is_some());
                t.rows[startup_rows[i]].record(kind, up.map(|x| vec![x]));
                if let Some(row) = shutdown {
                    t.rows[row].record(kind, down.map(|x| vec![x]));
                }
            }
        }
    }
    for _ in 0..rruns {
        progress("respawn");
        for &kind in &kinds {
            let r = figures::respawn(&mut bench, kind, rn, kills);
            t.rows[respawn_med].record(kind, r.clone());
            t.rows[respawn_p95].record(kind, r);
        }
    }
    for _ in 0..kruns {
        progress("master SIGKILL");
        for &kind in &kinds {
            let r = figures::master_kill(&mut bench, kind, kn);
            t.rows[kill_row].record(kind, r.map(|x| vec![x]));
        }
    }
    for _ in 0..lruns {
        progress("reload");
        for &kind in &kinds {
            let r = figures::reload(&mut bench, kind, ln, reloads);
            t.rows[reload_row].record(kind, r);
        }
    }
    for _ in 0..iruns {
        progress("idle and footprint");
        for &kind in &kinds {
            match figures::idle(&mut bench, kind, inn, secs) {
                Ok(i) => {
                    let values = [
                        i.cpu_ms,
                        i.sched_us,
                        i.switches,
                        i.master_rss,
                        i.master_pss,
                        i.worker_rss,
                        i.worker_pss,
                    ];
                    for (row, v) in idle_rows.iter().zip(values) {
                        t.rows[*row].record(kind, Ok(vec![v]));
                    }
                }
                Err(e) => idle_rows
                    .iter()
                    .for_each(|r| t.rows[*r].record(kind, Err(e.clone()))),
            }
        }
    }
    for _ in 0..sruns {
        progress("scale");
        for &kind in &kinds {
            match figures::scale(&mut bench, kind, big, small) {
                Ok(s) => {
                    for (row, v) in scale_rows.iter().zip([s.down_ms, s.up_ms, s.total_ms]) {
                        t.rows[*row].record(kind, Ok(vec![v]));
                    }
                    t.rows[scale_rows[3]].record(kind, s.check.map(|()| vec![1.0]));
                }
                Err(e) => scale_rows
                    .iter()
                    .for_each(|r| t.rows[*r].record(kind, Err(e.clone()))),
            }
        }
    }

    progress("watchdog (ours only)");
    let run = watchdog::watchdog(&mut bench, wt, hangs);
    watchdog::record(&mut t, &watchdog_rows, wt, run);

    let info = output::Info {
        command: std::iter::once("cargo xtask bench".to_owned())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" "),
        python: python_version,
        elapsed: began.elapsed(),
        smoke: opts.smoke,
    };
    output::emit(&info, &t.rows, available, opts)
}
