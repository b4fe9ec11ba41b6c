"""Every model of the simulator's catalog, through every client API, streamed and not, behind a
proxy whose config names no deployment (as the demo writes it): discovery finds the direct
deployments and the orchestration deployment, which serves the models that have none. And
/v1/models says each model's route to both SDKs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from processes import running_proxy

from ftproxy.demo import DEMO_KEY, write_demo_config
from ftproxy.models import classify
from ftproxy.simulator import catalog

pytestmark = pytest.mark.e2e

CHAT_MODELS = [m for m in catalog.DEFAULT_MODELS if m.api != "embeddings"]
HI = [{"role": "user", "content": "Say hi"}]


@pytest.fixture(scope="module")
def discovering(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("catalog")
    config = write_demo_config(folder, simulator, host="127.0.0.1", port=3001, discover=True)
    with running_proxy(config, folder) as (root, _):
        yield root


def _ask(root: str, endpoint: str, model: str, stream: bool) -> str:
    if endpoint == "messages":
        client = anthropic.Anthropic(base_url=root, api_key=DEMO_KEY, max_retries=0)
        if stream:
            with client.messages.stream(model=model, max_tokens=32, messages=HI) as events:
                return "".join(events.text_stream)
        message = client.messages.create(model=model, max_tokens=32, messages=HI)
        return "".join(b.text for b in message.content if b.type == "text")
    openai_client = openai.OpenAI(base_url=root + "/v1", api_key=DEMO_KEY, max_retries=0)
    if endpoint == "chat":
        if stream:
            chunks = openai_client.chat.completions.create(
                model=model, messages=HI, max_tokens=32, stream=True
            )
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        answer = openai_client.chat.completions.create(model=model, messages=HI, max_tokens=32)
        return answer.choices[0].message.content or ""
    if stream:
        events = list(
            openai_client.responses.create(model=model, input="Say hi", max_output_tokens=32, stream=True)
        )
        assert events[-1].type == "response.completed"
        return events[-1].response.output_text
    return openai_client.responses.create(model=model, input="Say hi", max_output_tokens=32).output_text


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("endpoint", ["chat", "messages", "responses"])
@pytest.mark.parametrize("model", [m.name for m in CHAT_MODELS])
def test_every_catalog_model_answers_through_every_client_api(
    discovering: str, model: str, endpoint: str, stream: bool
) -> None:
    assert _ask(discovering, endpoint, model, stream)


def test_the_listing_says_each_models_family_and_route_to_both_sdks(discovering: str) -> None:
    listed = openai.OpenAI(base_url=discovering + "/v1", api_key=DEMO_KEY, max_retries=0).models.list()
    routes = {m.id: (m.model_extra or {}).get("route") for m in listed}
    families = {m.id: (m.model_extra or {}).get("family") for m in listed}
    for spec in CHAT_MODELS:
        # a model without a deployment is listed from the AI API's catalog, through orchestration
        assert routes[spec.name] == ("direct" if spec.deployed else "orchestration"), spec.name
        assert families[spec.name] == classify(spec.name)[0].value
    page = anthropic.Anthropic(base_url=discovering, api_key=DEMO_KEY, max_retries=0).models.list()
    anthropic_routes = {m.id: (m.model_extra or {}).get("route") for m in page.data}
    assert anthropic_routes["anthropic--claude-4.5-sonnet"] == "direct"
    assert anthropic_routes["meta--llama3.1-70b-instruct"] == "orchestration"
    assert anthropic_routes["sonnet"] == "direct"  # an alias says its target's route


def test_info_lists_the_models_with_route_family_and_subaccount(simulator: str, tmp_path: Path) -> None:
    config = write_demo_config(tmp_path, simulator, host="127.0.0.1", port=3001, discover=True)
    out = subprocess.run(
        [sys.executable, "-m", "ftproxy", "info", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rows = {
        line.split()[0]: line.split()[1:]
        for line in out.splitlines()
        if line.startswith("  ") and "--" in line
    }
    assert rows["anthropic--claude-4.5-sonnet"] == ["claude", "direct", "demo"]
    assert rows["mistralai--mistral-small-instruct"] == ["mistral", "orchestration", "demo"]
    assert rows["ibm--granite-13b-chat"] == ["ibm", "orchestration", "demo"]
    assert "any other model name: orchestration via demo" in out


def test_the_metric_says_family_and_route(discovering: str) -> None:
    orchestrated = next(m.name for m in CHAT_MODELS if not m.deployed and m.family == "llama")
    for model in ("amazon--nova-lite", orchestrated):
        assert _ask(discovering, "chat", model, False)
    scrape = httpx.get(discovering + "/metrics", timeout=10).text
    assert 'ftproxy_model_requests_total{family="nova",route="direct"}' in scrape
    assert 'ftproxy_model_requests_total{family="llama",route="orchestration"}' in scrape
