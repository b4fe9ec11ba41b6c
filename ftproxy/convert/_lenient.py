"""Lenient readers for upstream answers: a field of the wrong type reads as absent.

Upstream answers are trusted for shape but not for every field's type; a usage count that is a
string, or a sub-object that is a list, must not crash a translator (SPEC: never a 500 from our
own code). Client bodies are read strictly instead (`canonical.want_*`), with a 400.
"""

from __future__ import annotations

from typing import Any


def as_int(value: Any) -> int:
    """An int field, or 0 (bools are not counts)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def as_obj(value: Any) -> dict[str, Any]:
    """An object field, or an empty dict."""
    return value if isinstance(value, dict) else {}


def as_str(value: Any) -> str | None:
    """A string field, or None."""
    return value if isinstance(value, str) else None
