"""A preemption harness: forced thread switches at every instruction of the code under test.

Why: on a GIL build a read-modify-write with no Python call inside (`self._n += 1`, a check and
the act that follows it) is never interrupted in practice — the interpreter only switches threads
at a few points, and `sys.setswitchinterval` cannot split one short method. So a stress test of
an unlocked counter passes on a GIL build and fails on a free-threaded one. This harness makes
the GIL build behave like the worst free-threaded schedule: while it is active, every bytecode
instruction (or line) of the chosen modules first hands the processor to another thread.

How: `sys.monitoring` INSTRUCTION (or LINE) events enabled on the code objects of those modules
only (3.12+), or `sys.settrace` with opcode events for frames of those files (3.11, or
FTPROXY_PREEMPT_BACKEND=settrace). The callback calls `switch()`: `time.sleep(0)` releases the
GIL, and with the one-microsecond switch interval of tests/stress another runnable thread takes
it at once. Product code is not touched and the rest of the process (pytest, the stdlib,
prometheus_client) runs at full speed.

On a free-threaded build (3.14t) the same code runs unchanged: the threads really run in
parallel, and the callback (a Python call plus a yield of the core, `os.sched_yield`) between
every two instructions widens each window between a read and the write that depends on it, so
another thread's instructions land inside it. `test_preempt.py` checks on every interpreter that
the harness still turns an unlocked `+=` into lost updates, so the suite cannot pass vacuously
because the harness stopped working.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import threading
import time
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Literal

Granularity = Literal["instruction", "line"]

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
BACKEND = os.environ.get("FTPROXY_PREEMPT_BACKEND") or (
    "monitoring" if hasattr(sys, "monitoring") else "settrace"
)


def _make_switch() -> Callable[[], None]:
    if FREE_THREADED and hasattr(os, "sched_yield"):
        return os.sched_yield  # no GIL to hand over: give the core to another runnable thread
    sleep = time.sleep
    return lambda: sleep(0)  # releases the GIL; a waiting thread takes it


switch = _make_switch()


def _code_objects(module: types.ModuleType) -> set[types.CodeType]:
    """Every code object defined in the module's file: functions, methods, properties, nested
    functions, lambdas, generators and comprehensions (found through co_consts)."""
    filename = module.__file__
    found: set[types.CodeType] = set()
    seen: set[int] = set()

    def add_code(code: types.CodeType) -> None:
        if code in found or code.co_filename != filename:
            return
        found.add(code)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                add_code(const)

    def visit(obj: object) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        obj = getattr(obj, "__wrapped__", obj)
        if isinstance(obj, staticmethod | classmethod):
            visit(obj.__func__)
        elif isinstance(obj, property):
            for part in (obj.fget, obj.fset, obj.fdel):
                if part is not None:
                    visit(part)
        elif isinstance(obj, types.FunctionType):
            add_code(obj.__code__)
        elif isinstance(obj, type) and obj.__module__ == module.__name__:
            for member in vars(obj).values():
                visit(member)

    for value in list(vars(module).values()):
        visit(value)
    return found


def _files(modules: Iterable[types.ModuleType]) -> dict[str, types.ModuleType]:
    files = {}
    for module in modules:
        if not getattr(module, "__file__", None):
            raise ValueError(f"{module!r} has no source file to preempt")
        files[module.__file__] = module
    return files


@contextmanager
def preempting(
    *modules: types.ModuleType, granularity: Granularity = "instruction", backend: str | None = None
) -> Iterator[None]:
    """Forces a thread switch before every instruction (or line) of `modules` within the block.

    Install it before starting the threads (the settrace backend on 3.11 sees only threads
    started inside the block)."""
    files = _files(modules)
    if (backend or BACKEND) == "monitoring":
        with _monitoring(files, granularity):
            yield
    else:
        with _settrace(files, granularity):
            yield


@contextmanager
def _monitoring(files: dict[str, types.ModuleType], granularity: Granularity) -> Iterator[None]:
    mon = sys.monitoring
    tool = next((t for t in (3, 4, 2, 0) if mon.get_tool(t) is None), None)
    if tool is None:
        raise RuntimeError("no free sys.monitoring tool id for the preemption harness")
    event = mon.events.INSTRUCTION if granularity == "instruction" else mon.events.LINE
    mon.use_tool_id(tool, "ftproxy-preempt")
    codes = set().union(*(_code_objects(m) for m in files.values()))
    try:
        mon.register_callback(tool, event, lambda *_: switch())
        for code in codes:
            mon.set_local_events(tool, code, event)
        yield
    finally:
        for code in codes:
            mon.set_local_events(tool, code, 0)
        mon.register_callback(tool, event, None)
        mon.free_tool_id(tool)


@contextmanager
def _settrace(files: dict[str, types.ModuleType], granularity: Granularity) -> Iterator[None]:
    opcodes = granularity == "instruction"
    wanted = frozenset(files)

    def local(frame: types.FrameType, event: str, arg: object) -> object:
        if event in ("opcode", "line"):
            switch()
        return local

    def tracer(frame: types.FrameType, event: str, arg: object) -> object:
        if frame.f_code.co_filename not in wanted:
            return None
        frame.f_trace_opcodes = opcodes
        frame.f_trace_lines = not opcodes
        return local

    all_threads = getattr(threading, "settrace_all_threads", None)
    previous = sys.gettrace()
    if all_threads is not None:
        all_threads(tracer)
    else:
        threading.settrace(tracer)
        sys.settrace(tracer)
    try:
        yield
    finally:
        if all_threads is not None:
            all_threads(previous)
        else:
            threading.settrace(previous)  # type: ignore[arg-type]
            sys.settrace(previous)
