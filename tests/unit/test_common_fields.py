"""Malformed common fields get the same 400 on every family and every client API (issue 21, items
3 and 15): a wrong type, a huge integer (400 digits: exact for Python, an OverflowError for
math.isfinite), an empty `messages`, an unknown role. The GPT passthrough checks them as the
converted pairs do, in OpenAI's wording, before any upstream call: the app's upstream is a dead
loopback port, so a body that passed the checks would get a 502/503, not a 400.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from wsgi_call import gateway_on_dead_upstream, post

from ftproxy.web.app import Gateway

HUGE = 10**400
FAMILIES = ["gpt-4.1", "anthropic--claude-4.5-sonnet", "gemini-2.5-pro"]
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
RESPONSES = "/v1/responses"
BASE: dict[str, dict[str, Any]] = {
    CHAT: {"messages": [{"role": "user", "content": "hi"}]},
    MESSAGES: {"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    RESPONSES: {"input": "hi"},
}

# (route, change to the base body, param, words the message must hold)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (CHAT, {"temperature": "hot"}, "temperature",
     "Invalid type for 'temperature': expected a decimal, but got a string instead."),
    (CHAT, {"temperature": HUGE}, "temperature", "Invalid 'temperature': decimal above maximum value."),
    (CHAT, {"top_p": HUGE}, "top_p", "Invalid 'top_p': decimal above maximum value."),
    (CHAT, {"presence_penalty": -HUGE}, "presence_penalty", "decimal below minimum value"),
    (CHAT, {"max_tokens": HUGE}, "max_tokens", "Invalid 'max_tokens': integer above maximum value."),
    (CHAT, {"max_completion_tokens": HUGE}, "max_completion_tokens", "integer above maximum value"),
    (CHAT, {"seed": HUGE}, "seed", "Invalid 'seed': integer above maximum value."),
    (CHAT, {"n": HUGE}, "n", "'n'"),  # the converted pairs refuse n > 1 first
    (CHAT, {"max_tokens": "5"}, "max_tokens",
     "Invalid type for 'max_tokens': expected an integer, but got a string instead."),
    (CHAT, {"messages": []}, "messages",
     "Invalid 'messages': empty array. Expected an array with minimum length 1, "
     "but got an empty array instead."),
    (CHAT, {"messages": "hi"}, "messages",
     "Invalid type for 'messages': expected an array, but got a string instead."),
    (CHAT, {"messages": [{"role": "user", "content": 5}]}, "messages[0].content",
     "Invalid type for 'messages[0].content': expected one of a string or array of objects, but got an "
     "integer instead."),
    (CHAT, {"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role",
     "Invalid value: 'wizard'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', "
     "and 'developer'."),
    (MESSAGES, {"temperature": HUGE}, "temperature", "'temperature'"),
    (MESSAGES, {"top_p": HUGE}, "top_p", "'top_p'"),
    (MESSAGES, {"max_tokens": HUGE}, "max_tokens", "'max_tokens'"),
    (MESSAGES, {"top_k": HUGE}, "top_k", "'top_k'"),
    (MESSAGES, {"thinking": {"type": "enabled", "budget_tokens": HUGE}}, "thinking.budget_tokens",
     "'thinking.budget_tokens'"),
    (MESSAGES, {"temperature": "hot"}, "temperature", "'temperature'"),
    (RESPONSES, {"temperature": HUGE}, "temperature", "'temperature'"),
    (RESPONSES, {"top_p": HUGE}, "top_p", "'top_p'"),
    (RESPONSES, {"max_output_tokens": HUGE}, "max_output_tokens", "'max_output_tokens'"),
    (RESPONSES, {"temperature": "hot"}, "temperature", "'temperature'"),
]  # fmt: skip


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with gateway_on_dead_upstream(tmp_path_factory.mktemp("common")) as gateway:
        yield gateway


def _has_huge(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_huge(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_huge(v) for v in value)
    return isinstance(value, int) and abs(value) > 2**64


@pytest.mark.parametrize("model", FAMILIES)
@pytest.mark.parametrize(("route", "change", "param", "words"), CASES)
def test_a_malformed_common_field_is_the_same_400_on_every_family(
    app: Gateway, json_backend: str, route: str, change: dict[str, Any], param: str, words: str, model: str
) -> None:
    body = {**BASE[route], **change, "model": model}
    status, _, data = post(app, route, json.dumps(body).encode())
    assert status == 400, (status, data[:300])
    error = json.loads(data)
    if json_backend == "orjson" and _has_huge(change):
        # orjson refuses an integer past 64 bits while parsing: a 400 before any field is read
        assert error["error"]["type"] == "invalid_request_error", error
        return
    if route == MESSAGES:  # Anthropic's shape: no param, the message names the field
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error", error
    else:
        assert error["error"]["type"] == "invalid_request_error", error
        assert error["error"]["param"] == param, error
    assert words in error["error"]["message"], error
    assert len(data) < 2000  # a 400-digit value is not echoed back


@pytest.mark.parametrize("model", FAMILIES)
def test_the_openai_codes_of_the_common_checks(app: Gateway, model: str) -> None:
    for change, code in (
        ({"messages": []}, "empty_array"),
        ({"temperature": "hot"}, "invalid_type"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "invalid_value"),
        ({"seed": 2**63}, "integer_above_max_value"),
    ):
        status, _, data = post(app, CHAT, json.dumps({**BASE[CHAT], **change, "model": model}).encode())
        assert status == 400 and json.loads(data)["error"]["code"] == code, (change, data)
