"""The OpenAI-compatible chat route of the models SAP hosts itself and of Perplexity.

`POST {deploymentUrl}/chat/completions` with `"model"` in the body (SAP's "consume models"
examples for `aicore-mistralai`, `aicore-opensource`, `aicore-ibm` and `perplexity-ai`); SAP's
SDK reaches it through its OpenAI client, which also sends `api-version` (ignored here, not
required). The answer is the OpenAI chat completion the GPT deployments give; a body naming
another model is vLLM's 404.
"""

from __future__ import annotations

from ftproxy.simulator import openai_api
from ftproxy.simulator.call import Call
from ftproxy.simulator.errors import family_error
from ftproxy.simulator.http import Reply, StreamReply


def chat(call: Call) -> Reply | StreamReply:
    model = call.body.get("model")
    if model is not None and model != call.spec.name:
        return family_error(call.spec.family, 404, f"The model `{model}` does not exist.")
    return openai_api.chat(call)


__all__ = ["chat"]
