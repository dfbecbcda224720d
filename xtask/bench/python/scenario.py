"""The scenario program of `cargo xtask bench` for Python cotyledon ("python").

Usage: scenario.py N WAIT_MS [SCALE_FILE]

One service, `bench`, with N workers, written against Python cotyledon's public
API. Each worker prints `run bench ID PID` when it enters run(), then waits to be
stopped; SIGHUP makes it print `reload bench ID PID` (it does not restart). Lines
are written with one os.write each, so they never interleave; nothing else is
printed on stdout. The manager uses cotyledon's defaults except wait_interval
(WAIT_MS). On SIGHUP, if SCALE_FILE is given and holds a number, the on_reload
hook calls sm.reconfigure(service_id, number). Mirrors examples/bench.rs.
"""

import os
import sys
import threading

import cotyledon


def say(what, worker_id):
    os.write(1, f"{what} bench {worker_id} {os.getpid()}\n".encode())


class Bench(cotyledon.Service):
    name = "bench"

    def __init__(self, worker_id):
        super().__init__(worker_id)
        self._stop = threading.Event()

    def run(self):
        say("run", self.worker_id)
        self._stop.wait()

    def terminate(self):
        self._stop.set()

    def reload(self):
        say("reload", self.worker_id)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: scenario.py N WAIT_MS [SCALE_FILE]")
    workers = int(sys.argv[1])
    wait_interval = int(sys.argv[2]) / 1000.0
    scale_file = sys.argv[3] if len(sys.argv) > 3 else None

    sm = cotyledon.ServiceManager(wait_interval=wait_interval)
    service_id = sm.add(Bench, workers=workers)

    def on_reload():
        if scale_file is None or not os.path.exists(scale_file):
            return
        with open(scale_file) as f:
            sm.reconfigure(service_id, int(f.read().strip()))

    sm.register_hooks(on_reload=on_reload)
    sm.run()


if __name__ == "__main__":
    main()
