"""tool_choice is honoured as real models honour it, and forced calls carry arguments that validate
against the tool's schema: in the planner, per upstream API, and end to end through the proxy for
every client API and family, streamed and whole alike."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from ftproxy.simulator import tool_choice
from ftproxy.simulator.answer import ToolDecl, plan
from ftproxy.simulator.schema_sample import sample_arguments
from ftproxy.simulator.testing import running_simulator
from ftproxy.simulator.tool_choice import AUTO, NONE, REQUIRED, ToolChoice

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))  # the process helpers of the e2e tests

from e2e_models import FAMILIES
from processes import proxy_config, running_proxy

FIXTURES = Path(__file__).parents[1] / "unit" / "convert" / "fixtures"
WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 3, "maximum": 7},
    },
    "required": ["city", "unit", "days"],
    "additionalProperties": False,
}
TOOLS = [
    ToolDecl("lookup", {"type": "object", "properties": {"q": {"type": "string"}}}),
    ToolDecl("weather", WEATHER),
]


def check(value: Any, schema: Any, where: str = "$") -> None:
    """A small JSON-schema check: the keywords the simulator promises to respect."""
    if not isinstance(schema, dict):
        return
    if "const" in schema:
        assert value == schema["const"], where
    if "enum" in schema:
        assert value in schema["enum"], where
    for key in ("anyOf", "oneOf"):
        if key in schema:
            errors = 0
            for branch in schema[key]:
                try:
                    check(value, branch, where)
                except AssertionError:
                    errors += 1
            assert errors < len(schema[key]), where
    kind = schema.get("type")
    kinds = [k.lower() for k in (kind if isinstance(kind, list) else [kind] if kind else [])]
    python = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    if kinds:
        ok = any(
            (k in ("integer", "number") and isinstance(value, int | float) and not isinstance(value, bool)
             and (k == "number" or float(value).is_integer()))
            or (k in python and isinstance(value, python[k]))
            for k in kinds
        )  # fmt: skip
        assert ok, f"{where}: {value!r} is not {kinds}"
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            assert name in value, f"{where}: required {name!r} missing"
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(props), where
        for name, item in value.items():
            check(item, props.get(name), f"{where}.{name}")
    if isinstance(value, list):
        assert len(value) >= schema.get("minItems", 0), where
        for i, item in enumerate(value):
            check(item, schema.get("items"), f"{where}[{i}]")
    if isinstance(value, int | float) and not isinstance(value, bool):
        assert value >= schema.get("minimum", value) and value <= schema.get("maximum", value), where
        if "exclusiveMinimum" in schema:
            assert value > schema["exclusiveMinimum"], where
    if isinstance(value, str):
        assert schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)), where


# --- the planner ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("directive", "choice", "called"),
    [
        (None, AUTO, None),  # auto: the directive decides
        ("weather", AUTO, "weather"),
        ("weather", NONE, None),  # none: no call, whatever the directive says
        (None, REQUIRED, "lookup"),  # required: the first declared tool …
        ("weather", REQUIRED, "weather"),  # … or the declared one the directive names
        ("nope", REQUIRED, "lookup"),
        (None, ToolChoice("required", "weather"), "weather"),  # a named tool
        ("lookup", ToolChoice("required", "weather"), "weather"),
    ],
)
def test_plan_obeys_the_tool_choice(directive: str | None, choice: ToolChoice, called: str | None) -> None:
    answer = plan(tokens=16, prompt_chars=10, tool=directive, tools=TOOLS, tool_choice=choice, model="m")
    if called is None:
        assert answer.tool is None and answer.finish == "stop" and answer.text.endswith(".")
    else:
        assert answer.tool is not None and answer.tool.name == called and answer.finish == "tool"
        schema = next(t.schema for t in TOOLS if t.name == called)
        check(answer.tool.input, schema)


def test_default_answer_is_whole_sentences_naming_the_model() -> None:
    text = plan(tokens=16, prompt_chars=1, model="gemini-2.5-pro").text
    assert text == (
        "Hello from the simulated SAP AI Core deployment of gemini-2.5-pro. "
        "This answer is deterministic demo text."
    )


def test_args_directive_sets_the_arguments() -> None:
    answer = plan(tokens=16, prompt_chars=1, tool="lookup", tools=TOOLS, args={"q": "a, b"})
    assert answer.tool is not None and answer.tool.input == {"q": "a, b"}
    assert json.loads(answer.tool.arguments) == {"q": "a, b"}


@pytest.mark.parametrize(
    ("parse", "value", "expected"),
    [
        (tool_choice.from_anthropic, {"type": "any"}, REQUIRED),
        (tool_choice.from_anthropic, {"type": "tool", "name": "f"}, ToolChoice("required", "f")),
        (tool_choice.from_anthropic, {"type": "none"}, NONE),
        (tool_choice.from_anthropic, None, AUTO),
        (tool_choice.from_converse, {"any": {}}, REQUIRED),
        (tool_choice.from_converse, {"tool": {"name": "f"}}, ToolChoice("required", "f")),
        (tool_choice.from_converse, {"auto": {}}, AUTO),
        (tool_choice.from_openai, "required", REQUIRED),
        (tool_choice.from_openai, "none", NONE),
        (
            tool_choice.from_openai,
            {"type": "function", "function": {"name": "f"}},
            ToolChoice("required", "f"),
        ),
        (tool_choice.from_openai, "auto", AUTO),
        (tool_choice.from_gemini, {"functionCallingConfig": {"mode": "ANY"}}, REQUIRED),
        (
            tool_choice.from_gemini,
            {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
            ToolChoice("required", "f"),
        ),
        (tool_choice.from_gemini, {"functionCallingConfig": {"mode": "NONE"}}, NONE),
        (tool_choice.from_gemini, "junk", AUTO),
    ],
)
def test_each_api_spelling(parse: Any, value: Any, expected: ToolChoice) -> None:
    assert parse(value) == expected


TRICKY = [
    {
        "type": "object",
        "properties": {"a": {"type": ["null", "integer"], "exclusiveMinimum": 5}},
        "required": ["a"],
    },
    {
        "type": "object",
        "properties": {"a": {"anyOf": [{"type": "null"}, {"type": "boolean"}]}},
        "required": ["a"],
    },
    {"type": "object", "properties": {"a": {"const": "x"}, "b": {"type": "string", "maxLength": 2}}},
    {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "tags": {"type": "array", "items": {"enum": ["x", "y"]}},
                    },
                    "required": ["id", "tags"],
                },
            }
        },
        "required": ["items"],
    },
    {"type": "OBJECT", "properties": {"n": {"type": "NUMBER", "maximum": 0.5}}, "required": ["n"]},
    {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
        ]
    },
]


def _agent_schemas() -> list[tuple[str, dict[str, Any]]]:
    claude = json.loads((FIXTURES / "claude_code_requests.json").read_text())["first_turn"]["body"]["tools"]
    codex = json.loads((FIXTURES / "codex_request.json").read_text())["body"]["tools"]
    return [(t["name"], t["input_schema"]) for t in claude] + [
        (t["name"], t["parameters"]) for t in codex if t.get("type") == "function"
    ]


@pytest.mark.parametrize(
    "schema",
    TRICKY + [s for _, s in _agent_schemas()],
    ids=[f"tricky{i}" for i in range(len(TRICKY))] + [n for n, _ in _agent_schemas()],
)
def test_generated_arguments_validate(schema: dict[str, Any]) -> None:
    check(sample_arguments(schema), schema)


# --- through the proxy, every client API and family -----------------------------------------------

TOOL_SCHEMA = WEATHER
OPENAI_TOOLS = [
    {"type": "function", "function": {"name": "other", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "weather", "description": "w", "parameters": TOOL_SCHEMA}},
]
ANTHROPIC_TOOLS = [
    {"name": t["function"]["name"], "input_schema": t["function"]["parameters"]} for t in OPENAI_TOOLS
]
RESPONSES_TOOLS = [{"type": "function", **t["function"]} for t in OPENAI_TOOLS]
ASK = [{"role": "user", "content": "What is the weather?"}]


@pytest.fixture(scope="module")
def proxy_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("tool-choice-proxy")
    with (
        running_simulator() as simulator,
        running_proxy(proxy_config(folder, simulator), folder) as (root, _),
    ):
        yield root


Call = tuple[str, dict[str, Any]] | None


def chat(root: str, model: str, choice: Any, stream: bool) -> Call:
    client = openai.OpenAI(base_url=root + "/v1", api_key="sk-ftproxy-demo")
    args: dict[str, Any] = {"model": model, "messages": ASK, "tools": OPENAI_TOOLS, "tool_choice": choice}
    if not stream:
        calls = client.chat.completions.create(**args).choices[0].message.tool_calls or []
        return (calls[0].function.name, json.loads(calls[0].function.arguments)) if calls else None
    name, arguments = None, ""
    for chunk in client.chat.completions.create(**args, stream=True):
        for c in chunk.choices:
            for call in c.delta.tool_calls or []:
                name = name or (call.function.name if call.function else None)
                arguments += (call.function.arguments or "") if call.function else ""
    return (name, json.loads(arguments or "{}")) if name else None


def messages(root: str, model: str, choice: Any, stream: bool) -> Call:
    client = anthropic.Anthropic(base_url=root, api_key="sk-ftproxy-demo")
    args: dict[str, Any] = {"model": model, "max_tokens": 512, "messages": ASK, "tools": ANTHROPIC_TOOLS}
    args["tool_choice"] = choice
    if stream:
        with client.messages.stream(**args) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**args)
    uses = [b for b in message.content if b.type == "tool_use"]
    assert (message.stop_reason == "tool_use") == bool(uses)
    return (uses[0].name, uses[0].input) if uses else None


def responses(root: str, model: str, choice: Any, stream: bool) -> Call:
    client = openai.OpenAI(base_url=root + "/v1", api_key="sk-ftproxy-demo")
    args: dict[str, Any] = {"model": model, "input": ASK, "tools": RESPONSES_TOOLS, "tool_choice": choice}
    if stream:
        events = list(client.responses.create(**args, stream=True))
        response = next(e.response for e in events if e.type == "response.completed")
    else:
        response = client.responses.create(**args)
    calls = [o for o in response.output if o.type == "function_call"]
    return (calls[0].name, json.loads(calls[0].arguments)) if calls else None


CHOICES = {
    chat: {
        "forced": {"type": "function", "function": {"name": "weather"}},
        "any": "required",
        "none": "none",
    },
    messages: {
        "forced": {"type": "tool", "name": "weather"},
        "any": {"type": "any"},
        "none": {"type": "none"},
    },
    responses: {"forced": {"type": "function", "name": "weather"}, "any": "required", "none": "none"},
}


@pytest.mark.e2e
@pytest.mark.parametrize("model", list(FAMILIES.values()), ids=list(FAMILIES))
@pytest.mark.parametrize("api", list(CHOICES), ids=lambda f: f.__name__)
def test_the_proxy_path_honours_tool_choice(proxy_root: str, api: Any, model: str) -> None:
    for kind, choice in CHOICES[api].items():
        whole, streamed = api(proxy_root, model, choice, False), api(proxy_root, model, choice, True)
        assert whole == streamed, (kind, whole, streamed)
        if kind == "none":
            assert whole is None
            continue
        assert whole is not None
        name, arguments = whole
        assert name == ("weather" if kind == "forced" else "other"), kind
        check(arguments, TOOL_SCHEMA if name == "weather" else {"type": "object"})
