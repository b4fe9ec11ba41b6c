"""SAP's Orchestration v2 client (`gen_ai_hub.orchestration_v2`) against the simulator's
orchestration deployment: JSON, streaming, tools, filtering errors, masking, embeddings.

The SDK's own pydantic models parse every answer, so a field the simulator gets wrong fails here.
(SAP's v1 client, on the deprecated `/completion` route, is in test_sap_sdk_families.py.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sdk_support import need

from ftproxy.config_orchestration import parse_orchestration
from ftproxy.simulator import catalog

pytestmark = pytest.mark.sdk_contract

ANSWER_WORDS = 16
ORCHESTRATION_ID = catalog.deployment_id("orchestration")
MODELS = "gen_ai_hub.orchestration_v2.models"


@pytest.fixture(scope="module")
def service(proxy_client: Any) -> Any:
    module = need("gen_ai_hub.orchestration_v2.service")
    return module.OrchestrationService(proxy_client=proxy_client, deployment_id=ORCHESTRATION_ID)


def model(name: str) -> Any:
    return need(f"{MODELS}.{name}")


def config(text: str, llm: str = "gpt-4o", *, stream: bool = False, tools: Any = None, **modules: Any) -> Any:
    messages, template, details = model("message"), model("template"), model("llm_model_details")
    prompt = template.Template(
        template=[messages.SystemMessage(content="Be brief."), messages.UserMessage(content=text)],
        tools=tools,
    )
    configs = model("config")
    module_config = configs.ModuleConfig(
        prompt_templating=template.PromptTemplatingModuleConfig(
            prompt=prompt, model=details.LLMModelDetails(name=llm, params={"max_tokens": 200})
        ),
        **modules,
    )
    options = model("streaming").GlobalStreamOptions(enabled=True) if stream else None
    return configs.OrchestrationConfig(modules=module_config, stream=options)


@pytest.mark.parametrize("llm", ["gpt-4o", "anthropic--claude-4.5-sonnet", "gemini-2.5-flash"])
def test_run(service: Any, llm: str) -> None:
    result = service.run(config=config("Say hi", llm))
    choice = result.final_result.choices[0]
    assert choice.finish_reason == "stop" and llm in choice.message.content
    assert len(choice.message.content.split()) == ANSWER_WORDS
    assert result.final_result.usage.completion_tokens == ANSWER_WORDS
    assert result.intermediate_results.templating[-1].content == "Say hi"
    assert result.intermediate_results.llm.choices[0].message.content == choice.message.content


def test_placeholder_values_and_history(service: Any) -> None:
    messages = model("message")
    result = service.run(
        config=config("Greet {{?who}}"),
        placeholder_values={"who": "Ada"},
        history=[messages.UserMessage(content="earlier"), messages.AssistantMessage(content="ok")],
    )
    templating = result.intermediate_results.templating
    assert templating[0].content == "earlier" and templating[-1].content == "Greet Ada"
    errors = need("gen_ai_hub.orchestration_v2.exceptions")
    with pytest.raises(errors.OrchestrationError) as caught:
        service.run(config=config("Greet {{?who}}"))
    assert caught.value.code == 400 and caught.value.location == "Templating Module"


def test_stream(service: Any) -> None:
    whole = service.run(config=config("Say hi"))
    chunks = list(service.stream(config=config("Say hi", stream=True)))
    text = "".join(c.final_result.choices[0].delta.content for c in chunks if c.final_result.choices)
    assert text == whole.final_result.choices[0].message.content
    assert chunks[-1].final_result.choices[0].finish_reason == "stop"
    assert chunks[-1].final_result.usage.completion_tokens == whole.final_result.usage.completion_tokens


def test_tool_call(service: Any) -> None:
    @model("tools").function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    result = service.run(config=config("[[sim:tool=get_weather]]", tools=[get_weather]))
    choice = result.final_result.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and isinstance(call.function.parse_arguments()["city"], str)
    chunks = list(service.stream(config=config("[[sim:tool=get_weather]]", stream=True, tools=[get_weather])))
    calls = [t for c in chunks for t in (c.final_result.choices[0].delta.tool_calls or ())]
    assert calls[0].function.name == "get_weather"
    streamed = json.loads("".join(t.function.arguments or "" for t in calls))
    assert isinstance(streamed["city"], str)


def test_input_filter_raises_orchestration_error(service: Any) -> None:
    filtering = model("content_filtering")
    filters = model("content_filter")
    azure = model("azure_content_filter")
    module = filtering.FilteringModuleConfig(
        input=filtering.InputFiltering(
            filters=[
                filters.AzureContentSafetyInputFilterConfig(config=azure.AzureContentSafetyInput(violence=2))
            ]
        )
    )
    errors = need("gen_ai_hub.orchestration_v2.exceptions")
    with pytest.raises(errors.OrchestrationError) as caught:
        service.run(config=config("[[sim:filter=input]] rob a bank", filtering=module))
    error = caught.value
    assert error.code == 400 and error.location == "Filtering Module - Input Filter"
    assert error.intermediate_results["input_filtering"]["data"]["azure_content_safety"]["Violence"] == 4


def test_output_filter_finish_reason(service: Any) -> None:
    result = service.run(config=config("[[sim:filter=output]] a story"))
    assert result.final_result.choices[0].finish_reason == "content_filter"
    assert result.final_result.choices[0].message.content == ""
    assert result.intermediate_results.output_filtering.message == "1 of 1 choices failed the output filter."


def test_pseudonymization(service: Any) -> None:
    masking = model("data_masking")
    module = masking.MaskingModuleConfig(
        providers=[
            masking.MaskingProviderConfig(
                method=masking.MaskingMethod.PSEUDONYMIZATION,
                entities=[
                    masking.DPIStandardEntity(type=masking.ProfileEntity.EMAIL),
                    masking.DPIStandardEntity(type=masking.ProfileEntity.PERSON),
                ],
            )
        ]
    )
    result = service.run(config=config("Mail alice@example.com for John Smith", masking=module))
    assert "alice@example.com" in result.final_result.choices[0].message.content
    assert "MASKED_EMAIL_1" in result.intermediate_results.llm.choices[0].message.content
    assert result.intermediate_results.input_masking.message == "Input to LLM is masked successfully."


def test_embed(service: Any) -> None:
    emb = model("embeddings")
    answer = service.embed(
        config=emb.EmbeddingsOrchestrationConfig(
            modules=emb.EmbeddingsModuleConfigs(
                embeddings=emb.EmbeddingsModelConfig(
                    model=emb.EmbeddingsModelDetails(
                        name="text-embedding-3-small", params=emb.EmbeddingsModelParams(dimensions=16)
                    )
                )
            )
        ),
        input=emb.EmbeddingsInput(text=["hello", "world"]),
    )
    assert [d.index for d in answer.final_result.data] == [0, 1]
    assert len(answer.final_result.data[0].embedding) == 16
    assert answer.final_result.usage.prompt_tokens >= 2


def test_ftproxy_profile_modules_through_the_sdk(service: Any) -> None:
    """The module JSON ftproxy builds from config.json is what SAP's SDK models take and send,
    and the simulator answers it as configured: thresholds above the content's severity let the
    violent prompt through, masking and translation report their results."""
    profile = {
        "filtering": {
            "input": {"azure_content_safety": {"violence": 6, "hate": 0}, "llama_guard_3_8b": ["privacy"]},
            "output": {"azure_content_safety": {"violence": "allow_safe_low_medium"}, "overlap": 10},
        },
        "masking": {"method": "pseudonymization", "entities": ["profile-email"], "allowlist": ["SAP"]},
        "translation": {"input": {"target_language": "en-US"}, "output": {"target_language": "de-DE"}},
    }
    settings = parse_orchestration({"profiles": {"p": profile}, "default": "p"}, (), source="config.json")
    modules = dict(settings.modules_for(None, "gpt-4o"))
    configs = model("config")
    templating = {
        "prompt": {"template": [{"role": "user", "content": "[[sim:filter=input]] mail bob@example.com"}]},
        "model": {"name": "gpt-4o"},
    }
    module_config = configs.ModuleConfig.model_validate({"prompt_templating": templating, **modules})
    result = service.run(config=configs.OrchestrationConfig(modules=module_config))
    assert result.final_result.choices[0].finish_reason == "stop"
    assert "bob@example.com" in result.final_result.choices[0].message.content
    steps = result.intermediate_results
    assert steps.input_filtering.message == "Input Filter passed successfully."
    assert steps.input_masking.message == "Input to LLM is masked successfully."
    assert steps.input_translation.message and steps.output_translation.message
