//! `chaos`: a chaos/soak run of the `chaos_app` scenario (the logic is this
//! package's library). Run it with `cargo xtask chaos`, which builds the scenario
//! program and passes it with `--scenarios`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chaos::Config;

const USAGE: &str = "\
chaos [--seconds S] [--workers N] [--min M] [--burst B] [--seed X] [--quiet]
      [--scenarios PATH]

  --seconds S      disturb (and settle) for S seconds (default 60)
  --workers N      up to N workers over the 3 services: ceil(N/3) each (default 50)
  --min M          scale each service between M and ceil(N/3) (default 10)
  --burst B        SIGHUPs per burst to the master (default 1000)
  --seed X         reuse the seed a report printed: same random choices
                   (the timing, and so the run, still differs)
  --quiet          no progress line per settle window
  --scenarios PATH the scenario program (default: $COTYLEDON_SCENARIOS_BIN)

Exits 1 if any check failed.
";

fn main() -> ExitCode {
    let config = match parse(std::env::args().skip(1).collect()) {
        Ok(Some(config)) => config,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("chaos: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (lo, hi) = config.per_service();
    eprintln!(
        "chaos: {} s, 3 services of {lo}..={hi} workers, bursts of {} SIGHUPs",
        config.duration.as_secs(),
        config.hup_burst
    );
    let report = chaos::run(&config);
    println!("{report}");
    if report.failures().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The configuration from the arguments; `None` for `--help`.
fn parse(args: Vec<String>) -> Result<Option<Config>, String> {
    let mut seconds = 60u64;
    let mut workers = 50usize;
    let mut min = None;
    let mut burst = None;
    let mut seed = None;
    let mut quiet = false;
    let mut bin = std::env::var_os("COTYLEDON_SCENARIOS_BIN").map(PathBuf::from);
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or(format!("`{name}` needs a value"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quiet" => quiet = true,
            "--seconds" => seconds = number(&name, &value()?)?,
            "--workers" => workers = number(&name, &value()?)?,
            "--min" => min = Some(number(&name, &value()?)?),
            "--burst" => burst = Some(number(&name, &value()?)?),
            "--seed" => seed = Some(number(&name, &value()?)?),
            "--scenarios" => bin = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let bin = bin.ok_or("no scenario program: pass --scenarios or set COTYLEDON_SCENARIOS_BIN")?;
    if workers < 3 {
        return Err(format!("`--workers` must be at least 3, got {workers}"));
    }
    let mut config = Config::new(bin, Duration::from_secs(seconds), workers);
    config.min_per_service = min.unwrap_or(config.min_per_service);
    config.hup_burst = burst.unwrap_or(config.hup_burst);
    config.seed = seed;
    config.progress = !quiet;
    Ok(Some(config))
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("`{name}` needs a whole number, got `{value}`"))
}
