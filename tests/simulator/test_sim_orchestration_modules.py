"""The simulator's Orchestration Service modules, table-driven: content filters block the
directive's violent content (Violence 4) only where the thresholds or Llama Guard categories
say so, masking honours the entity list, allow-list and method, translation results show, and
the modules a request carried are echoed exactly."""

from __future__ import annotations

from typing import Any

import pytest

from ftproxy.simulator.testing import SimClient

pytestmark = pytest.mark.e2e


def completion_body(text: str, *, stream: bool = False, **modules: Any) -> dict[str, Any]:
    prompt = {"template": [{"role": "user", "content": text}]}
    templating = {"prompt": prompt, "model": {"name": "gpt-4.1"}}
    return {
        "config": {"modules": {"prompt_templating": templating, **modules}, "stream": {"enabled": stream}}
    }


def complete(sim: SimClient, body: dict[str, Any]) -> Any:
    return sim.post("orchestration", "v2/completion", body)


def azure(**thresholds: int) -> dict[str, Any]:
    return {"type": "azure_content_safety", "config": thresholds}


def guard(*categories: str) -> dict[str, Any]:
    return {"type": "llama_guard_3_8b", "config": dict.fromkeys(categories, True)}


FILTERS = [
    # (filters of the direction, whether violent content is blocked)
    ([], True),  # no filter configured: the directive alone blocks
    ([azure()], True),  # the service's default threshold (2)
    ([azure(violence=0)], True),
    ([azure(violence=2)], True),
    ([azure(violence=4)], False),
    ([azure(violence=6, hate=0)], False),
    ([guard("privacy")], False),
    ([guard("violent_crimes")], True),
    ([azure(violence=6), guard("violent_crimes")], True),  # any filter blocking blocks
]


@pytest.mark.parametrize(("filters", "blocked"), FILTERS)
def test_input_filter_thresholds(sim: SimClient, filters: list[Any], blocked: bool) -> None:
    modules = {"filtering": {"input": {"filters": filters}}} if filters else {}
    reply = complete(sim, completion_body("[[sim:filter=input]] rob a bank", **modules))
    assert reply.status_code == (400 if blocked else 200), reply.text
    if blocked:
        assert reply.json()["error"]["location"] == "Filtering Module - Input Filter"
        data = reply.json()["error"]["intermediate_results"]["input_filtering"]["data"]
    else:
        data = reply.json()["intermediate_results"]["input_filtering"]["data"]
    if any(f["type"] == "azure_content_safety" for f in filters) or not filters:
        assert data["azure_content_safety"]["Violence"] == 4


@pytest.mark.parametrize(("filters", "blocked"), FILTERS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_output_filter_thresholds(sim: SimClient, filters: list[Any], blocked: bool, stream: bool) -> None:
    modules = {"filtering": {"output": {"filters": filters}}} if filters else {}
    reply = complete(sim, completion_body("[[sim:filter=output]] a story", stream=stream, **modules))
    assert reply.status_code == 200
    finish = "content_filter" if blocked else "stop"
    if stream:
        assert f'"finish_reason":"{finish}"' in reply.text.replace(" ", "")
    else:
        choice = reply.json()["final_result"]["choices"][0]
        assert choice["finish_reason"] == finish and bool(choice["message"]["content"]) is not blocked


def masking(method: str, *entities: Any, allowlist: list[str] | None = None) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "type": "sap_data_privacy_integration",
        "method": method,
        "entities": [{"type": e} if isinstance(e, str) else e for e in entities],
    }
    if allowlist is not None:
        provider["allowlist"] = allowlist
    return {"masking": {"providers": [provider]}}


TEXT = "Mail alice@example.com and bob@example.org about John Smith"
MASKING = [
    # (masking module, what the model is given, what the client gets back)
    (
        masking("anonymization", "profile-email"),
        "Mail MASKED_EMAIL and MASKED_EMAIL about John Smith",
        "Mail MASKED_EMAIL and MASKED_EMAIL about John Smith",
    ),
    (
        masking("anonymization", "profile-person"),
        "Mail alice@example.com and bob@example.org about MASKED_PERSON",
        "Mail alice@example.com and bob@example.org about MASKED_PERSON",
    ),
    (
        masking("pseudonymization", "profile-email", "profile-person"),
        "Mail MASKED_EMAIL_1 and MASKED_EMAIL_2 about MASKED_PERSON_1",
        TEXT,
    ),
    (
        masking("anonymization", "profile-email", allowlist=["bob@example.org"]),
        "Mail MASKED_EMAIL and bob@example.org about John Smith",
        "Mail MASKED_EMAIL and bob@example.org about John Smith",
    ),
    (
        masking(
            "anonymization",
            {"regex": r"\bJohn\b", "replacement_strategy": {"method": "constant", "value": "first"}},
        ),
        "Mail alice@example.com and bob@example.org about MASKED_FIRST Smith",
        "Mail alice@example.com and bob@example.org about MASKED_FIRST Smith",
    ),
    (
        masking("anonymization", "profile-iban"),  # a type the simulator cannot find: nothing masked
        TEXT,
        TEXT,
    ),
]


@pytest.mark.parametrize(("module", "given", "back"), MASKING)
def test_masking_honours_entities_allowlist_and_method(
    sim: SimClient, module: Any, given: str, back: str
) -> None:
    body = complete(sim, completion_body(TEXT, **module)).json()
    assert body["intermediate_results"]["templating"][-1]["content"] == TEXT
    assert given in body["intermediate_results"]["llm"]["choices"][0]["message"]["content"]
    assert back in body["final_result"]["choices"][0]["message"]["content"]
    assert body["intermediate_results"]["simulator_modules"] == module


def test_translation_results_and_the_exact_echo(sim: SimClient) -> None:
    translation = {
        "input": {
            "type": "sap_document_translation",
            "config": {"source_language": "de-DE", "target_language": "en-US"},
        },
        "output": {"type": "sap_document_translation", "config": {"target_language": "de-DE"}},
    }
    filtering = {"input": {"filters": [azure(violence=4)]}}
    body = complete(sim, completion_body("Hallo", translation=translation, filtering=filtering)).json()
    results = body["intermediate_results"]
    assert results["input_translation"]["data"]["config"]["target_language"] == "en-US"
    assert results["output_translation"]["data"]["config"]["target_language"] == "de-DE"
    assert results["simulator_modules"] == {"translation": translation, "filtering": filtering}
    plain = complete(sim, completion_body("Hallo")).json()["intermediate_results"]
    assert "simulator_modules" not in plain and "input_translation" not in plain
