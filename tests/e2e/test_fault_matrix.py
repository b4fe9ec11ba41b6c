"""The fault matrix: every fault the simulator can inject, and what each kind of client sees.

Table-driven: each `Row` is one fault with its expected client-visible outcome, run for every
client API (OpenAI chat, Anthropic Messages, Responses) x every family it applies to (GPT,
Claude on Converse, Claude on Bedrock invoke, Gemini). One row is one test id
(`test_fault[<row id>]`); docs/reliability.md's matrix lists the rows by these ids.

Outcomes:
  ok            200 and a complete answer (JSON, or a stream that ends properly: `[DONE]` /
                `message_stop` / `response.completed`), i.e. the proxy absorbed the fault
  status N      HTTP N before any byte of an answer, in the client's error shape (OpenAI
                `{"error": {...}}` for chat and Responses, Anthropic `{"type": "error", ...}`)
  stream error  a 200 stream that ends with an error in the client's protocol: OpenAI an error
                chunk and no `[DONE]`; Anthropic an `error` event and no `message_stop`;
                Responses `response.failed` and no `response.completed` — never a silently
                truncated success

Faults are injected per request with a count (`/_sim/faults`, `/_sim/token-faults`) or by a
directive in the prompt (`[[sim:...]]`). Rows whose requests wait on a timeout run their
combinations concurrently; the others run one request at a time because counted faults are
consumed in order. Real processes on loopback; no sleeps as synchronisation, no timing asserts.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from processes import free_port, proxy_config, running_proxy

from ftproxy.demo import DEMO_KEY

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": f"Bearer {DEMO_KEY}"}
CLIENTS = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}
FAMILIES = {
    "gpt": "gpt-4.1",
    "claude-converse": "anthropic--claude-4.5-sonnet",
    "claude-invoke": "anthropic--claude-3.5-sonnet",
    "gemini": "gemini-2.5-pro",
}
RETRIES = {"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05, "breaker_failures": 1000}
STREAMING = {"idle_timeout_seconds": 1, "first_token_timeout_seconds": 1, "keepalive_seconds": 0.3}
GARBAGE_TOKEN_BODIES = [
    "<html>Service Unavailable</html>",
    {"token_type": "bearer"},
    {"access_token": ""},
    {"access_token": 42},
    [],
    "null",
]


@dataclass
class Env:
    root: str  # the proxy under test for this row
    sim: httpx.Client  # the simulator's control API
    counter: Iterator[int] = field(default_factory=itertools.count)

    def fault(self, **spec: object) -> None:
        self.sim.post("/_sim/faults", json=spec).raise_for_status()

    def token_fault(self, **spec: object) -> None:
        self.sim.delete("/_sim/token-faults").raise_for_status()
        self.sim.post("/_sim/token-faults", json=spec).raise_for_status()

    def revoke_tokens(self) -> None:
        self.sim.delete("/_sim/tokens").raise_for_status()

    def token_requests(self) -> int:
        return int(self.sim.get("/_sim/stats").json()["token_requests"])


@dataclass(frozen=True)
class Row:
    id: str
    fault: str  # what goes wrong (docs/reliability.md)
    client_sees: str  # the expected outcome, in words (docs/reliability.md)
    expect: str | int  # "ok", "stream error", or an HTTP status
    stream: tuple[bool, ...] = (False, True)
    directive: str = ""  # appended to the user's text
    inject: Callable[[Env, str], None] | None = None  # before each request (env, model)
    setup: Callable[[Env], None] | None = None  # once, before the row's requests
    families: tuple[str, ...] = tuple(FAMILIES)
    proxy: str = "main"  # main | dead_token | dead_deployments
    concurrent: bool = False
    # Counted faults target one deployment: families run side by side, requests of one family in turn.
    per_family: bool = True
    message: str | None = None  # a fragment the error message must contain
    raw_contains: str | None = None  # a fragment the raw answer must contain (e.g. keep-alive comments)
    retry_after: str | None = None  # the Retry-After the client must get
    check: Callable[[Env, int, int], None] | None = None  # (env, token requests before, requests)


def _expect_token_fetches(per_request: bool) -> Callable[[Env, int, int], None]:
    def check(env: Env, before: int, requests: int) -> None:
        fetched = env.token_requests() - before
        assert fetched == (requests if per_request else 1), (fetched, requests)

    return check


ROWS = [
    Row(
        "token_endpoint_down",
        "token endpoint refuses connections (service key `url` on a dead port)",
        "502 `cannot authenticate to SAP AI Core`; `/ready` 503 `not_ready`",
        502,
        proxy="dead_token",
        message="cannot authenticate to SAP AI Core",
    ),
    Row(
        "token_endpoint_5xx",
        "token endpoint answers 503 (after the tokens were revoked)",
        "502 `cannot authenticate to SAP AI Core` (after the proxy's retries)",
        502,
        inject=lambda env, _: (env.revoke_tokens(), env.token_fault(status=503, count=100)),
        per_family=False,
        message="cannot authenticate to SAP AI Core",
    ),
    Row(
        "token_endpoint_garbage",
        "token endpoint answers 200 with no usable `access_token` (HTML, "
        "no token, empty, a number, an array)",
        "502 `cannot authenticate to SAP AI Core … without a usable (an empty) access_token`",
        502,
        inject=lambda env, _: (
            env.revoke_tokens(),
            env.token_fault(
                status=200,
                count=100,
                body=GARBAGE_TOKEN_BODIES[next(env.counter) % len(GARBAGE_TOKEN_BODIES)],
            ),
        ),
        per_family=False,
        message="cannot authenticate to SAP AI Core",
    ),
    Row(
        "token_endpoint_slow",
        "token endpoint takes 1.5 s (tokens revoked; every combination at once)",
        "ok: every request waits for the one token fetch",
        "ok",
        concurrent=True,
        setup=lambda env: (env.revoke_tokens(), env.token_fault(latency_ms=1500, count=1)),
        check=_expect_token_fetches(per_request=False),
    ),
    Row(
        "upstream_401_token_revoked",
        "SAP AI Core answers 401 (the proxy's token was revoked)",
        "ok: the proxy fetches a new token once and repeats the call",
        "ok",
        inject=lambda env, _: env.revoke_tokens(),
        check=_expect_token_fetches(per_request=True),
        per_family=False,
    ),
    Row(
        "upstream_401_persistent",
        "SAP AI Core answers 401 twice (the new token is rejected too)",
        "502 `SAP AI Core rejected the credentials of subaccount …`",
        502,
        inject=lambda env, model: env.fault(deployment=model, status=401, count=2),
        message="rejected the credentials",
    ),
    Row(
        "upstream_429_retried",
        "429 twice with `Retry-After: 0`",
        "ok (retried before the first byte)",
        "ok",
        inject=lambda env, model: env.fault(deployment=model, status=429, count=2, retry_after="0"),
    ),
    Row(
        "upstream_429_storm",
        "429 on every attempt (3 of 3) with `Retry-After: 0`",
        "429 with `Retry-After: 0` in the client's shape (`rate_limit_error`)",
        429,
        retry_after="0",
        inject=lambda env, model: env.fault(deployment=model, status=429, count=3, retry_after="0"),
    ),
    Row(
        "upstream_429_long_retry_after",
        "429 with `Retry-After: 30` (above `max_retry_after_seconds`)",
        "429 at once with `Retry-After: 30`",
        429,
        retry_after="30",
        inject=lambda env, model: env.fault(deployment=model, status=429, count=1, retry_after="30"),
    ),
    Row(
        "upstream_5xx_retried",
        "503 twice, then healthy",
        "ok (retried before the first byte)",
        "ok",
        inject=lambda env, model: env.fault(deployment=model, status=503, count=2),
    ),
    Row(
        "upstream_5xx_persistent",
        "500 on every attempt",
        "500 passed through in the client's shape (`server_error` / `api_error`)",
        500,
        inject=lambda env, model: env.fault(deployment=model, status=500, count=3),
    ),
    Row(
        "upstream_400_empty_body",
        "400 with body `{}`",
        "400 `SAP AI Core answered HTTP 400`, not retried",
        400,
        inject=lambda env, model: env.fault(deployment=model, status=400, count=1, body={}),
        message="SAP AI Core answered HTTP 400",
    ),
    Row(
        "upstream_unreachable",
        "every deployment URL of the model on a dead port (connection refused)",
        "502 `SAP AI Core could not be reached`",
        502,
        proxy="dead_deployments",
        message="could not be reached",
    ),
    Row(
        "upstream_malformed_json",
        "a JSON answer that is not JSON (`malformed=1`)",
        "502 `SAP AI Core answered with a body that is not JSON`",
        502,
        stream=(False,),
        directive="[[sim:malformed=1]]",
    ),
    Row(
        "stream_malformed",
        "a garbage SSE line / a corrupt event-stream frame after the first chunk",
        "stream error `SAP AI Core sent a malformed stream`",
        "stream error",
        stream=(True,),
        directive="[[sim:malformed=1]]",
        concurrent=True,
        message="malformed stream",
    ),
    Row(
        "stream_cut_abrupt",
        "the connection drops after 3 chunks (`cut_after=3`)",
        "stream error `the stream from SAP AI Core broke off`",
        "stream error",
        stream=(True,),
        directive="[[sim:cut_after=3]]",
        concurrent=True,
        message="broke off",
    ),
    Row(
        "stream_cut_clean",
        "the body ends cleanly after 3 chunks, without the closing events",
        "stream error `the upstream stream ended before the answer was complete`",
        "stream error",
        stream=(True,),
        directive="[[sim:cut_after=3,cut=clean]]",
        concurrent=True,
        message="ended before the answer was complete",
    ),
    Row(
        "stream_stall",
        "the stream stalls after 3 chunks (`stall_after=3`; idle timeout 1 s)",
        "stream error `SAP AI Core stopped sending … (idle timeout)` after 1 s",
        "stream error",
        stream=(True,),
        directive="[[sim:stall_after=3]]",
        concurrent=True,
        message="idle timeout",
    ),
    Row(
        "stream_slow_first_token",
        "no first token for 5 s (`ttft_ms=5000`; first-token timeout 1 s)",
        "`: ping` comments, then stream error after 1 s",
        "stream error",
        stream=(True,),
        directive="[[sim:ttft_ms=5000]]",
        raw_contains=": ping",
        concurrent=True,
    ),
]


# --- processes -----------------------------------------------------------------------------------


def _proxy(
    own_simulator: str, folder: Path, rewrite: Callable[[dict, Path], None] | None = None
) -> Iterator[str]:
    config = proxy_config(folder, own_simulator, retries=RETRIES, streaming=STREAMING)
    if rewrite is not None:
        data = json.loads(config.read_text())
        rewrite(data, folder)
        config.write_text(json.dumps(data))
    with running_proxy(config, folder) as (root, _):
        yield root


@pytest.fixture(scope="module")
def main_proxy(own_simulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _proxy(own_simulator, tmp_path_factory.mktemp("faults"))


@pytest.fixture(scope="module")
def dead_token_proxy(own_simulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    def rewrite(data: dict, folder: Path) -> None:
        key_file = folder / "demo-service-key.json"
        key = json.loads(key_file.read_text())
        key["url"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        key_file.write_text(json.dumps(key))

    yield from _proxy(own_simulator, tmp_path_factory.mktemp("dead-token"), rewrite)


@pytest.fixture(scope="module")
def dead_deployments_proxy(own_simulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    dead = f"http://127.0.0.1:{free_port()}"

    def rewrite(data: dict, folder: Path) -> None:
        models = data["subAccounts"]["demo"]["deployment_models"]
        for name, urls in models.items():
            models[name] = [url.replace(own_simulator, dead) for url in urls]

    yield from _proxy(own_simulator, tmp_path_factory.mktemp("dead-deployments"), rewrite)


# --- requests and what the client sees -----------------------------------------------------------


def request_body(client: str, model: str, text: str, stream: bool) -> dict:
    if client == "responses":
        return {"model": model, "input": text, "stream": stream, "max_output_tokens": 64}
    return {
        "model": model,
        "stream": stream,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
    }


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) of each SSE event; comments (`: ping`) are left out."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            events.append((name, "\n".join(data)))
    return events


def assert_error_body(client: str, response: httpx.Response, row: Row) -> None:
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    error = response.json()
    if client == "messages":
        assert error["type"] == "error" and set(error["error"]) == {"type", "message"}, error
        message = error["error"]["message"]
        if response.status_code == 429:
            assert error["error"]["type"] == "rate_limit_error"
    else:
        assert set(error) == {"error"} and set(error["error"]) == {"message", "type", "param", "code"}, error
        message = error["error"]["message"]
        if response.status_code == 429:
            assert error["error"]["type"] == "rate_limit_error"
    assert message
    if row.message:
        assert row.message in message, message
    if row.retry_after is not None:
        assert response.headers.get("retry-after") == row.retry_after, response.headers


def assert_complete(client: str, response: httpx.Response, stream: bool) -> None:
    assert response.status_code == 200, response.text[:300]
    if not stream:
        assert "Hello from the simulated" in response.text, response.text[:300]
        return
    events = sse_events(response.text)
    data = [d for _, d in events]
    if client == "chat":
        assert data[-1] == "[DONE]" and data.count("[DONE]") == 1, data[-3:]
        assert not any('"error"' in d for d in data[:-1])
    elif client == "messages":
        names = [n for n, _ in events]
        assert names[-1] == "message_stop" and "error" not in names, names[-3:]
        assert "[DONE]" not in data
    else:
        names = [n for n, _ in events]
        assert names[-1] == "response.completed" and "response.failed" not in names, names[-3:]


def assert_stream_error(client: str, response: httpx.Response, row: Row) -> None:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names, data = [n for n, _ in events], [d for _, d in events]
    if client == "chat":
        assert "[DONE]" not in data, data[-3:]  # no [DONE] after an error: SDKs would call it a success
        last = json.loads(data[-1])
        assert set(last) == {"error"} and last["error"]["message"], last
        message = last["error"]["message"]
        assert not any(
            json.loads(d).get("choices", [{}])[0:1] and json.loads(d)["choices"][0].get("finish_reason")
            for d in data[:-1]
        ), "finish before error"
    elif client == "messages":
        assert names[-1] == "error" and "message_stop" not in names, names[-4:]
        assert "[DONE]" not in data
        last = json.loads(data[-1])
        assert last["type"] == "error" and last["error"]["message"], last
        message = last["error"]["message"]
    else:
        assert names[-1] == "response.failed" and "response.completed" not in names, names[-4:]
        last = json.loads(data[-1])
        assert last["response"]["status"] == "failed", last
        message = last["response"]["error"]["message"]
    if row.message:
        assert row.message in message, message
    if row.raw_contains:
        assert row.raw_contains in response.text, response.text[:300]


def run_one(env: Env, row: Row, client: str, family: str, stream: bool) -> None:
    model = FAMILIES[family]
    if row.inject is not None:
        row.inject(env, model)
    text = f"Hi {row.directive}".strip()
    path = CLIENTS[client]
    with httpx.Client(base_url=env.root, headers=AUTH, timeout=30) as http:
        response = http.post(path, json=request_body(client, model, text, stream))
    where = f"{row.id}: {client} → {family} stream={stream}"
    try:
        if row.expect == "ok":
            assert_complete(client, response, stream)
        elif row.expect == "stream error":
            assert_stream_error(client, response, row)
        else:
            assert response.status_code == row.expect, response.text[:300]
            assert_error_body(client, response, row)
    except AssertionError as exc:
        raise AssertionError(f"{where}: {exc}") from None


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_fault(row: Row, own_simulator: str, request: pytest.FixtureRequest) -> None:
    root = request.getfixturevalue(f"{row.proxy}_proxy")
    env = Env(root=root, sim=httpx.Client(base_url=own_simulator))
    combos = [(c, f, s) for c in CLIENTS for f in row.families for s in row.stream]
    try:
        before = env.token_requests()
        if row.setup is not None:
            row.setup(env)
        if row.concurrent:
            with ThreadPoolExecutor(max_workers=len(combos)) as pool:
                for future in [pool.submit(run_one, env, row, *combo) for combo in combos]:
                    future.result()
        elif row.per_family:
            by_family = [[c for c in combos if c[1] == family] for family in row.families]
            with ThreadPoolExecutor(max_workers=len(by_family)) as pool:
                for future in [
                    pool.submit(lambda cs: [run_one(env, row, *c) for c in cs], cs) for cs in by_family
                ]:
                    future.result()
        else:
            for combo in combos:
                run_one(env, row, *combo)
        if row.check is not None:
            row.check(env, before, len(combos))
        if row.proxy == "dead_token":
            ready = httpx.get(root + "/ready")
            assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
    finally:
        env.sim.delete("/_sim/faults")  # faults and token faults
        env.sim.close()
    # The proxy is healthy afterwards and serves the next request normally.
    if row.proxy == "main":
        with httpx.Client(base_url=root, headers=AUTH, timeout=30) as http:
            answer = http.post(CLIENTS["chat"], json=request_body("chat", FAMILIES["gpt"], "Hi", True))
        assert_complete("chat", answer, True)


@pytest.fixture(scope="module")
def patient_proxy(own_simulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("patient")
    streaming = {"idle_timeout_seconds": 1, "first_token_timeout_seconds": 20, "keepalive_seconds": 0.3}
    config = proxy_config(folder, own_simulator, retries=RETRIES, streaming=streaming)
    with running_proxy(config, folder) as (root, _):
        yield root


def test_a_slow_first_token_waits_for_the_first_token_timeout_not_the_idle_timeout(
    patient_proxy: str, own_simulator: str
) -> None:
    """First token after 2.5 s; idle timeout 1 s, first-token timeout 20 s: a complete answer."""
    env = Env(root=patient_proxy, sim=httpx.Client(base_url=own_simulator))

    def one(client: str, family: str) -> str | None:
        with httpx.Client(base_url=patient_proxy, headers=AUTH, timeout=30) as http:
            body = request_body(client, FAMILIES[family], "Hi [[sim:ttft_ms=2500]]", True)
            response = http.post(CLIENTS[client], json=body)
        try:
            assert_complete(client, response, True)
        except AssertionError:
            return f"{client} → {family}"
        return None

    combos = [(c, f) for c in CLIENTS for f in FAMILIES]
    with ThreadPoolExecutor(max_workers=len(combos)) as pool:
        failed = [r for r in pool.map(lambda combo: one(*combo), combos) if r]
    env.sim.close()
    assert not failed, f"cut at the idle timeout: {failed}"
