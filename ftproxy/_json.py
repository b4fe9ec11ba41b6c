"""JSON encoding and decoding for the hot path.

orjson is used when it is installed *and* the interpreter is a GIL build: on a free-threaded
build importing orjson (which declares it needs the GIL) would silently re-enable the GIL for
the whole process, and Granian's free-threaded build then refuses to serve (SPEC §2).
The stdlib fallback produces the same compact output, and its `loads` refuses what orjson refuses
(NaN/Infinity, floats past the double range, lone surrogates), so an upstream answer holding them
is invalid (a 502 or a stream error) with either backend, never re-encoded as `NaN` for a client.

`parse_request` is the one parser of client bodies. Whatever the backend, a body whose text is
not valid Unicode (a lone UTF-16 surrogate, escaped as "\\ud800" or raw as the bytes ED A0 80)
or that holds a number that is not finite (NaN, Infinity, 1e400) is refused with `UnsafeValue`,
naming the field: such values cannot be re-encoded for SAP AI Core or for the error reply
itself. A body the backend refused is re-parsed with the plain stdlib parser (which accepts
all of these) to name the field, but only when a C-level regex scan of the raw bytes finds a
candidate (a surrogate escape or raw surrogate bytes, NaN/Infinity, a 3-digit exponent or a
309-digit run); the stdlib backend accepts lone surrogates, so its result is walked when its own
scan finds one. Normal bodies pay one scan and no walk. Surrogate *pairs* (emoji escaped by
`ensure_ascii` encoders) are one code point once parsed and pass.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from ftproxy.runtime import is_free_threaded_build

JSONDecodeError: type[ValueError] = json.JSONDecodeError

_stdlib_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_ascii_encoder = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


def _stdlib_dumps(obj: Any) -> bytes:
    return _stdlib_encoder.encode(obj).encode()


def _stdlib_loads(data: bytes | str) -> Any:
    """json.loads refusing what orjson refuses (NaN/Infinity, numbers past the double range, lone
    surrogates) with a `ValueError`, so an upstream's non-finite number is an invalid answer
    (502) with either backend instead of a `NaN` relayed to strict clients. The decoder's hooks
    stop at NaN/Infinity and at a float that overflows (called for float literals only); the
    parsed value is walked for lone surrogates only when a scan for a surrogate escape finds
    one, so normal answers pay one short scan."""
    if isinstance(data, bytes):  # what json.loads does for UTF-8, without its per-call decoder
        value = _strict_decoder.decode(data.decode("utf-8", "surrogatepass"))
        suspect = _SURROGATE_BYTES.search(data)
    else:
        value = _strict_decoder.decode(data)
        suspect = "\\u" in data and _SURROGATE_ESCAPE.search(data)  # decoded text has no raw ones
    if suspect:
        check_values(value)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (JSON numbers must be finite)")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if value - value != 0.0:  # inf - inf is nan
        raise ValueError(f"{literal[:40]} is out of the double range (JSON numbers must be finite)")
    return value


# One decoder: json.loads with any keyword builds a new one per call (5x the parse itself).
_strict_decoder = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _load_backend() -> tuple[str, Callable[[Any], bytes], Callable[[bytes | str], Any]]:
    if not is_free_threaded_build():
        try:
            import orjson
        except ImportError:
            pass
        else:
            return "orjson", orjson.dumps, orjson.loads
    return "json", _stdlib_dumps, _stdlib_loads


BACKEND, dumps, loads = _load_backend()
"""`dumps(obj) -> bytes` (compact, UTF-8) and `loads(bytes | str) -> object`.

Both raise `ValueError` subclasses on bad input (orjson.JSONDecodeError is one).
"""


def dumps_ascii(obj: Any) -> bytes:
    """Compact JSON that cannot fail on text: lone surrogates become \\udXXX escapes (valid JSON).
    For replies that must go out whatever they carry (error bodies)."""
    return _ascii_encoder.encode(obj).encode("ascii")


class UnsafeValue(ValueError):
    """A parsed body holds a value that cannot be passed on; `path` names the field."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


# Anything that may parse into a lone surrogate or a non-finite float. Case-insensitive \u escapes
# of D800-DFFF; raw surrogate bytes ED A0-BF xx (not UTF-8: orjson refuses them, the stdlib parser
# decodes bytes with "surrogatepass" and accepts them); NaN/Infinity literals (stdlib only);
# exponents of 3+ digits (1e308 overflows from 1.8e308); 309+ digit runs (a mantissa that big
# overflows without an exponent).
_SUSPECT = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]|NaN|Infinity|[0-9.][eE][+-]?[0-9]{3}|[0-9]{309}")


def parse_request(raw: bytes) -> Any:
    """Parses a client body; raises `UnsafeValue` (see the module doc) or `ValueError`."""
    try:
        return loads(raw)
    except UnsafeValue:
        raise  # the stdlib backend named the field already
    except ValueError as refused:
        if not _SUSPECT.search(raw):
            raise
        try:  # refused: the plain stdlib parser may accept it and tell which field it was
            lenient = json.loads(raw)
        except (ValueError, RecursionError):
            raise refused from None
        check_values(lenient)
        raise


def check_values(data: Any) -> None:
    """Raises `UnsafeValue` for the first lone surrogate (in a key or string) or non-finite
    number, depth first; iterative, so any depth the parser accepted is walked."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if not _valid_text(value):
                raise UnsafeValue(path or "(body)", _SURROGATE)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise UnsafeValue(path or "(body)", _NON_FINITE)
        elif isinstance(value, dict):
            items = []
            for key, item in value.items():
                name = f"{path}.{_printable(key)}" if path else _printable(key)
                if not _valid_text(key):
                    raise UnsafeValue(name, _SURROGATE)
                items.append((name, item))
            stack.extend(reversed(items))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in reversed(list(enumerate(value))))


_SURROGATE = (
    "contains a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), which is not valid "
    "Unicode; send valid text (escape characters outside the BMP as a surrogate pair)"
)
_NON_FINITE = "is not a finite number (NaN, Infinity or out of the double range); JSON numbers must be finite"


def _valid_text(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")  # C speed; refuses exactly the lone surrogates
    except UnicodeEncodeError:
        return False
    return True


def _printable(key: str) -> str:
    return key.encode("utf-8", "backslashreplace").decode("utf-8")[:200]


__all__ = [
    "BACKEND",
    "JSONDecodeError",
    "UnsafeValue",
    "check_values",
    "dumps",
    "dumps_ascii",
    "loads",
    "parse_request",
]
