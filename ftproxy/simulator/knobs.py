"""Per-request behaviour: timing, answer size and injected faults.

Sources, weakest first: the simulator settings, a matching /_sim/faults entry, `x-sim-*`
request headers, and `[[sim:key=value,...]]` directives in the text of the final message when
that message is the user's. The proxy does not forward `x-sim-*` headers, so directives are
the way to steer the simulator through it (docs/simulator.md lists them for users). The
request's own `tool_choice` is obeyed as a real model would (`tool_choice.py`): none → no tool
call even with a directive, a forced tool → a call even without one. Directives are read from
the final message only: after a tool call the client sends a tool result, which carries no
directive, so an agent loop driven by `[[sim:tool=...]]` ends with a text answer instead of
calling the tool forever.

Keys (aliases in parentheses):
    status=N            answer with this HTTP status in the family's error shape (401: AI Core's)
    retry_after=S       Retry-After header on that error
    body=<text>         error body verbatim (must be the last key; may hold commas), e.g. body={};
                        with status=200 the answer's body verbatim, whatever was asked (a wrong
                        shape: [[sim:status=200,body={"id": "x"}]]; a stream: body=data: {...})
    tokens=N            (response_tokens) words in the answer
    latency_ms=MS       (latency) delay before the response's first byte
    ttft_ms=MS          (ttft) extra delay before a stream's first content chunk
    tps=N               (tokens_per_second) pace of stream chunks; 0 = as fast as possible
    cut_after=N         stream N content chunks, then drop the connection mid-body
    cut=clean           with cut_after: end the body normally, just without the closing events
    stall_after=N       stream N content chunks, then send nothing until the client leaves
    tool=NAME           call that tool (tool=* or tool=1: the first declared tool)
    args=<json object>  with tool: the call's arguments (must be the last key; may hold commas),
                        e.g. [[sim:tool=Read,args={"file_path": "/tmp/x/notes.txt"}]]
    malformed=1         invalid JSON reply, or one garbage line/frame in a stream
    nan=1               (OpenAI chat) NaN literals in the answer's usage and in each stream chunk
    literal=1           (python_literal) Converse stream lines as Python dict literals
    filter=input|output (Orchestration Service) the content filter blocks the prompt (a 400 with
                        the filter's module results) or the answer (finish_reason content_filter)
Headers: x-sim-latency-ms, x-sim-ttft-ms, x-sim-tokens-per-second, x-sim-response-tokens, and
`x-sim: key=value,...` with any of the keys above.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ftproxy._json import dumps, loads
from ftproxy.simulator.settings import SimulatorSettings

_DIRECTIVE = re.compile(r"\[\[sim:(.*?)\]\]", re.DOTALL)

# Accepted spellings -> canonical key.
_ALIASES = {
    "status": "status",
    "retry_after": "retry_after",
    "body": "body",
    "tokens": "tokens",
    "response_tokens": "tokens",
    "latency_ms": "latency_ms",
    "latency": "latency_ms",
    "ttft_ms": "ttft_ms",
    "ttft": "ttft_ms",
    "tps": "tps",
    "tokens_per_second": "tps",
    "cut_after": "cut_after",
    "cut": "cut",
    "stall_after": "stall_after",
    "tool": "tool",
    "args": "args",
    "malformed": "malformed",
    "nan": "nan",
    "python_literal": "python_literal",
    "literal": "python_literal",
    "filter": "filter",
}

_HEADERS = {
    "x-sim-latency-ms": "latency_ms",
    "x-sim-ttft-ms": "ttft_ms",
    "x-sim-tokens-per-second": "tps",
    "x-sim-response-tokens": "tokens",
}


class DirectiveError(ValueError):
    """A directive the simulator does not understand; answered with 400 so typos are loud."""


@dataclass(slots=True)
class Knobs:
    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    tps: float = 0.0
    tokens: int = 16
    status: int | None = None
    retry_after: str | None = None
    # Raw JSON text of an error body to send instead of the family's usual error shape.
    body: str | None = None
    cut_after: int | None = None
    # "abrupt": drop the connection mid-body (client sees an incomplete body);
    # "clean": end the body normally, just without the closing events.
    cut: str = "abrupt"
    stall_after: int | None = None
    tool: str | None = None
    # The tool call's arguments (a JSON object); None: generated from the tool's schema.
    args: dict[str, Any] | None = None
    malformed: bool = False
    # NaN where an answer has numbers (not JSON; what a misbehaving upstream may send).
    nan: bool = False
    # Converse stream lines as Python dict literals (settings.python_literal_lines per request).
    python_literal: bool = False
    # Orchestration: which content filter blocks the call ("input" or "output"), if any.
    filter: str | None = None

    @classmethod
    def from_settings(cls, s: SimulatorSettings) -> Knobs:
        return cls(
            latency_ms=s.latency_ms,
            ttft_ms=s.ttft_ms,
            tps=s.tokens_per_second,
            tokens=s.response_tokens,
            python_literal=s.python_literal_lines,
        )

    def apply(self, values: Mapping[str, object]) -> None:
        """Set canonical keys from strings (directives, headers) or JSON values (faults)."""
        for raw_key, value in values.items():
            key = _ALIASES.get(raw_key)
            if key is None:
                raise DirectiveError(f"unknown simulator directive {raw_key!r}")
            try:
                self._set(key, value)
            except (TypeError, ValueError) as exc:
                raise DirectiveError(f"bad value for simulator directive {raw_key!r}: {value!r}") from exc

    def _set(self, key: str, value: object) -> None:
        if key in ("latency_ms", "ttft_ms", "tps"):
            number = float(value)  # type: ignore[arg-type]
            if number < 0:
                raise ValueError("negative")
            setattr(self, key, number)
        elif key in ("tokens", "status", "cut_after", "stall_after"):
            number = int(value)  # type: ignore[call-overload]
            if number < 0 or (key == "status" and not 100 <= number <= 599):
                raise ValueError("out of range")
            setattr(self, key, number)
        elif key in ("malformed", "nan", "python_literal"):
            setattr(self, key, str(value).lower() not in ("0", "false", "no", ""))
        elif key == "filter":
            if value not in ("input", "output"):
                raise ValueError("filter is input or output")
            self.filter = str(value)
        elif key == "cut":
            if value not in ("abrupt", "clean"):
                raise ValueError("cut is abrupt or clean")
            self.cut = str(value)
        elif key == "body":
            self.body = value if isinstance(value, str) else _json_text(value)
        elif key == "args":
            args = loads(value) if isinstance(value, str) else value
            if not isinstance(args, dict):
                raise ValueError("args must be a JSON object")
            self.args = args
        else:  # retry_after, tool
            setattr(self, key, None if value is None else str(value))

    def apply_headers(self, get: object) -> None:
        """`get` is the request headers' `get(name)`; only present headers count."""
        found = {}
        for header, key in _HEADERS.items():
            value = get(header)  # type: ignore[operator]
            if value is not None:
                found[key] = value
        generic = get("x-sim")  # type: ignore[operator]
        if generic:
            found.update(parse_pairs(generic))
        if found:
            self.apply(found)

    def apply_text(self, text: str | None) -> None:
        if text and "[[sim:" in text:
            for match in _DIRECTIVE.finditer(text):
                self.apply(parse_pairs(match.group(1)))


def parse_pairs(spec: str) -> dict[str, str]:
    """`key=value,key=value`; `body=` takes the rest of the text so it may hold commas."""
    out: dict[str, str] = {}
    rest = spec.strip()
    while rest:
        key, sep, rest = rest.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise DirectiveError(f"simulator directive needs key=value, got {spec!r}")
        if key in ("body", "args"):
            out[key] = rest.strip()
            break
        value, _, rest = rest.partition(",")
        out[key] = value.strip()
        rest = rest.strip()
    return out


def _json_text(value: object) -> str:
    return dumps(value).decode()


__all__ = ["DirectiveError", "Knobs", "parse_pairs"]
