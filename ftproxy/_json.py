"""JSON encoding and decoding for the hot path.

orjson is used when it is installed *and* the interpreter is a GIL build: on a free-threaded
build importing orjson (which declares it needs the GIL) would silently re-enable the GIL for
the whole process, and Granian's free-threaded build then refuses to serve (SPEC §2).
The stdlib fallback produces the same compact output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ftproxy.runtime import is_free_threaded_build

JSONDecodeError: type[ValueError] = json.JSONDecodeError

_stdlib_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _stdlib_dumps(obj: Any) -> bytes:
    return _stdlib_encoder.encode(obj).encode()


def _load_backend() -> tuple[str, Callable[[Any], bytes], Callable[[bytes | str], Any]]:
    if not is_free_threaded_build():
        try:
            import orjson
        except ImportError:
            pass
        else:
            return "orjson", orjson.dumps, orjson.loads
    return "json", _stdlib_dumps, json.loads


BACKEND, dumps, loads = _load_backend()
"""`dumps(obj) -> bytes` (compact, UTF-8) and `loads(bytes | str) -> object`.

Both raise `ValueError` subclasses on bad input (orjson.JSONDecodeError is one).
"""

__all__ = ["BACKEND", "JSONDecodeError", "dumps", "loads"]
