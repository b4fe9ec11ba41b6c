"""The Orchestration Service deployment of the simulator: /v2/completion and /v2/embeddings."""

from __future__ import annotations

from typing import Any

import pytest

from ftproxy._json import loads
from ftproxy.simulator.testing import SimClient, sse_data, sse_json

pytestmark = pytest.mark.e2e

ORCHESTRATION = "orchestration"  # deployment_id("orchestration") is the simulator's orchestration
ANSWER_WORDS = 16
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def completion_body(
    text: str = "Say hi",
    model: str = "gpt-4.1",
    *,
    stream: bool = False,
    tools: list[dict[str, Any]] | None = None,
    **modules: Any,
) -> dict[str, Any]:
    prompt: dict[str, Any] = {
        "template": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]
    }
    if tools:
        prompt["tools"] = tools
    config: dict[str, Any] = {
        "modules": {
            "prompt_templating": {"prompt": prompt, "model": {"name": model, "version": "latest"}},
            **modules,
        }
    }
    if stream:
        config["stream"] = {"enabled": True}
    return {"config": config}


def complete(sim: SimClient, body: dict[str, Any]) -> Any:
    return sim.post(ORCHESTRATION, "v2/completion", body)


@pytest.mark.parametrize("model", ["gpt-4.1", "anthropic--claude-4.5-sonnet", "gemini-2.5-pro", "gpt-5"])
def test_any_catalog_model_answers(sim: SimClient, model: str) -> None:
    reply = complete(sim, completion_body(model=model))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["request_id"]
    final = body["final_result"]
    assert final["object"] == "chat.completion"
    choice = final["choices"][0]
    assert choice["finish_reason"] == "stop" and model in choice["message"]["content"]
    assert len(choice["message"]["content"].split()) == ANSWER_WORDS
    assert final["usage"]["completion_tokens"] == ANSWER_WORDS
    assert body["intermediate_results"]["templating"][-1] == {"role": "user", "content": "Say hi"}
    assert (
        body["intermediate_results"]["llm"]["choices"][0]["message"]["content"]
        == choice["message"]["content"]
    )


@pytest.mark.parametrize(
    ("model", "status"),
    [("no-such-model", 400), ("text-embedding-3-small", 400)],  # unknown; an embeddings model
)
def test_unknown_model_is_the_llm_modules_400(sim: SimClient, model: str, status: int) -> None:
    reply = complete(sim, completion_body(model=model))
    assert reply.status_code == status
    error = reply.json()["error"]
    assert error["code"] == status and error["location"] == "LLM Module" and model in error["message"]
    assert error["request_id"]


def test_module_list_is_a_fallback_chain(sim: SimClient) -> None:
    body = completion_body(model="gpt-4o")
    known = body["config"]["modules"]
    unknown = completion_body(model="no-such-model")["config"]["modules"]
    body["config"]["modules"] = [unknown, known]
    reply = complete(sim, body)
    assert reply.status_code == 200
    assert "gpt-4o" in reply.json()["final_result"]["choices"][0]["message"]["content"]


def test_stream_matches_the_whole_answer(sim: SimClient) -> None:
    whole = complete(sim, completion_body(model="mistralai--mistral-large-instruct"))
    if whole.status_code == 400:  # the catalog does not have it (yet): any chat model will do
        whole = complete(sim, completion_body(model="gpt-4o"))
        model = "gpt-4o"
    else:
        model = "mistralai--mistral-large-instruct"
    reply = complete(sim, completion_body(model=model, stream=True))
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
    assert sse_data(reply.text)[-1] == "[DONE]"
    events = sse_json(reply.text)
    assert len({e["request_id"] for e in events}) == 1
    assert events[0]["intermediate_results"]["templating"][-1]["content"] == "Say hi"
    deltas = [e["final_result"]["choices"][0]["delta"] for e in events]
    assert all(isinstance(d["content"], str) for d in deltas)  # the SDK requires it on every delta
    text = "".join(d["content"] for d in deltas)
    expected = whole.json()["final_result"]
    assert text == expected["choices"][0]["message"]["content"]
    last = events[-1]["final_result"]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["usage"] == expected["usage"]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call(sim: SimClient, stream: bool) -> None:
    reply = complete(sim, completion_body("[[sim:tool=get_weather]]", tools=[TOOL], stream=stream))
    assert reply.status_code == 200
    if not stream:
        choice = reply.json()["final_result"]["choices"][0]
        assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] == ""
        call = choice["message"]["tool_calls"][0]
        assert call["function"]["name"] == "get_weather" and isinstance(
            loads(call["function"]["arguments"]), dict
        )
        return
    choices = [e["final_result"]["choices"][0] for e in sse_json(reply.text)]
    calls = [c for ch in choices for c in ch["delta"].get("tool_calls") or ()]
    assert calls[0]["id"].startswith("call_") and calls[0]["function"]["name"] == "get_weather"
    arguments = "".join(c["function"].get("arguments") or "" for c in calls)
    assert isinstance(loads(arguments), dict)
    assert choices[-1]["finish_reason"] == "tool_calls"


def test_forced_tool_choice_in_params(sim: SimClient) -> None:
    body = completion_body(tools=[TOOL])
    body["config"]["modules"]["prompt_templating"]["model"]["params"] = {"tool_choice": "required"}
    choice = complete(sim, body).json()["final_result"]["choices"][0]
    assert choice["finish_reason"] == "tool_calls"


def test_input_filter_blocks_with_the_filters_results(sim: SimClient) -> None:
    filtering = {"input": {"filters": [{"type": "azure_content_safety", "config": {"violence": 2}}]}}
    before = sim.stats()["requests_by_path"].get("orchestration", 0)
    reply = complete(sim, completion_body("[[sim:filter=input]] rob a bank", filtering=filtering))
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == 400 and error["location"] == "Filtering Module - Input Filter"
    assert "Prompt filtered due to safety violations" in error["message"]
    results = error["intermediate_results"]["input_filtering"]
    assert results["data"]["azure_content_safety"]["Violence"] == 4
    assert sim.stats()["requests_by_path"]["orchestration"] == before + 1


@pytest.mark.parametrize("stream", [False, True])
def test_output_filter_blanks_the_answer(sim: SimClient, stream: bool) -> None:
    reply = complete(sim, completion_body("[[sim:filter=output]] tell a story", stream=stream))
    assert reply.status_code == 200
    if stream:
        events = sse_json(reply.text)
        assert "".join(e["final_result"]["choices"][0]["delta"]["content"] for e in events) == ""
        assert events[-1]["final_result"]["choices"][0]["finish_reason"] == "content_filter"
        assert events[-1]["intermediate_results"]["output_filtering"]["message"].startswith("1 of 1")
        return
    body = reply.json()
    choice = body["final_result"]["choices"][0]
    assert choice == {
        "index": 0,
        "message": {"role": "assistant", "content": ""},
        "finish_reason": "content_filter",
    }
    assert body["intermediate_results"]["output_filtering"]["data"]["choices"][0]["azure_content_safety"][
        "Violence"
    ]


PRIVATE = "Write to alice@example.com or ask John Smith"


def masking(method: str) -> dict[str, Any]:
    entities = [{"type": "profile-email"}, {"type": "profile-person"}]
    return {"providers": [{"type": "sap_data_privacy_integration", "method": method, "entities": entities}]}


def test_anonymization_masks_what_the_model_sees(sim: SimClient) -> None:
    body = complete(sim, completion_body(PRIVATE, masking=masking("anonymization"))).json()
    text = body["final_result"]["choices"][0]["message"]["content"]
    assert "MASKED_EMAIL" in text and "MASKED_PERSON" in text
    assert "alice@example.com" not in text and "John Smith" not in text
    masked = body["intermediate_results"]["input_masking"]["data"]["masked_template"]
    assert "MASKED_EMAIL" in masked and "alice@example.com" not in masked


@pytest.mark.parametrize("stream", [False, True])
def test_pseudonymization_is_unmasked_in_the_answer(sim: SimClient, stream: bool) -> None:
    reply = complete(sim, completion_body(PRIVATE, masking=masking("pseudonymization"), stream=stream))
    if stream:
        text = "".join(e["final_result"]["choices"][0]["delta"]["content"] for e in sse_json(reply.text))
    else:
        body = reply.json()
        text = body["final_result"]["choices"][0]["message"]["content"]
        llm = body["intermediate_results"]["llm"]["choices"][0]["message"]["content"]
        assert "MASKED_EMAIL_1" in llm and "MASKED_PERSON_1" in llm and "alice@example.com" not in llm
    assert "alice@example.com" in text and "John Smith" in text and "MASKED_" not in text


def test_allowlist_is_not_masked(sim: SimClient) -> None:
    config = masking("anonymization")
    config["providers"][0]["allowlist"] = ["John Smith"]
    text = complete(sim, completion_body(PRIVATE, masking=config)).json()["final_result"]["choices"][0][
        "message"
    ]
    assert "John Smith" in text["content"] and "MASKED_EMAIL" in text["content"]


def embeddings_body(model: str, text: Any, **params: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"name": model, "version": "latest"}
    if params:
        details["params"] = params
    return {"config": {"modules": {"embeddings": {"model": details}}}, "input": {"text": text}}


def test_embeddings(sim: SimClient) -> None:
    reply = sim.post(
        ORCHESTRATION, "v2/embeddings", embeddings_body("text-embedding-3-small", ["a", "b"], dimensions=8)
    )
    assert reply.status_code == 200, reply.text
    final = reply.json()["final_result"]
    assert final["object"] == "list" and [d["index"] for d in final["data"]] == [0, 1]
    assert len(final["data"][0]["embedding"]) == 8 and final["usage"]["prompt_tokens"] == 2
    wrong = sim.post(ORCHESTRATION, "v2/embeddings", embeddings_body("gpt-4.1", "a"))
    assert wrong.status_code == 400 and wrong.json()["error"]["location"] == "Embeddings Module"


def test_unknown_route_and_method(sim: SimClient) -> None:
    assert sim.post(ORCHESTRATION, "v2/nothing", {}).status_code == 404
    path = sim.path(ORCHESTRATION, "v2/completion")
    assert sim.client.get(path, headers=sim.headers()).status_code == 405


def test_needs_a_token_and_a_config(sim: SimClient) -> None:
    path = sim.path(ORCHESTRATION, "v2/completion")
    assert sim.client.post(path, json=completion_body()).status_code == 401
    reply = complete(sim, {"messages_history": []})
    assert reply.status_code == 400 and reply.json()["error"]["location"] == "Request Body"


@pytest.mark.parametrize(
    ("values", "defaults", "status", "seen"),
    [
        ({"who": "Ada"}, None, 200, "Greet Ada"),
        (None, {"who": "Bob"}, 200, "Greet Bob"),
        ({"who": "Ada"}, {"who": "Bob"}, 200, "Greet Ada"),  # the request's value wins
        (None, None, 400, None),
    ],
)
def test_placeholders(
    sim: SimClient,
    values: dict[str, str] | None,
    defaults: dict[str, str] | None,
    status: int,
    seen: str | None,
) -> None:
    body = completion_body("Greet {{?who}}")
    if defaults:
        body["config"]["modules"]["prompt_templating"]["prompt"]["defaults"] = defaults
    if values:
        body["placeholder_values"] = values
    body["messages_history"] = [{"role": "user", "content": "history {{?never}} is not templated"}]
    reply = complete(sim, body)
    assert reply.status_code == status
    if status == 400:
        error = reply.json()["error"]
        assert error["location"] == "Templating Module" and "who" in error["message"]
        return
    templating = reply.json()["intermediate_results"]["templating"]
    assert templating[0]["content"] == "history {{?never}} is not templated"
    assert templating[-1]["content"] == seen
