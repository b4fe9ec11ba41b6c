"""Wheels: does each third-party candidate publish a cp314t wheel, and what does it declare?"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.http_clients.candidates import BY_NAME
from bench.http_clients.orchestrator import last_line


def wheel_check(names: list[str], log: Callable[[str], None]) -> dict[str, Any]:
    """`pip download` the cp314t wheel of each compiled candidate and look inside.

    A free-threaded CPython keeps the GIL off only if every extension module declares
    `Py_mod_gil_not_used` (a `Py_mod_gil` slot, or `PyUnstable_Module_SetGIL()` for single-phase
    init). The slot is data and cannot be read without a free-threaded interpreter, so this
    reports the wheel tag and whether the binary calls `PyUnstable_Module_SetGIL` (what
    single-phase modules such as pycurl and PyO3 modules use); the verdict that counts is
    `gil_enabled_after_import` from a run on a real 3.14t.
    """
    out: dict[str, Any] = {}
    for name in names:
        dist = BY_NAME[name].dist
        if dist is None:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
            argv += ["--python-version", "3.14", "--abi", "cp314t", "--platform", "manylinux_2_28_x86_64"]
            argv += ["--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64"]
            argv += [dist, "-d", tmp]
            log(f"wheel check: {dist}")
            done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
            wheels = sorted(p.name for p in Path(tmp).glob("*.whl"))
            entry: dict[str, Any] = {"dist": dist, "wheel": wheels[0] if wheels else None}
            if not wheels:
                entry["error"] = last_line(done.stderr)
            else:
                entry.update(_inspect_wheel(Path(tmp) / wheels[0]))
            out[name] = entry
    return out


def _inspect_wheel(wheel: Path) -> dict[str, Any]:
    import zipfile

    tag = wheel.name.rsplit("-", 3)[-2:]
    facts: dict[str, Any] = {"abi": tag[0], "pure_python": tag[0] == "none", "extensions": {}}
    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as tmp:
        for member in archive.namelist():
            if member.endswith(".so") and ".libs/" not in member:
                archive.extract(member, tmp)
                facts["extensions"][member] = gil_declaration(Path(tmp) / member)
    return facts


def gil_declaration(so: Path) -> str:
    """What a free-threaded extension binary declares about the GIL, read without loading it.

    Single-phase init (C modules such as pycurl, psutil) declares with a call
    `PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED)`: the disassembly shows the call and
    the constant 1 loaded as its second argument. Multi-phase init (PyO3 0.2x modules such as
    pyreqwest, httpr, granian) declares with a slot array `[{Py_mod_exec, fn}, {Py_mod_gil,
    value}, {0, NULL}]` in the data segment: slot id 4, value 1 (not used) or 0 (used). A
    heuristic; the verdict that counts is `sys._is_gil_enabled()` after import on a real 3.14t.
    """
    lines = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(so)], capture_output=True, text=True
    ).stdout.splitlines()
    for index, line in enumerate(lines):
        if "call" in line and "<PyUnstable_Module_SetGIL@plt>" in line:
            before = " ".join(lines[max(0, index - 4) : index])
            if "$0x1,%esi" in before:
                return "not used: PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED) at init"
            return "PyUnstable_Module_SetGIL called; argument not recognised"
    data = so.read_bytes()
    found = {0: 0, 1: 0}
    for value in found:
        pattern = b"\x04" + b"\0" * 7 + bytes([value]) + b"\0" * 7 + b"\0" * 16
        at = data.find(pattern)
        while at >= 0:
            previous_is_exec = at >= 16 and data[at - 16] == 2 and data[at - 15 : at - 8] == b"\0" * 7
            if at % 8 == 0 and previous_is_exec:
                found[value] += 1
            at = data.find(pattern, at + 1)
    if found[1] and not found[0]:
        return f"not used: {found[1]} module slot array(s) with Py_mod_gil = Py_MOD_GIL_NOT_USED"
    if found[0]:
        return f"USED: {found[0]} module slot array(s) with Py_mod_gil = Py_MOD_GIL_USED"
    return "no declaration found by this static check (the GIL would come back on import)"
