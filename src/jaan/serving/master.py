"""The pre-fork master: a plain synchronous loop that keeps N workers serving.

Shaped like gunicorn's arbiter: signal handlers only enqueue (and wake the loop
through ``signal.set_wakeup_fd``); each turn of the loop reads worker pipes and the
control socket, dispatches queued signals to ``handle_<name>`` methods, reaps dead
workers, kills hung or late ones, moves replacements along and keeps the count.  No
event loop, no threads and no database connection exist here, so forking is safe.

Replacements (reload, memory or request-count recycling, scaling) go one at a time:
the new worker must report ready before the old one is told to drain, so capacity
never dips, and the extra pool this needs is the budget's surge allowance.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import random
import selectors
import signal
import socket
import sys
import time
import traceback
from typing import Any

from setproctitle import setproctitle

from jaan import metrics
from jaan.serving import status
from jaan.serving.budget import BudgetError, ConnectionBudget
from jaan.serving.control import ControlServer
from jaan.serving.database_supervisor import DatabaseSupervisor
from jaan.serving.process import MonitorPorts, Worker, WorkerSpec, WorkerState, describe_exit
from jaan.serving.replacements import Replacements
from jaan.serving.sockets import refuse_new_connections
from jaan.serving.systemd import notify
from jaan.serving.worker import run_worker
from jaan.settings import Settings

log = logging.getLogger("jaan.master")

TICK = 0.1
SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGTTIN", "SIGTTOU", "SIGCHLD")
ABORT_GRACE = 2.0  # seconds between SIGABRT (stack dump) and SIGKILL for a hung worker
MAX_BACKOFF = 5.0


class Master:
    def __init__(
        self,
        settings: Settings,
        dsn: str,
        budget: ConnectionBudget,
        listener: socket.socket,
        address: str,
        control: ControlServer,
        database: DatabaseSupervisor | None = None,
    ) -> None:
        self.settings = settings
        self.database = database or DatabaseSupervisor(None)
        self.dsn = dsn
        self.budget = budget
        self.listener = listener
        self.address = address
        self.control = control
        self.target = budget.workers
        self.workers: dict[int, Worker] = {}
        self.signals: collections.deque[int] = collections.deque()
        self.selector = selectors.DefaultSelector()
        self.wakeup_r, self.wakeup_w = os.pipe()
        self.failures = 0  # failed starts in a row
        self.last_failure_at = 0.0
        self.next_spawn_at = 0.0
        self.slot_starts: collections.Counter[int] = collections.Counter()
        self.replacements = Replacements()
        self.stopping = False
        self.exit_code = 0
        self.announced = False
        self.started = time.monotonic()
        self.last_checks = 0.0
        self.published_states: collections.Counter[WorkerState] | None = None

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until stopped; the exit code of ``bin/serve``."""
        setproctitle("jaan: master")
        for fd in (self.wakeup_r, self.wakeup_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wakeup_w, warn_on_full_buffer=False)
        for name in SIGNALS:
            signal.signal(getattr(signal, name), self._enqueue)
        self.selector.register(self.wakeup_r, selectors.EVENT_READ, None)
        self.control.register(self.selector)
        log.info("master pid %d: %s", os.getpid(), self.budget.describe())
        try:
            while self.workers or not self.stopping:
                self._poll()
                self._dispatch_signals()
                self._reap()
                self.database.check(restart=not self.stopping)
                self._kill_overdue()
                if not self.stopping:
                    self._check_workers()
                    self._move_replacements()
                    self._keep_count()
                    self._announce_when_ready()
                self._publish_worker_states()
        except Exception:
            log.critical("master crashed:\n%s", traceback.format_exc())
            self.exit_code = 1
        finally:
            self._cleanup()
        return self.exit_code

    def _enqueue(self, signum: int, frame: Any) -> None:
        self.signals.append(signum)

    def _poll(self) -> None:
        for key, _ in self.selector.select(TICK):
            if key.fileobj == self.wakeup_r:
                with contextlib.suppress(BlockingIOError):
                    os.read(self.wakeup_r, 4096)
            elif isinstance(key.data, Worker):
                self._read_channel(key.data)
            elif callable(key.data):
                key.data(self.selector, self._control_request)

    def _dispatch_signals(self) -> None:
        while self.signals:
            name = signal.Signals(self.signals.popleft()).name
            getattr(self, "handle_" + name[3:].lower())()

    # -- signals ----------------------------------------------------------------------------

    def handle_chld(self) -> None:
        pass  # the loop reaps every turn

    def handle_term(self) -> None:
        if self.stopping:
            log.warning("second stop signal: killing workers now")
            self._kill_all(signal.SIGKILL)
            return
        self.begin_stop("stop requested")

    handle_int = handle_term

    def handle_quit(self) -> None:
        self.stopping = True
        self._kill_all(signal.SIGKILL)

    def handle_hup(self) -> None:
        self.start_reload()

    def handle_ttin(self) -> None:
        self.scale(self.target + 1)

    def handle_ttou(self) -> None:
        self.scale(max(1, self.target - 1))

    # -- commands ---------------------------------------------------------------------------

    def begin_stop(self, why: str, exit_code: int = 0) -> None:
        """Graceful stop: stop accepting, let workers finish in-flight requests, then exit."""
        if self.stopping:
            return
        log.info(
            "%s: stopping %d workers (graceful timeout %.0fs)", why, len(self.workers), self.settings.graceful_timeout
        )
        notify("STOPPING=1")
        self.stopping = True
        self.exit_code = exit_code
        # New connections are dropped from now on (they are retried, then refused once the
        # socket is closed); the workers drain what is queued before closing their copies.
        if not refuse_new_connections(self.listener):
            log.warning("cannot filter new connections: some queued at the very end may be reset")
        self.listener.close()
        for worker in list(self.workers.values()):
            self._retire(worker)

    def start_reload(self) -> dict[str, Any]:
        """Replace every worker, one at a time, each only after its successor is ready."""
        return self.replacements.start_reload(sorted({w.slot for w in self._serving()}))

    def scale(self, count: int) -> dict[str, Any]:
        """Change the worker count; a smaller share of the budget each when there are more."""
        try:
            budget = self.budget.for_workers(count)
        except BudgetError as exc:
            log.error("cannot scale to %d workers: %s", count, exc)
            return {"ok": False, "error": str(exc)}
        log.info("scaling from %d to %d workers; %s", self.target, count, budget.describe())
        self.target, self.budget = count, budget
        for worker in self._serving():
            if worker.spec.pool_max > budget.pool_max and worker.slot <= count:
                self.replacements.request(worker.slot, "resize")
        return {"ok": True, "workers": count}

    def _control_request(self, request: dict[str, Any]) -> dict[str, Any]:
        command = request.get("command")
        if command == "status":
            return status.snapshot(self)
        if command == "reload":
            return {"ok": True, "reload": self.start_reload()}
        if command == "scale":
            count = request.get("workers")
            if not isinstance(count, int) or count < 1:
                return {"ok": False, "error": "scale needs a worker count of at least 1"}
            return self.scale(count)
        if command == "stop":
            self.begin_stop("stop requested through the control socket")
            return {"ok": True, "pid": os.getpid()}
        return {"ok": False, "error": f"unknown command {command!r}"}

    # -- workers ----------------------------------------------------------------------------

    def _serving(self) -> list[Worker]:
        """Workers that hold their slot: starting or ready, not told to go."""
        return [
            w
            for w in self.workers.values()
            if w.state in (WorkerState.STARTING, WorkerState.READY) and w is not self.replacements.successor
        ]

    def _committed(self) -> int:
        return sum(w.spec.pool_max + self.budget.listen_per_worker for w in self.workers.values())

    def _fits(self) -> bool:
        return self._committed() + self.budget.per_worker <= self.budget.total

    def spawn(self, slot: int, replaces: Worker | None = None) -> Worker:
        used = {w.parity for w in self.workers.values() if w.slot == slot}
        parity = 0 if 0 not in used else 1
        jitter = random.randint(0, self.settings.max_requests_jitter) if self.settings.max_requests else 0
        ports = MonitorPorts.for_slot(self.settings.monitor_port_base, slot, parity) if self.settings.monitor else None
        spec = WorkerSpec(
            slot=slot,
            pool_min=self.budget.pool_min,
            pool_max=self.budget.pool_max,
            heartbeat_interval=min(1.0, self.settings.timeout / 4),
            max_requests=self.settings.max_requests + jitter if self.settings.max_requests else 0,
            monitor_ports=ports,
        )
        read_end, write_end = os.pipe()
        inherited = [
            self.wakeup_r,
            self.wakeup_w,
            read_end,
            *self.control.fds(),
            *(w.channel for w in self.workers.values()),
        ]
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child never returns into the master's code
            code = 1
            try:
                self.selector.close()
                code = run_worker(spec, self.settings, self.dsn, self.listener, write_end, inherited)
            finally:
                os._exit(code)
        os.close(write_end)
        os.set_blocking(read_end, False)
        worker = Worker(
            slot=slot, pid=pid, spec=spec, channel=read_end, parity=parity, replaces=replaces.pid if replaces else None
        )
        self.workers[pid] = worker
        self.selector.register(read_end, selectors.EVENT_READ, worker)
        self.slot_starts[slot] += 1
        if replaces is not None and self.replacements.current is not None:
            metrics.WORKER_RESTARTS.labels(self.replacements.current.reason.replace("-", "_")).inc()
        role = f", to replace pid {replaces.pid}" if replaces else ""
        log.info("worker %d started (pid %d)%s", slot, pid, role)
        return worker

    def _read_channel(self, worker: Worker) -> None:
        try:
            data = os.read(worker.channel, 65536)
        except BlockingIOError:
            return
        if not data:  # the worker closed its end (it is exiting): stop watching the pipe
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(worker.channel)
            return
        for message in worker.feed(data):
            self._on_message(worker, message)

    def _on_message(self, worker: Worker, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        worker.last_beat = time.monotonic()
        if kind == "ready" and worker.state is WorkerState.STARTING:
            worker.state, worker.ready_at = WorkerState.READY, time.monotonic()
            worker.stats = message  # the counters a beat carries, so status is complete at once
            log.info("worker %d ready (pid %d) in %.2fs", worker.slot, worker.pid, worker.uptime)
            if worker is self.replacements.successor:
                self._successor_ready(worker)
        elif kind == "beat":
            worker.stats = message
        elif kind == "fatal":
            worker.reason = str(message.get("reason", ""))
        elif kind == "recycle" and worker.state is WorkerState.READY and not self.replacements.busy_with(worker.slot):
            log.info("worker %d (pid %d) %s: recycling it", worker.slot, worker.pid, message.get("reason"))
            self.replacements.request(worker.slot, "max-requests")

    def _retire(self, worker: Worker) -> None:
        """Tell a worker to drain and exit; SIGKILL it if it is still there after the graceful timeout."""
        if worker.state in (WorkerState.DRAINING, WorkerState.KILLED):
            return
        worker.state = WorkerState.DRAINING
        worker.stopped_on_purpose = True
        worker.stop_deadline = time.monotonic() + self.settings.graceful_timeout
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGTERM)

    def _kill_all(self, signum: int) -> None:
        for worker in self.workers.values():
            worker.stopped_on_purpose = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signum)

    def _reap(self) -> None:
        for pid, worker in list(self.workers.items()):
            try:
                done, exit_status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, exit_status = pid, 0
            if done:
                self._on_exit(worker, exit_status)

    def _on_exit(self, worker: Worker, exit_status: int) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._read_channel(worker)  # a last "fatal" message may still be in the pipe
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(worker.channel)
        os.close(worker.channel)
        del self.workers[worker.pid]
        metrics.process_exited(worker.pid)
        how = describe_exit(exit_status)
        if worker.stopped_on_purpose:
            log.info("worker %d (pid %d) stopped: %s", worker.slot, worker.pid, how)
            return
        # Killed by us without being asked to stop: it missed its heartbeat or its ready timeout.
        metrics.WORKER_RESTARTS.labels("hung" if worker.state is WorkerState.KILLED else "crash").inc()
        reason = worker.reason or how
        log.error("worker %d (pid %d) died after %.1fs: %s", worker.slot, worker.pid, worker.uptime, reason)
        if worker is self.replacements.successor:
            self.replacements.successor_failed(f"worker {worker.slot} died before it was ready: {reason}")
            return
        if worker.ready_at is None or worker.uptime < self.settings.min_uptime:
            self._failed_start(worker, reason)

    def _failed_start(self, worker: Worker, reason: str) -> None:
        self.failures += 1
        self.last_failure_at = time.monotonic()
        if self.failures > self.settings.max_restarts:
            message = (
                f"giving up: workers failed to start {self.failures} times in a row "
                f"(--max-restarts {self.settings.max_restarts}); last: {reason}"
            )
            log.critical(message)
            print(f"serve: {message}", file=sys.stderr, flush=True)
            self.begin_stop("crash loop", exit_code=1)
            return
        backoff = min(MAX_BACKOFF, 0.1 * 2 ** (self.failures - 1))
        self.next_spawn_at = time.monotonic() + backoff
        log.warning(
            "failed start %d of %d allowed; next try in %.1fs", self.failures, self.settings.max_restarts, backoff
        )

    def _kill_overdue(self) -> None:
        now = time.monotonic()
        for worker in self.workers.values():
            if worker.stop_deadline is not None and now > worker.stop_deadline:
                log.warning("worker %d (pid %d) is past its deadline: SIGKILL", worker.slot, worker.pid)
                worker.stop_deadline = None
                worker.state = WorkerState.KILLED
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)

    def _check_workers(self) -> None:
        """Ready timeouts, missing heartbeats, memory; at most every quarter second."""
        now = time.monotonic()
        if now - self.last_checks < 0.25:
            return
        self.last_checks = now
        for worker in list(self.workers.values()):
            if worker.state is WorkerState.STARTING and worker.uptime > self.settings.ready_timeout:
                self._not_ready(worker)
            elif worker.state is WorkerState.READY and now - worker.last_beat > self.settings.timeout:
                log.error(
                    "worker %d (pid %d) sent no heartbeat for %.1fs: SIGABRT (stack dump follows), then SIGKILL",
                    worker.slot,
                    worker.pid,
                    now - worker.last_beat,
                )
                worker.state, worker.stop_deadline = WorkerState.KILLED, now + ABORT_GRACE
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGABRT)
                    os.kill(worker.pid, signal.SIGCONT)  # a stopped process must run to dump its stack
            elif (
                worker.state is WorkerState.READY
                and self.settings.max_memory
                and not self.replacements.busy_with(worker.slot)
            ):
                rss = worker.rss_bytes()
                if rss > self.settings.max_memory * 1024 * 1024:
                    log.warning(
                        "worker %d (pid %d) uses %d MB, over --max-memory %d MB: recycling it",
                        worker.slot,
                        worker.pid,
                        rss // 2**20,
                        self.settings.max_memory,
                    )
                    self.replacements.request(worker.slot, "memory")
            if (
                self.failures
                and worker.state is WorkerState.READY
                and worker.ready_at is not None
                and worker.started_at > self.last_failure_at
                and now - worker.ready_at > self.settings.min_uptime
            ):
                self.failures = 0  # a worker started after the last failure has proved stable

    def _not_ready(self, worker: Worker) -> None:
        reason = f"not ready within --ready-timeout {self.settings.ready_timeout:.0f}s"
        log.error("worker %d (pid %d) %s: killing it", worker.slot, worker.pid, reason)
        worker.reason = worker.reason or reason
        worker.state = WorkerState.KILLED
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGKILL)

    # -- replacements ---------------------------------------------------------------------

    def _move_replacements(self) -> None:
        self.replacements.advance(
            self._serving(), self.target, self._fits, lambda slot, old: self.spawn(slot, replaces=old)
        )

    def _successor_ready(self, new: Worker) -> None:
        self.replacements.successor_ready()
        old = self.workers.get(new.replaces or -1)
        if old is not None:
            log.info("worker %d: pid %d takes over from pid %d, which now drains", new.slot, new.pid, old.pid)
            self._retire(old)

    def _keep_count(self) -> None:
        holding = {w.slot for w in self._serving()}
        if self.replacements.successor is not None:
            holding.add(self.replacements.successor.slot)
        resizing = self.replacements.resizing
        for slot in range(1, self.target + 1):
            if slot in holding:
                continue
            if time.monotonic() < self.next_spawn_at or resizing or not self._fits():
                break
            self.spawn(slot)
        for worker in self._serving():
            if worker.slot > self.target:
                log.info(
                    "worker %d (pid %d) is beyond the %d wanted: draining it", worker.slot, worker.pid, self.target
                )
                self._retire(worker)

    def _announce_when_ready(self) -> None:
        if self.announced:
            return
        ready = {w.slot for w in self.workers.values() if w.state is WorkerState.READY}
        if not ready.issuperset(range(1, self.target + 1)):
            return
        self.announced = True
        if self.settings.pid_file:
            with open(self.settings.pid_file, "w") as pid_file:
                pid_file.write(f"{os.getpid()}\n")
        notify(f"READY=1\nMAINPID={os.getpid()}")
        print(f"ready: {self.target} workers on http://{self.address}", file=sys.stderr, flush=True)

    def _publish_worker_states(self) -> None:
        """jaan_workers{state}, written only when a count changed; exited workers' counts folded."""
        metrics.fold_exited()  # the ones a scrape kept from folding when they exited
        counts = collections.Counter(w.state for w in self.workers.values())
        if counts != self.published_states:
            for state in WorkerState:
                metrics.WORKERS.labels(state.value).set(counts[state])
            self.published_states = counts

    def _cleanup(self) -> None:
        self._kill_all(signal.SIGKILL)
        for pid in list(self.workers):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.control.close()
        if self.settings.pid_file and self.announced:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.settings.pid_file)
        signal.set_wakeup_fd(-1)
        log.info("master exits (%d)", self.exit_code)
