"""An upstream that answers 200 with valid JSON of the wrong shape (issue 23).

The simulator answers `[[sim:status=200,body=…]]` with that body verbatim, whatever was asked:
a JSON object with no `choices`, `candidates`, `output` or `content` for a JSON answer, one SSE
event of the same kind for a stream. Every client API through its real SDK, for every family:
a JSON answer is a 502 that says SAP AI Core's answer cannot be read (a GPT deployment's used to
be passed through as a 200 no OpenAI client can read; a Gemini one was a 500 before the
orchestration change), a stream ends with the client's error event, never with a completion.
"""

from __future__ import annotations

import anthropic
import openai
import pytest
from e2e_models import IDS, MODELS

pytestmark = pytest.mark.e2e

WRONG = '{"id": "x", "object": "thing", "note": "no choices, candidates, output or content"}'
JSON_ANSWER = f"Hi [[sim:status=200,body={WRONG}]]"
STREAM = f"Hi [[sim:status=200,body=data: {WRONG}\n\n]]"
UNREADABLE = "SAP AI Core sent an answer that cannot be read"


@pytest.fixture
def openai_client(proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url, api_key=proxy.key, max_retries=0)


@pytest.fixture
def anthropic_client(proxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.root, api_key=proxy.key, max_retries=0)


def ask(client: str, proxy, model: str, text: str) -> object:
    """One JSON request through the client API's SDK."""
    messages = [{"role": "user", "content": text}]
    if client == "messages":
        sdk = anthropic.Anthropic(base_url=proxy.root, api_key=proxy.key, max_retries=0)
        return sdk.messages.create(model=model, max_tokens=64, messages=messages)  # type: ignore[arg-type]
    sdk = openai.OpenAI(base_url=proxy.url, api_key=proxy.key, max_retries=0)
    if client == "responses":
        return sdk.responses.create(model=model, input=text)
    return sdk.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]


@pytest.mark.parametrize("client", ["chat", "messages", "responses"])
@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_a_json_answer_is_a_502(proxy, client: str, model: str) -> None:
    with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)) as caught:
        ask(client, proxy, model, JSON_ANSWER)
    assert caught.value.status_code == 502 and UNREADABLE in caught.value.message


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_chat_completions_stream(openai_client: openai.OpenAI, model: str) -> None:
    stream = openai_client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": STREAM}], stream=True
    )
    with pytest.raises(openai.APIError) as caught:
        for _ in stream:
            pass
    assert caught.value.message


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_messages_stream(anthropic_client: anthropic.Anthropic, model: str) -> None:
    messages = [{"role": "user", "content": STREAM}]
    with (
        pytest.raises(anthropic.APIStatusError) as caught,  # the SDK raises on an `error` event
        anthropic_client.messages.stream(model=model, max_tokens=64, messages=messages) as stream,  # type: ignore[arg-type]
    ):
        for _ in stream:
            pass
    assert caught.value.message


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_responses_stream(openai_client: openai.OpenAI, model: str) -> None:
    kinds = [event.type for event in openai_client.responses.create(model=model, input=STREAM, stream=True)]
    assert kinds[-1] == "response.failed" and "response.completed" not in kinds, kinds
