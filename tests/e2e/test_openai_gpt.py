"""The OpenAI SDK against ftproxy against the simulator: GPT chat, streaming, embeddings, models."""

from __future__ import annotations

import httpx
import openai
import pytest

pytestmark = pytest.mark.e2e

MESSAGES = [{"role": "user", "content": "Say hello to the gateway."}]


@pytest.fixture
def client(proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url, api_key=proxy.key, max_retries=0)


def test_chat_json(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens > 0
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_stream_matches_json_answer_and_usage(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4.1", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert len({c.id for c in chunks}) == 1
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        whole.usage.prompt_tokens,
        whole.usage.completion_tokens,
    )


def test_raw_stream_framing(proxy) -> None:
    """Exactly one [DONE], at the end; no empty-choices preamble; no usage unless asked."""
    body = {"model": "gpt-4.1", "messages": MESSAGES, "stream": True}
    with httpx.stream(
        "POST", proxy.url + "/chat/completions", json=body, headers={"Authorization": f"Bearer {proxy.key}"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = [e for e in raw.split("\n\n") if e.strip()]
    assert events.count("data: [DONE]") == 1 and events[-1] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events)
    assert '"choices":[]' not in raw and '"usage"' not in raw.replace('"usage":null', "")


def test_stream_absent_means_json(proxy) -> None:
    response = httpx.post(
        proxy.url + "/chat/completions",
        json={"model": "gpt-4.1", "messages": MESSAGES},
        headers={"x-api-key": proxy.key},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json()["object"] == "chat.completion"
    assert response.headers["x-request-id"]


def test_reasoning_model_accepts_temperature_and_max_tokens(client: openai.OpenAI) -> None:
    # Azure rejects both for gpt-5; the gateway adapts the request instead of failing.
    answer = client.chat.completions.create(model="gpt-5", messages=MESSAGES, temperature=0.2, max_tokens=400)
    assert answer.choices[0].message.content


def test_embeddings(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
    assert result.model == "text-embedding-3-small"
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 1536
    assert result.usage.prompt_tokens > 0
    small = client.embeddings.create(model="text-embedding-3-small", input="x", dimensions=256)
    assert len(small.data[0].embedding) == 256


def test_models_lists_configured_models(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"gpt-4.1", "gpt-5", "text-embedding-3-small"} <= ids


def test_wrong_key_is_401(proxy) -> None:
    bad = openai.OpenAI(base_url=proxy.url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert caught.value.status_code == 401
    assert caught.value.body["type"] == "authentication_error"


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-0-nonexistent", messages=MESSAGES)
    assert caught.value.body["code"] == "model_not_found"


def test_upstream_429_passes_through_with_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "[[sim:status=429,retry_after=7]] hi"}]
        )
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"


def test_upstream_500_passes_through(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "[[sim:status=500]]"}]
        )
    assert caught.value.status_code == 500
    assert caught.value.body["type"] == "server_error"


def test_upstream_400_passes_through_in_openai_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "[[sim:status=400]]"}]
        )
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[]", 400),
        (b'{"messages": []}', 400),
        (b'{"model": "gpt-4.1", "messages": [], "stream": "yes"}', 400),
    ],
)
def test_bad_requests_get_openai_errors(proxy, body: bytes, status: int) -> None:
    response = httpx.post(
        proxy.url + "/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {proxy.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_unknown_path_and_method(proxy) -> None:
    assert httpx.get(proxy.url + "/nope").status_code == 404
    response = httpx.get(proxy.url + "/chat/completions", headers={"Authorization": f"Bearer {proxy.key}"})
    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_health_reports_build_and_gil(proxy) -> None:
    data = httpx.get(proxy.root + "/health").json()
    assert data["status"] == "ok"
    assert isinstance(data["free_threaded_build"], bool) and isinstance(data["gil_enabled"], bool)
