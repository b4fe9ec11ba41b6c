"""SAP's SDK against the simulator's newer parts: deployment discovery by model name and of the
orchestration deployment, the v1 orchestration client (`gen_ai_hub.orchestration`, route
`/completion`), and the families beyond GPT/Claude/Gemini called the way the SDK calls them
(Mistral through its OpenAI client, Amazon Nova through its Bedrock client's Converse).
"""

from __future__ import annotations

from typing import Any

import pytest
from sdk_support import need

from ftproxy.simulator import catalog

pytestmark = pytest.mark.sdk_contract

ANSWER_WORDS = 16
MISTRAL = "mistralai--mistral-large-instruct"
NOVA = "amazon--nova-pro"
V1 = "gen_ai_hub.orchestration"
ORCHESTRATION_ID = catalog.deployment_id("orchestration")


def test_discovery_finds_new_families_by_model_name(proxy_client: Any, sim_base: str) -> None:
    for name in (MISTRAL, NOVA, "sonar", "deepseek-ai--deepseek-r1"):
        dep = proxy_client.select_deployment(model_name=name)
        assert dep.deployment_id == catalog.deployment_id(name)
        assert dep.url == f"{sim_base}/v2/inference/deployments/{dep.deployment_id}"
    with pytest.raises(ValueError):  # offered only through orchestration: no deployment to find
        proxy_client.select_deployment(model_name="mistralai--mistral-small-instruct")


def test_discovery_finds_the_orchestration_deployment(proxy_client: Any, sim_base: str) -> None:
    """Both clients look for scenario and executable `orchestration` in the listing."""
    for package in (V1, "gen_ai_hub.orchestration_v2"):
        url = need(f"{package}.service").get_orchestration_api_url(proxy_client)
        assert url == f"{sim_base}/v2/inference/deployments/{ORCHESTRATION_ID}"


def _v1_config(text: str, llm: str) -> Any:
    message = need(f"{V1}.models.message")
    template = need(f"{V1}.models.template").Template(
        messages=[message.SystemMessage("Be brief."), message.UserMessage(text)]
    )
    model = need(f"{V1}.models.llm").LLM(name=llm, parameters={"max_tokens": 200})
    return need(f"{V1}.models.config").OrchestrationConfig(template=template, llm=model)


@pytest.fixture(scope="module")
def v1(proxy_client: Any) -> Any:
    # No deployment id: the client discovers the deployment from the listing, as users run it.
    return need(f"{V1}.service").OrchestrationService(proxy_client=proxy_client)


@pytest.mark.parametrize("llm", ["gpt-4o", "mistralai--mistral-small-instruct", NOVA])
def test_v1_run(v1: Any, llm: str) -> None:
    result = v1.run(config=_v1_config("Say hi", llm))
    choice = result.orchestration_result.choices[0]
    assert choice.finish_reason == "stop" and llm in choice.message.content
    assert len(choice.message.content.split()) == ANSWER_WORDS
    assert result.orchestration_result.usage.completion_tokens == ANSWER_WORDS
    assert result.module_results.templating[-1].content == "Say hi"
    assert result.module_results.llm.choices[0].message.content == choice.message.content


def test_v1_template_values_and_history(v1: Any) -> None:
    message = need(f"{V1}.models.message")
    value = need(f"{V1}.models.template").TemplateValue(name="topic", value="tea")
    result = v1.run(
        config=_v1_config("Tell me about {{?topic}}", "gpt-4o"),
        template_values=[value],
        history=[message.UserMessage("Earlier"), message.AssistantMessage("Yes")],
    )
    templating = result.module_results.templating
    assert [m.content for m in templating][:2] == ["Earlier", "Yes"]
    assert templating[-1].content == "Tell me about tea"


def test_v1_stream_matches_run(v1: Any) -> None:
    config = _v1_config("Say hi", "gpt-4o")
    whole = v1.run(config=config).orchestration_result.choices[0].message.content
    events = list(v1.stream(config=config))
    text = "".join(
        e.orchestration_result.choices[0].delta.content for e in events if e.orchestration_result.choices
    )
    assert text == whole
    assert events[-1].orchestration_result.choices[0].finish_reason == "stop"


def test_v1_error_is_the_sdks_orchestration_error(v1: Any) -> None:
    errors = need(f"{V1}.exceptions")
    with pytest.raises(errors.OrchestrationError) as caught:
        v1.run(config=_v1_config("Say hi", "gpt-9"))
    assert caught.value.code == 400 and "gpt-9" in caught.value.message
    assert caught.value.location == "LLM Module"


def test_mistral_through_the_sdks_openai_client(proxy_client: Any) -> None:
    client = need("gen_ai_hub.proxy.native.openai").OpenAI(proxy_client=proxy_client)
    answer = client.chat.completions.create(model=MISTRAL, messages=[{"role": "user", "content": "Say hi"}])
    assert answer.model == MISTRAL and MISTRAL in answer.choices[0].message.content
    assert answer.usage.completion_tokens == ANSWER_WORDS
    chunks = list(
        client.chat.completions.create(
            model=MISTRAL, messages=[{"role": "user", "content": "Say hi"}], stream=True
        )
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == answer.choices[0].message.content
    )


def test_nova_through_the_sdks_bedrock_client(proxy_client: Any) -> None:
    clients = need("gen_ai_hub.proxy.native.amazon.clients", "[amazon]")
    bedrock = clients.Session().client(model_name=NOVA, proxy_client=proxy_client)
    messages = [{"role": "user", "content": [{"text": "Say hi"}]}]
    answer = bedrock.converse(messages=messages, inferenceConfig={"maxTokens": 300})
    text = answer["output"]["message"]["content"][0]["text"]
    assert NOVA in text and answer["usage"]["outputTokens"] == ANSWER_WORDS
    stream = bedrock.converse_stream(messages=messages)["stream"]
    streamed = "".join(e["contentBlockDelta"]["delta"]["text"] for e in stream if "contentBlockDelta" in e)
    assert streamed == text
    # Nova's own limit, as botocore raises it.
    with pytest.raises(need("botocore.exceptions").ClientError, match="model limit of 5000") as caught:
        bedrock.converse(messages=messages, inferenceConfig={"maxTokens": 6000})
    assert caught.value.response["Error"]["Code"] == "ValidationException"
