//! How much of each figure a run measures: the full plan, or the `--smoke` one.

/// How much of each figure to run.
pub(crate) struct Plan {
    /// (N, wait_interval ms, runs)
    pub(crate) startup: Vec<(usize, u64, usize)>,
    /// N whose wait_interval-0 start-up runs also time the shutdown.
    pub(crate) shutdown: Vec<usize>,
    /// (workers, runs, kills per run)
    pub(crate) respawn: (usize, usize, usize),
    /// (workers, runs): master SIGKILL → every worker gone
    pub(crate) master_kill: (usize, usize),
    /// (workers, runs, reloads per run)
    pub(crate) reload: (usize, usize, usize),
    /// (workers, seconds, runs)
    pub(crate) idle: (usize, u64, usize),
    /// (big, small, runs)
    pub(crate) scale: (usize, usize, usize),
    /// (heartbeat timeout ms, workers that stop beating, one master): ours only.
    pub(crate) watchdog: (u64, usize),
}

impl Plan {
    pub(crate) fn new(smoke: bool) -> Plan {
        if smoke {
            return Plan {
                startup: vec![(1, 0, 1), (10, 0, 1), (1, 10, 1), (10, 10, 1)],
                shutdown: vec![10],
                respawn: (10, 1, 3),
                master_kill: (10, 1),
                reload: (10, 1, 2),
                idle: (10, 1, 1),
                scale: (10, 2, 1),
                watchdog: (500, 3),
            };
        }
        Plan {
            startup: vec![
                (1, 0, 10),
                (10, 0, 10),
                (100, 0, 10),
                (500, 0, 5),
                (1000, 0, 5),
                (1, 10, 10),
                (10, 10, 10),
                (100, 10, 5),
                (1000, 10, 2),
            ],
            shutdown: vec![10, 100, 500, 1000],
            respawn: (100, 3, 25),
            master_kill: (200, 10),
            reload: (10, 5, 10),
            idle: (10, 10, 3),
            scale: (1000, 10, 5),
            watchdog: (500, 15),
        }
    }
}
