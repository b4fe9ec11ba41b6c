"""Values no client API allows, in any field of any endpoint, with either JSON backend.

A lone UTF-16 surrogate escape ("\\ud800") or a non-finite number (NaN, Infinity, 1e400) placed
anywhere in an otherwise valid body, keys included, gets a 400 in the route's error shape that
names the field; the exchange is finished (in-flight gauge back to zero, concurrency slot given
back, one access-log line) whatever happens. orjson refuses both at parse time; the stdlib parser
(free-threaded builds) accepts both, so the same properties run with it swapped in. Surrogate
*pairs* (emoji escaped by ensure_ascii encoders) keep working.

The app runs in process with the demo configuration pointing at a dead loopback port, so a body
that passes parsing gets a quick 502/503, never a network wait.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsgi_call import gateway_on_dead_upstream, post

from ftproxy.observe import metrics
from ftproxy.observe.logs import ACCESS_LOG
from ftproxy.web.app import Gateway

SLOTS = 3
BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {
        "model": "gpt-4.1",
        "temperature": 0.5,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        ],
        "metadata": {"team": "a"},
    },
    "/v1/responses": {"model": "gpt-4.1", "input": [{"type": "message", "role": "user", "content": "hi"}]},
    "/v1/messages": {
        "model": "anthropic--claude-4.5-sonnet",
        "max_tokens": 5,
        "top_p": 0.9,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    },
    "/v1/messages/count_tokens": {
        "model": "anthropic--claude-4.5-sonnet",
        "messages": [{"role": "user", "content": "hi"}],
    },
    "/v1/embeddings": {"model": "text-embedding-3-small", "input": ["hi", "there"]},
}
SURROGATES = ["\ud800", "x\ud800", "\udc00", "hi \udfff there", "\ud83d\ud83d"]
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" * 400 + ".0"]
PLACEHOLDER = "\x00hostile\x00"


class Lines:
    """Counts the access-log lines written (ftproxy.observe.logs.ACCESS_LOG), keeping the last one."""

    def __init__(self) -> None:
        self.count = 0
        self.last: dict[str, Any] = {}

    def write(self, fields: dict[str, Any]) -> None:
        self.count += 1
        self.last = fields


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    limits = {"max_concurrent_requests": SLOTS}
    with gateway_on_dead_upstream(tmp_path_factory.mktemp("values"), limits=limits) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def access_lines() -> Iterator[Lines]:
    lines = Lines()
    saved = ACCESS_LOG.enabled
    ACCESS_LOG.enabled, ACCESS_LOG.write = True, lines.write  # type: ignore[method-assign]
    yield lines
    del ACCESS_LOG.write
    ACCESS_LOG.enabled = saved


def call(app: Gateway, path: str, body: bytes) -> tuple[int, bytes]:
    status, _, data = post(app, path, body)
    return status, data


def fields(value: Any, path: str = "") -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Every value position (display path, access path) in a body; keys are ("key", dict path)."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            yield here, (key,)
            for inner, steps in fields(item, here):
                yield inner, (key, *steps)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            here = f"{path}[{i}]"
            yield here, (i,)
            for inner, steps in fields(item, here):
                yield inner, (i, *steps)


POSITIONS = [(route, shown, steps) for route, body in BODIES.items() for shown, steps in fields(body)]


def with_value(route: str, steps: tuple[Any, ...], value: Any) -> Any:
    body = json.loads(json.dumps(BODIES[route]))
    target = body
    for step in steps[:-1]:
        target = target[step]
    target[steps[-1]] = value
    return body


def in_flight(route: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "ftproxy_requests_in_flight", {"endpoint": metrics.endpoint_label(route)}
    )
    return value or 0.0


def assert_refused_naming(route: str, status: int, data: bytes, field: str) -> None:
    assert status == 400, (route, field, status, data[:300])
    error = json.loads(data)
    if route.startswith("/v1/messages"):
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error", error
        message = error["error"]["message"]
    else:
        assert error["error"]["type"] == "invalid_request_error" and error["error"]["param"] == field, error
        message = error["error"]["message"]
    assert f"'{field}'" in message, (field, message)


def assert_finished(app: Gateway, route: str, lines: Lines, before: int) -> None:
    assert in_flight(route) == 0
    assert lines.count == before + 1 and lines.last["status"] == 400 and lines.last["error"] == "bad_request"
    assert app.concurrency._semaphore is not None and app.concurrency._semaphore._value == SLOTS


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(position=st.sampled_from(POSITIONS), text=st.sampled_from(SURROGATES))
def test_a_lone_surrogate_in_any_field_is_a_400_naming_it(
    app: Gateway,
    json_backend: str,
    access_lines: Lines,
    position: tuple[str, str, tuple[Any, ...]],
    text: str,
) -> None:
    route, shown, steps = position
    raw = json.dumps(with_value(route, steps, text)).encode()  # ensure_ascii: "\ud800" escapes
    before = access_lines.count
    status, data = call(app, route, raw)
    assert_refused_naming(route, status, data, shown)
    assert_finished(app, route, access_lines, before)


@SETTINGS
@given(position=st.sampled_from(POSITIONS), number=st.sampled_from(NON_FINITE))
def test_a_non_finite_number_in_any_field_is_a_400_naming_it(
    app: Gateway,
    json_backend: str,
    access_lines: Lines,
    position: tuple[str, str, tuple[Any, ...]],
    number: str,
) -> None:
    route, shown, steps = position
    raw = json.dumps(with_value(route, steps, PLACEHOLDER)).replace(json.dumps(PLACEHOLDER), number).encode()
    before = access_lines.count
    status, data = call(app, route, raw)
    assert_refused_naming(route, status, data, shown)
    assert_finished(app, route, access_lines, before)


@pytest.mark.parametrize("route", list(BODIES))
def test_a_lone_surrogate_in_a_key_is_named_escaped(app: Gateway, json_backend: str, route: str) -> None:
    raw = json.dumps({**BODIES[route], "x\ud800": 1}).encode()
    status, data = call(app, route, raw)
    assert_refused_naming(route, status, data, "x\\ud800")


@pytest.mark.parametrize("route", list(BODIES))
def test_escaped_surrogate_pairs_and_words_like_nan_pass(app: Gateway, json_backend: str, route: str) -> None:
    body = json.loads(json.dumps(BODIES[route]))
    body["user"] = "😀 NaN Infinity 1e400 \\ud800"  # an emoji, and the words as text
    raw = json.dumps(body).encode()
    assert b"\\ud83d\\ude00" in raw
    status, data = call(app, route, raw)
    assert status != 400 or (b"surrogate" not in data and b"finite" not in data), data
    assert status != 500, data


def test_slots_are_released_after_many_refusals(app: Gateway, json_backend: str) -> None:
    raw = json.dumps({"model": "x\ud800", "messages": [{"role": "user", "content": "hi"}]}).encode()
    for _ in range(SLOTS * 3):
        assert call(app, "/v1/chat/completions", raw)[0] == 400
    status, _ = call(app, "/v1/chat/completions", json.dumps(BODIES["/v1/chat/completions"]).encode())
    assert status in (502, 503) and app.concurrency._semaphore._value == SLOTS  # type: ignore[union-attr]
    assert in_flight("/v1/chat/completions") == 0


@SETTINGS
@given(position=st.sampled_from(POSITIONS), text=st.sampled_from(SURROGATES))
def test_raw_surrogate_bytes_in_any_field_are_a_400_naming_it(
    app: Gateway,
    json_backend: str,
    access_lines: Lines,
    position: tuple[str, str, tuple[Any, ...]],
    text: str,
) -> None:
    """The same, unescaped: the surrogate's UTF-8-style bytes (ED A0 80) in the body. Not UTF-8, so
    orjson refuses them; the stdlib parser decodes bytes with `surrogatepass` and accepts them
    (found by issue 21 as 500s in count_tokens, responses and messages → GPT)."""
    route, shown, steps = position
    raw = json.dumps(with_value(route, steps, text), ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert b"\xed" in raw
    before = access_lines.count
    status, data = call(app, route, raw)
    assert_refused_naming(route, status, data, shown)
    assert_finished(app, route, access_lines, before)


BAD_SCHEMAS: list[tuple[dict[str, Any], str]] = [
    ({"type": "object", "properties": True}, ".properties"),
    ({"type": "object", "properties": 0}, ".properties"),
    ({"type": "object", "properties": None}, ".properties"),
    ({"type": "object", "properties": {"x": {"type": "string"}}, "required": [{}]}, ".required"),
    ({"type": "object", "properties": {"x": {"type": "string"}}, "required": [["x"]]}, ".required"),
    (
        {"type": "object", "properties": {"x": {"type": "object", "properties": 1}}},
        ".properties.x.properties",
    ),
]


def tool_body(route: str, model: str, schema: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A body for `route` with one tool of this schema, and the schema's param name there."""
    if route == "/v1/chat/completions":
        tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
        return {"model": model, "messages": [{"role": "user", "content": "hi"}], "tools": [tool]}, (
            "tools[0].function.parameters"
        )
    if route == "/v1/responses":
        tool = {"type": "function", "name": "f", "parameters": schema}
        return {"model": model, "input": "hi", "tools": [tool]}, "tools[0].parameters"
    body = {"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    return {**body, "tools": [{"name": "f", "input_schema": schema}]}, "tools[0].input_schema"


@pytest.mark.parametrize(("schema", "suffix"), BAD_SCHEMAS)
@pytest.mark.parametrize("model", ["gemini-2.5-pro", "anthropic--claude-4.5-sonnet", "gpt-4.1"])
@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
def test_a_tool_schema_of_the_wrong_type_is_a_400_naming_it(
    app: Gateway, json_backend: str, route: str, model: str, schema: dict[str, Any], suffix: str
) -> None:
    """Found by issue 21 as 500s (TypeError in convert/gemini.py) on every route to Gemini."""
    body, param = tool_body(route, model, schema)
    status, data = call(app, route, json.dumps(body).encode())
    assert_refused_naming(route, status, data, param + suffix)
