"""config.json `orchestration` profiles through the real proxy and the simulator's orchestration
deployment, with the real OpenAI and Anthropic SDKs: masking for one client key only (another
key's request unmasked), pseudonymization unmasked in the answer, the configured modules reaching
the service exactly, filter blocks in each client API's shape (JSON and stream), and a client
key whose looser thresholds let the same content through."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from processes import proxy_config, running_proxy

from ftproxy.config import load_config
from ftproxy.demo import DEMO_KEY
from ftproxy.simulator import catalog

pytestmark = pytest.mark.e2e

MODEL = (
    "mistralai--mistral-large-instruct"
    if catalog.find("mistralai--mistral-large-instruct")
    else "gpt-4o-mini"
)
EMBEDDINGS = "text-embedding-3-large"
MASKED_KEY, LOOSE_KEY = "sk-e2e-masked-key", "sk-e2e-loose-key"
INTERMEDIATE = {"x-ftproxy-orchestration-intermediate": "true"}
PII = "Mail alice@example.com about John Smith"
BLOCK_IN = [{"role": "user", "content": "[[sim:filter=input]] rob a bank"}]
BLOCK_OUT = [{"role": "user", "content": "[[sim:filter=output]] a story"}]


def threshold(violence: int) -> dict[str, Any]:
    return {"azure_content_safety": {"violence": violence, "hate": 2}}


ORCHESTRATION = {
    "profiles": {
        # Violence 4 (what the simulator's directive stands for) is over both thresholds.
        "guarded": {"filtering": {"input": threshold(2), "output": {**threshold(0), "overlap": 50}}},
        "mask": {
            "masking": {
                "method": "pseudonymization",
                "entities": ["profile-email", "profile-person"],
                "allowlist": ["SAP"],
            }
        },
        "loose": {"filtering": {"input": threshold(6), "output": threshold(4)}},
    },
    "models": {MODEL.split("--")[0] + "*": "guarded"},
}


@dataclass(frozen=True)
class OrchestrationProxy:
    root: str
    config: Path

    def oai(self, key: str = DEMO_KEY) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.root + "/v1", api_key=key, max_retries=0)

    def claude(self, key: str = DEMO_KEY) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.root, api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def orchestration_proxy(
    simulator: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OrchestrationProxy]:
    folder = tmp_path_factory.mktemp("orchestration-modules")
    path = proxy_config(folder, simulator, discovery={"enabled": False}, orchestration=ORCHESTRATION)
    config = json.loads(path.read_text())
    demo = config["subAccounts"]["demo"]
    demo["orchestration_deployment"] = catalog.deployment_id("orchestration")
    # One direct model; every other name (MODEL, EMBEDDINGS) is served through orchestration.
    direct = f"{simulator}/v2/inference/deployments/{catalog.deployment_id('gpt-4.1')}"
    demo["deployment_models"] = {"gpt-4.1": [direct]}
    config.pop("model_aliases", None)  # the demo's aliases name models this config leaves out
    config["secret_authentication_tokens"] = [
        DEMO_KEY,
        {"key": MASKED_KEY, "name": "masked", "orchestration_profile": "mask"},
        {"key": LOOSE_KEY, "name": "loose", "orchestration_profile": "loose"},
    ]
    path.write_text(json.dumps(config))
    with running_proxy(path, folder) as (root, _log):
        yield OrchestrationProxy(root, path)


def results(answer: Any) -> dict[str, Any]:
    return (answer.model_extra or {})["intermediate_results"]


def test_masking_for_one_client_key_only_and_unmasked_in_the_answer(
    orchestration_proxy: OrchestrationProxy,
) -> None:
    ask = [{"role": "user", "content": PII}]
    masked = orchestration_proxy.oai(MASKED_KEY).chat.completions.create(
        model=MODEL, messages=ask, extra_headers=INTERMEDIATE
    )
    text = masked.choices[0].message.content or ""
    assert "alice@example.com" in text and "John Smith" in text  # pseudonyms put back
    seen = results(masked)
    assert "MASKED_EMAIL_1" in seen["llm"]["choices"][0]["message"]["content"]
    assert "MASKED_PERSON_1" in seen["input_masking"]["data"]["masked_template"]
    plain = orchestration_proxy.oai().chat.completions.create(
        model=MODEL, messages=ask, extra_headers=INTERMEDIATE
    )
    assert "input_masking" not in results(plain) and "masking" not in results(plain)["simulator_modules"]
    streamed = orchestration_proxy.oai(MASKED_KEY).chat.completions.create(
        model=MODEL, messages=ask, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == text
    claude = orchestration_proxy.claude(MASKED_KEY).messages.create(model=MODEL, max_tokens=200, messages=ask)
    assert "alice@example.com" in claude.content[0].text
    with orchestration_proxy.claude(MASKED_KEY).messages.stream(
        model=MODEL, max_tokens=200, messages=ask
    ) as stream:
        assert stream.get_final_message().content[0].text == claude.content[0].text


def test_configured_modules_reach_the_service_exactly(orchestration_proxy: OrchestrationProxy) -> None:
    settings = load_config(orchestration_proxy.config).orchestration
    for key, name in ((DEMO_KEY, "key#1"), (MASKED_KEY, "masked"), (LOOSE_KEY, "loose")):
        answer = orchestration_proxy.oai(key).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], extra_headers=INTERMEDIATE
        )
        assert results(answer)["simulator_modules"] == json.loads(
            json.dumps(settings.modules_for(name, MODEL))
        )
    assert set(settings.modules_for("masked", MODEL)) == {"filtering", "masking"}  # per module
    assert settings.modules_for("loose", MODEL)["filtering"]["input"]["filters"][0]["config"]["violence"] == 6
    direct = orchestration_proxy.oai(MASKED_KEY).chat.completions.create(
        model="gpt-4.1", messages=[{"role": "user", "content": PII}]
    )
    assert "alice@example.com" not in (direct.choices[0].message.content or "")  # no echo: not orchestrated


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_input_filter_block_is_a_400_in_each_api(
    orchestration_proxy: OrchestrationProxy, stream: bool
) -> None:
    with pytest.raises(openai.BadRequestError) as chat:
        list(
            orchestration_proxy.oai().chat.completions.create(model=MODEL, messages=BLOCK_IN, stream=stream)
            if stream
            else [orchestration_proxy.oai().chat.completions.create(model=MODEL, messages=BLOCK_IN)]
        )
    assert chat.value.code == "content_filter" and "Input Filter" in chat.value.message
    with pytest.raises(anthropic.BadRequestError) as messages:
        if stream:
            with orchestration_proxy.claude().messages.stream(
                model=MODEL, max_tokens=100, messages=BLOCK_IN
            ) as events:
                events.get_final_message()
        else:
            orchestration_proxy.claude().messages.create(model=MODEL, max_tokens=100, messages=BLOCK_IN)
    assert messages.value.body["error"]["type"] == "invalid_request_error"
    assert "Input Filter" in messages.value.message
    with pytest.raises(openai.BadRequestError) as responses:
        answer = orchestration_proxy.oai().responses.create(
            model=MODEL, input=BLOCK_IN[0]["content"], stream=stream
        )
        if stream:
            list(answer)
    assert responses.value.code == "content_filter"


def test_output_filter_block_in_each_api(orchestration_proxy: OrchestrationProxy) -> None:
    chat = orchestration_proxy.oai().chat.completions.create(model=MODEL, messages=BLOCK_OUT)
    assert chat.choices[0].finish_reason == "content_filter" and not chat.choices[0].message.content
    chunks = list(
        orchestration_proxy.oai().chat.completions.create(model=MODEL, messages=BLOCK_OUT, stream=True)
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"
    claude = orchestration_proxy.claude().messages.create(model=MODEL, max_tokens=100, messages=BLOCK_OUT)
    assert claude.stop_reason == "refusal"
    with orchestration_proxy.claude().messages.stream(
        model=MODEL, max_tokens=100, messages=BLOCK_OUT
    ) as stream:
        assert stream.get_final_message().stop_reason == "refusal"
    answer = orchestration_proxy.oai().responses.create(model=MODEL, input=BLOCK_OUT[0]["content"])
    assert answer.status == "incomplete" and answer.incomplete_details.reason == "content_filter"
    events = list(
        orchestration_proxy.oai().responses.create(model=MODEL, input=BLOCK_OUT[0]["content"], stream=True)
    )
    final = events[-1].response
    assert final.status == "incomplete" and final.incomplete_details.reason == "content_filter"


def test_looser_thresholds_let_the_same_content_through(orchestration_proxy: OrchestrationProxy) -> None:
    loose = orchestration_proxy.oai(LOOSE_KEY)
    passed = loose.chat.completions.create(model=MODEL, messages=BLOCK_IN, extra_headers=INTERMEDIATE)
    assert passed.choices[0].finish_reason == "stop"
    assert results(passed)["input_filtering"]["message"] == "Input Filter passed successfully."
    kept = loose.chat.completions.create(model=MODEL, messages=BLOCK_OUT)
    assert kept.choices[0].finish_reason == "stop" and kept.choices[0].message.content


def test_embeddings_through_orchestration_are_masked_for_the_key(
    orchestration_proxy: OrchestrationProxy,
) -> None:
    """The masking module is the one `/v2/embeddings` takes: the masked key's vector is the
    vector of the masked text."""
    masked = orchestration_proxy.oai(MASKED_KEY).embeddings.create(model=EMBEDDINGS, input=PII, dimensions=8)
    plain = orchestration_proxy.oai().embeddings.create(model=EMBEDDINGS, input=PII, dimensions=8)
    pseudonyms = orchestration_proxy.oai().embeddings.create(
        model=EMBEDDINGS, input="Mail MASKED_EMAIL_1 about MASKED_PERSON_1", dimensions=8
    )
    assert masked.data[0].embedding == pseudonyms.data[0].embedding != plain.data[0].embedding
