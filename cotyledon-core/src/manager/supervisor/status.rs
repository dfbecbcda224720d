//! What the master says of itself to systemd (`STATUS=`): workers ready per
//! service, and the last reload's trouble until a reload succeeds. Both it and
//! whether every worker is ready are walks over every worker, so they are
//! recomputed only when the table changed.

use super::Supervisor;

impl Supervisor {
    /// Whether every worker is ready, and the status line, recomputed only when
    /// the table or the trouble changed (each is a walk over every worker).
    pub(super) fn view(&mut self) -> (bool, String) {
        let version = self.table.version();
        if let Some((v, trouble, ready, status)) = &self.view
            && *v == version
            && *trouble == self.trouble
        {
            return (*ready, status.clone());
        }
        let (ready, status) = (self.table.all_ready(), self.status());
        self.view = Some((version, self.trouble.clone(), ready, status.clone()));
        (ready, status)
    }

    /// What `systemctl status` shows: workers ready per service, and the last
    /// reload's failure until a reload succeeds.
    pub(super) fn status(&self) -> String {
        let parts: Vec<String> = self
            .table
            .services()
            .map(|(index, slots)| {
                let ready = slots.running().filter(|(_, r)| r.life.serving()).count();
                format!(
                    "{} {ready}/{} ready",
                    self.services[index].name, slots.desired
                )
            })
            .collect();
        let workers = format!("Workers: {}", parts.join(", "));
        match &self.trouble {
            Some(trouble) => format!("{trouble}; {workers}"),
            None => workers,
        }
    }
}
