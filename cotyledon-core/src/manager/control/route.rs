//! What each request means: the reads (`GET /status`, `/status.txt`,
//! `/metrics`) are rendered at once; the commands become the inputs a signal
//! or a hook's [`ManagerHandle`] would make (`Input::Hangup`,
//! `Input::Terminate`, or `Input::Control` with the handle's requests,
//! checked by the handle's own checks), so there is one way to change state.
//! Services are named by their name; an unknown one is a 404. While the
//! manager shuts down, commands are refused with a 409 (a second `/shutdown`
//! is accepted: it changes nothing either way).

use std::time::Instant;

use super::MasterInfo;
use super::http::{JSON, PROMETHEUS, Reply};
use super::render;
use crate::error::Error;
use crate::ids::{ServiceId, WorkerId};
use crate::manager::handle::{ManagerHandle, Request};
use crate::manager::supervisor::{Input, Supervisor};

/// The endpoints, for `GET /` and 404s.
const HELP: &str = "cotyledon control endpoint\n\
GET  /status                  status as JSON\n\
GET  /status.txt              status as a table\n\
GET  /metrics                 Prometheus metrics\n\
POST /reload                  reload (as SIGHUP)\n\
POST /restart/SERVICE         rolling restart of a service\n\
POST /restart/SERVICE/ID      graceful restart of one worker\n\
POST /stop/SERVICE/ID         graceful stop of one worker (held down)\n\
POST /start/SERVICE/ID        let a stopped worker run again\n\
POST /scale/SERVICE/N         N workers for a service\n\
POST /shutdown                graceful shutdown (as SIGTERM)\n";

/// The reply to a request and what it asks of the supervisor.
pub(super) fn route(
    method: &str,
    path: &str,
    sup: &Supervisor,
    info: &MasterInfo,
    now: Instant,
) -> (Reply, Option<Input>) {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let read = matches!(
        parts.as_slice(),
        [] | [""] | ["status"] | ["status.txt"] | ["metrics"]
    );
    let wanted = if read { "GET" } else { "POST" };
    if method != wanted {
        let mut reply = Reply::text(405, format!("{path} takes {wanted}, not {method}"));
        if !known(&parts) {
            reply = Reply::text(404, format!("no such endpoint: {path}\n\n{HELP}"));
        }
        return (reply, None);
    }
    // A shutdown outranks everything: commands would be dropped, say so.
    if !read && sup.is_stopping() && parts.as_slice() != ["shutdown"] {
        return (
            Reply::text(409, "the manager is shutting down: nothing changes"),
            None,
        );
    }
    let snapshot = || sup.snapshot(now);
    let reply = |content_type, body| Reply {
        code: 200,
        content_type,
        body,
    };
    match parts.as_slice() {
        [] | [""] => (Reply::text(200, HELP), None),
        ["status"] => (reply(JSON, render::json(sup, &snapshot(), info)), None),
        ["status.txt"] => (
            reply(super::http::TEXT, render::table(sup, &snapshot(), info)),
            None,
        ),
        ["metrics"] => (
            reply(
                PROMETHEUS,
                super::prometheus::render(sup, &snapshot(), info),
            ),
            None,
        ),
        ["reload"] => (Reply::text(202, "reload requested"), Some(Input::Hangup)),
        ["shutdown"] => (
            Reply::text(202, "graceful shutdown requested"),
            Some(Input::Terminate),
        ),
        ["restart", service] => command(sup, service, None, |h, id, _| {
            h.rolling_restart(id)?;
            Ok(format!("rolling restart of {service} requested"))
        }),
        [verb @ ("restart" | "stop" | "start"), service, worker] => {
            command(sup, service, Some(worker), |h, id, n| {
                let w = WorkerId::new(n);
                match *verb {
                    "restart" => h.restart_worker(id, w)?,
                    "stop" => h.stop_worker(id, w)?,
                    _ => h.start_worker(id, w)?,
                }
                Ok(format!("{verb} of worker {service}({n}) requested"))
            })
        }
        ["scale", service, count] => command(sup, service, Some(count), |h, id, n| {
            h.reconfigure(id, n)?;
            Ok(format!("{service} scaled to {n} workers"))
        }),
        _ => (
            Reply::text(404, format!("no such endpoint: {path}\n\n{HELP}")),
            None,
        ),
    }
}

/// Whether a path names an endpoint (for 405 versus 404).
fn known(parts: &[&str]) -> bool {
    matches!(
        parts,
        [] | [""]
            | ["status" | "status.txt" | "metrics" | "reload" | "shutdown"]
            | ["restart", _]
            | ["restart" | "stop" | "start" | "scale", _, _]
    )
}

/// The service named `name`.
fn service(sup: &Supervisor, name: &str) -> Result<ServiceId, Reply> {
    let mut found = sup
        .services
        .iter()
        .enumerate()
        .filter(|(_, s)| s.name == name)
        .map(|(i, _)| sup.table.service(i).id);
    match (found.next(), found.next()) {
        (Some(id), None) => Ok(id),
        (Some(_), Some(_)) => Err(Reply::text(
            409,
            format!("several services are named {name}: name them apart to control them"),
        )),
        _ => {
            let names: Vec<&str> = sup.services.iter().map(|s| s.name).collect();
            Err(Reply::text(
                404,
                format!("unknown service {name} (services: {})", names.join(", ")),
            ))
        }
    }
}

/// A command on a service: the number is parsed (400 if it is not one), the
/// handle checks the rest (404 for an unknown worker, 400 for a count).
fn command(
    sup: &Supervisor,
    name: &str,
    number: Option<&str>,
    act: impl FnOnce(&mut ManagerHandle<'_>, ServiceId, usize) -> Result<String, Error>,
) -> (Reply, Option<Input>) {
    let id = match service(sup, name) {
        Ok(id) => id,
        Err(reply) => return (reply, None),
    };
    let n = match number.map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            let what = number.unwrap_or_default();
            return (Reply::text(400, format!("not a number: {what}")), None);
        }
    };
    let mut requests: Vec<Request> = Vec::new();
    let mut handle = ManagerHandle::new(sup, &mut requests);
    match act(&mut handle, id, n) {
        Ok(done) => (Reply::text(202, done), Some(Input::Control(requests))),
        Err(Error::UnknownWorker { worker, .. }) => {
            let count = sup
                .table
                .index_of(id)
                .map_or(0, |i| sup.table.service(i).desired);
            let why = format!("{name} has no worker id {worker} (it has {count} workers)");
            (Reply::text(404, why), None)
        }
        Err(e) => (Reply::text(400, e.to_string()), None),
    }
}

/// SIGTTIN (`delta` +1) or SIGTTOU (−1): one worker more or fewer for every
/// service, never below 1 nor above the limit (a service the handle refuses
/// is left as it is, with the reason). Returns the input and the refusals.
pub(crate) fn add_workers(sup: &Supervisor, more: bool) -> (Option<Input>, Vec<String>) {
    let mut requests: Vec<Request> = Vec::new();
    let mut refused = Vec::new();
    let mut handle = ManagerHandle::new(sup, &mut requests);
    for (index, slots) in sup.table.services() {
        let name = sup.services[index].name;
        let Ok(now) = handle.workers(slots.id) else {
            continue;
        };
        let next = if more {
            now.saturating_add(1)
        } else {
            now.saturating_sub(1)
        };
        if next == 0 {
            refused.push(format!("{name} keeps its one worker"));
            continue;
        }
        if let Err(e) = handle.reconfigure(slots.id, next) {
            refused.push(format!("{name} keeps {now} workers: {e}"));
        }
    }
    let input = (!requests.is_empty()).then_some(Input::Control(requests));
    (input, refused)
}
