"""Facts about the running process that decide how ftproxy serves.

Every decision that differs between a free-threaded build and a GIL build reads a
`RuntimeFacts`; tests inject their own facts instead of needing a python3.14t. `draining()` says
whether this instance is shutting down (the drain file of `serve/lifecycle.py`, watched by one
thread per process), which GET /ready reports, and `drain_deadline_at` when the streams still
open must end (with their error event) during a stop.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import sysconfig
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ftproxy.environment import FTPROXY_DRAIN_FILE, PYTHON_GIL


@dataclass(frozen=True)
class RuntimeFacts:
    version: str
    implementation: str
    free_threaded_build: bool
    # Live state; interpreters before 3.13 cannot turn the GIL off, so they report True.
    gil_enabled: bool
    executable: str
    # What `-X gil=0|1` or PYTHON_GIL=0|1 asked for (the -X option wins, as in CPython), or None;
    # `gil_request_source` names it for messages, e.g. "PYTHON_GIL=1".
    gil_requested: bool | None = None
    gil_request_source: str = ""

    @property
    def gil_disabled(self) -> bool:
        return self.free_threaded_build and not self.gil_enabled

    def describe(self) -> str:
        build = "free-threaded build" if self.free_threaded_build else "GIL build"
        gil = "GIL enabled" if self.gil_enabled else "GIL disabled"
        asked = f", {self.gil_request_source}" if self.gil_request_source else ""
        return f"{self.implementation} {self.version} ({build}, {gil}{asked}) at {self.executable}"


def is_free_threaded_build() -> bool:
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def is_gil_enabled() -> bool:
    """The live GIL state; an import of a GIL-only extension can switch it on at any time."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def requested_gil(
    xoptions: Mapping[str, str | bool] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[bool | None, str]:
    """What was asked for at start-up: (True for on / False for off / None, where it came from).

    `-X gil=N` wins over PYTHON_GIL=N, as in CPython. Values other than 0 and 1 are not a request
    (CPython itself refuses to start with them on a free-threaded build).
    """
    xoptions = sys._xoptions if xoptions is None else xoptions
    environ = os.environ if environ is None else environ
    option = xoptions.get("gil")
    if option in ("0", "1"):
        return option == "1", f"-X gil={option}"
    variable = environ.get(PYTHON_GIL)
    if variable in ("0", "1"):
        return variable == "1", f"{PYTHON_GIL}={variable}"
    return None, ""


def current() -> RuntimeFacts:
    asked, source = requested_gil()
    return RuntimeFacts(
        version=platform.python_version(),
        implementation=platform.python_implementation(),
        free_threaded_build=is_free_threaded_build(),
        gil_enabled=is_gil_enabled(),
        executable=os.path.realpath(sys.executable),
        gil_requested=asked,
        gil_request_source=source,
    )


WATCH_INTERVAL_S = 0.2  # how soon a worker sees the drain file come or go; a stop is seconds long


def draining() -> bool:
    """True once this instance is shutting down (or an operator created the drain file), as this
    process's drain watch saw it at most `WATCH_INTERVAL_S` ago; False in a process without one.

    Called on every GET /ready: two attribute reads. The file appears in another process, so the
    looking (an environment lookup once, a stat() five times a second) is the watch thread's.
    """
    watch = _process_watch
    return watch is not None and watch.draining


# ---- the drain deadline: when the streams still open must end, so that they end with an event ----
#
# The main process writes the deadline (wall-clock seconds since the epoch) into the drain file
# when a stop begins (`serve/lifecycle.py`): every worker, thread or process, reads it from there.
# In each process the deadline is held here, as `time.perf_counter()` seconds (the clock the
# streams use), and read by every stream on every chunk: one global read, no lock, no call.
# Only `publish_drain_deadline` writes it.
drain_deadline_at = math.inf
_drain_lock = threading.Lock()  # the deadline's compare-and-store; the one watch per process
_process_watch: DrainWatch | None = None  # set once, by `watch_drain`


def publish_drain_deadline(deadline: float) -> float:
    """Sets the drain deadline (perf_counter seconds) unless an earlier one is set; returns the
    one in force. Under a lock: two publishers (the watcher, a server's own stop) must not let a
    later deadline overwrite an earlier one between the compare and the store."""
    global drain_deadline_at
    with _drain_lock:
        if deadline < drain_deadline_at:
            drain_deadline_at = deadline
        return drain_deadline_at


def read_drain_deadline(path: str) -> float | None:
    """The deadline written into the drain file, as perf_counter seconds; None while there is
    none (no file, or an operator's empty file: a drain without a stop has no deadline)."""
    try:
        with open(path, "rb") as file:
            text = file.read(64).strip()
        epoch = float(text)
    except (OSError, ValueError):
        return None
    return time.perf_counter() + (epoch - time.time())


class DrainWatch:
    """The drain file as one process sees it: `draining` (whether the file exists; GET /ready
    reads it) and the drain deadline written in it (published once, for the streams), refreshed
    by one thread every `interval_s` for the life of the process: an operator's file may come and
    go (`touch` drains, `rm` puts the instance back), a stop's file stays until the end."""

    def __init__(self, path: str, interval_s: float = WATCH_INTERVAL_S) -> None:
        self.path = path
        self.interval_s = interval_s
        # Written by `look` only: before `start()` by its caller, then by the watch thread alone.
        self.draining = False
        self._deadline_known = False
        self._stopped = threading.Event()

    def look(self) -> None:
        self.draining = os.path.exists(self.path)
        if self.draining and not self._deadline_known:
            deadline = read_drain_deadline(self.path)
            if deadline is not None:
                publish_drain_deadline(deadline)
                self._deadline_known = True

    def start(self) -> None:
        threading.Thread(target=self._run, name="ftproxy-drain-watch", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            self.look()


def watch_drain() -> None:
    """Starts, once per process, the watch of this run's drain file ($FTPROXY_DRAIN_FILE; none
    without it): the workers of a GIL build are separate processes, and the stop is decided in the
    main one. Its first look is taken before it is published, so a worker that starts while the
    instance drains answers 503 from its first /ready."""
    global _process_watch
    path = os.environ.get(FTPROXY_DRAIN_FILE)
    if not path or _process_watch is not None:
        return
    watch = DrainWatch(path)
    watch.look()  # a stat, outside the lock
    with _drain_lock:
        if _process_watch is not None:
            return  # another thread worker's factory came first: one watch per process
        _process_watch = watch
    watch.start()
