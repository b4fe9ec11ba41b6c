"""Facts about the running interpreter that decide how ftproxy serves.

Every decision that differs between a free-threaded build and a GIL build reads a
`RuntimeFacts`; tests inject their own facts instead of needing a python3.14t.
"""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimeFacts:
    version: str
    implementation: str
    free_threaded_build: bool
    # Live state; interpreters before 3.13 cannot turn the GIL off, so they report True.
    gil_enabled: bool
    executable: str

    @property
    def gil_disabled(self) -> bool:
        return self.free_threaded_build and not self.gil_enabled

    def describe(self) -> str:
        build = "free-threaded build" if self.free_threaded_build else "GIL build"
        gil = "GIL enabled" if self.gil_enabled else "GIL disabled"
        return f"{self.implementation} {self.version} ({build}, {gil}) at {self.executable}"


def is_free_threaded_build() -> bool:
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def is_gil_enabled() -> bool:
    """The live GIL state; an import of a GIL-only extension can switch it on at any time."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def current() -> RuntimeFacts:
    return RuntimeFacts(
        version=platform.python_version(),
        implementation=platform.python_implementation(),
        free_threaded_build=is_free_threaded_build(),
        gil_enabled=is_gil_enabled(),
        executable=os.path.realpath(sys.executable),
    )
