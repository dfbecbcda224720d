//! What the master tells systemd, and when (pure: facts in, messages out; the
//! caller sends them through `sd_notify::Notifier`).
//!
//! - `READY=1` once every initial worker is ready;
//! - `STATUS=…` whenever the readiness counts change (what `systemctl status`
//!   shows);
//! - on SIGHUP `RELOADING=1` with `MONOTONIC_USEC=` (what `Type=notify-reload`
//!   needs), then `READY=1` once the reload is done: no rollout under way and every
//!   worker ready again;
//! - a configuration reload that is refused (issue 15 item 8): `STATUS=Reload
//!   failed: REASON; …` (kept until the next SIGHUP) and `READY=1` at once, so that
//!   systemd's reload job ends;
//! - `STOPPING=1` when the shutdown starts;
//! - `WATCHDOG=1` every half `WATCHDOG_USEC`, from the event loop itself, so that a
//!   master stuck in a hook stops pinging and systemd acts;
//! - a binary upgrade is a reload to systemd: `RELOADING=1`, then `READY=1`
//!   when it failed, or `MAINPID=NEW` with `READY=1` when the new master took
//!   over (sent by the shell): this master is then silent for good.

use std::time::{Duration, Instant};

/// The protocol's state.
#[derive(Debug, Default)]
pub(super) struct Protocol {
    ready_sent: bool,
    reloading: bool,
    stopping: bool,
    status: String,
    next_ping: Option<Instant>,
    /// The first line of why the last reload was refused, shown in `STATUS=`
    /// until the next SIGHUP.
    failed: Option<String>,
    /// The master handed over to a new one after an upgrade: systemd hears
    /// only from that one now.
    silent: bool,
}

impl Protocol {
    /// After each turn of the loop: readiness, a finished reload, the status.
    pub(super) fn serving(
        &mut self,
        all_ready: bool,
        rolling: bool,
        status: String,
    ) -> Vec<String> {
        let mut out = Vec::new();
        if self.stopping || self.silent {
            return out;
        }
        let status = match &self.failed {
            Some(reason) => format!("Reload failed: {reason}; {status}"),
            None => status,
        };
        if status != self.status {
            out.push(format!("STATUS={status}"));
            self.status = status;
        }
        if all_ready && !rolling && (!self.ready_sent || self.reloading) {
            out.push("READY=1".to_owned());
            self.ready_sent = true;
            self.reloading = false;
        }
        out
    }

    /// SIGHUP: the reload starts (`monotonic_usec`: `CLOCK_MONOTONIC` now).
    pub(super) fn reloading(&mut self, monotonic_usec: u64) -> Vec<String> {
        if self.stopping || self.silent {
            return Vec::new();
        }
        self.reloading = true;
        self.failed = None;
        vec![format!("RELOADING=1\nMONOTONIC_USEC={monotonic_usec}")]
    }

    /// The reload that `reloading` announced was refused (its configuration
    /// rejected) and changed nothing: the reason goes into `STATUS=` (its first
    /// line: a notify message is one line per field) and the reload ends as if
    /// it had nothing to do: `READY=1` at once if the service was ready and no
    /// earlier reload is still rolling out (`all_ready`, `rolling`); otherwise
    /// when that one ends (or, before the first `READY=1`, when start-up does).
    pub(super) fn reload_failed(
        &mut self,
        reason: &str,
        status: String,
        all_ready: bool,
        rolling: bool,
    ) -> Vec<String> {
        if self.stopping || self.silent {
            return Vec::new();
        }
        let first = reason.lines().next().unwrap_or_default().trim();
        self.failed = Some(first.to_owned());
        // The status goes out now, before READY=1, whatever changed.
        self.status.clear();
        let ready = self.ready_sent;
        self.serving(all_ready && ready, rolling, status)
    }

    /// The master handed over to a new one (`MAINPID=` went out): nothing
    /// more, not even `STOPPING=1` or the watchdog.
    pub(super) fn silence(&mut self) {
        self.silent = true;
    }

    /// The shutdown starts.
    pub(super) fn stopping(&mut self) -> Vec<String> {
        if std::mem::replace(&mut self.stopping, true) || self.silent {
            return Vec::new();
        }
        vec!["STOPPING=1".to_owned()]
    }

    /// The watchdog: `WATCHDOG=1` when due; returns the messages and when to come
    /// back.
    pub(super) fn tick(
        &mut self,
        period: Option<Duration>,
        now: Instant,
    ) -> (Vec<String>, Option<Instant>) {
        let Some(period) = period.filter(|_| !self.silent) else {
            return (Vec::new(), None);
        };
        let due = self.next_ping.is_none_or(|at| now >= at);
        let mut out = Vec::new();
        if due {
            out.push("WATCHDOG=1".to_owned());
            self.next_ping = now.checked_add(period);
        }
        (out, self.next_ping)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_all_are_ready_then_status_only_on_change() {
        let mut p = Protocol::default();
        assert_eq!(
            p.serving(false, false, "web 1/2 ready".into()),
            ["STATUS=web 1/2 ready"]
        );
        assert!(p.serving(false, false, "web 1/2 ready".into()).is_empty());
        assert_eq!(
            p.serving(true, false, "web 2/2 ready".into()),
            ["STATUS=web 2/2 ready", "READY=1"]
        );
        assert!(p.serving(true, false, "web 2/2 ready".into()).is_empty());
    }

    #[test]
    fn a_reload_is_ready_again_when_its_rollout_is_done_and_all_are_ready() {
        let mut p = Protocol::default();
        p.serving(true, false, "s".into());
        assert_eq!(p.reloading(1234), ["RELOADING=1\nMONOTONIC_USEC=1234"]);
        assert!(
            p.serving(true, true, "s".into()).is_empty(),
            "rollout under way"
        );
        assert!(
            p.serving(false, false, "s".into()).is_empty(),
            "a worker booting"
        );
        assert_eq!(p.serving(true, false, "s".into()), ["READY=1"]);
        assert!(p.serving(true, false, "s".into()).is_empty());
    }

    #[test]
    fn a_refused_reload_says_why_and_is_ready_at_once_until_the_next_sighup() {
        let mut p = Protocol::default();
        p.serving(true, false, "s".into());
        p.reloading(1);
        assert_eq!(
            p.reload_failed("TOML parse error at line 1\n  |\n", "s".into(), true, false),
            [
                "STATUS=Reload failed: TOML parse error at line 1; s",
                "READY=1"
            ]
        );
        assert!(p.serving(true, false, "s".into()).is_empty(), "said once");
        assert_eq!(
            p.serving(true, false, "t".into()),
            ["STATUS=Reload failed: TOML parse error at line 1; t"]
        );
        p.reloading(2);
        assert_eq!(p.serving(true, false, "t".into()), ["STATUS=t", "READY=1"]);
    }

    #[test]
    fn a_refused_reload_before_the_first_ready_leaves_ready_to_the_workers() {
        let mut p = Protocol::default();
        p.reloading(1);
        assert_eq!(
            p.reload_failed("bad", "s".into(), true, false),
            ["STATUS=Reload failed: bad; s"]
        );
        assert_eq!(p.serving(true, false, "s".into()), ["READY=1"]);
    }

    #[test]
    fn a_refused_reload_during_a_rollout_leaves_ready_to_the_rollout() {
        let mut p = Protocol::default();
        p.serving(true, false, "s".into());
        p.reloading(1);
        assert!(p.serving(true, true, "s".into()).is_empty(), "rolling");
        // A second SIGHUP, refused, while the first one's rollout goes on.
        p.reloading(2);
        assert_eq!(
            p.reload_failed("bad", "s".into(), false, true),
            ["STATUS=Reload failed: bad; s"]
        );
        assert!(
            p.serving(true, true, "s".into()).is_empty(),
            "still rolling"
        );
        assert_eq!(p.serving(true, false, "s".into()), ["READY=1"]);
    }

    #[test]
    fn stopping_is_said_once_and_silences_the_rest() {
        let mut p = Protocol::default();
        assert_eq!(p.stopping(), ["STOPPING=1"]);
        assert!(p.stopping().is_empty());
        assert!(p.serving(true, false, "x".into()).is_empty());
        assert!(p.reloading(1).is_empty());
    }

    #[test]
    fn the_watchdog_pings_every_period() {
        let mut p = Protocol::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(p.tick(None, t0), (vec![], None));
        let period = Some(ms(100));
        assert_eq!(
            p.tick(period, t0),
            (vec!["WATCHDOG=1".to_owned()], Some(t0 + ms(100)))
        );
        assert_eq!(p.tick(period, t0 + ms(50)), (vec![], Some(t0 + ms(100))));
        let (out, next) = p.tick(period, t0 + ms(100));
        assert_eq!((out.len(), next), (1, Some(t0 + ms(200))));
    }
}
