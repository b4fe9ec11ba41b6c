"""The RSGI application: routing, the AI Core checks every inference call passes, fault selection.

Hand-written routing on path prefixes; the hot path (an inference POST) does one dict lookup for
the deployment (in the live table, `state.Deployments`, read once without a lock) and one for the
route.
"""

from __future__ import annotations

import logging
from typing import Any

from ftproxy._json import JSONDecodeError, loads
from ftproxy.simulator import (
    auth,
    control,
    converse,
    gemini_api,
    invoke,
    listing,
    openai_api,
    openai_compat,
    orchestration,
    orchestration_v1,
    rules,
    scenario_models,
)
from ftproxy.simulator.call import Call, Route
from ftproxy.simulator.catalog import DEFAULT_MODELS, ModelSpec
from ftproxy.simulator.errors import aicore_error, azure_error, family_error, injected
from ftproxy.simulator.http import JSON_HEADERS, Reply, Request, StreamReply, json_reply
from ftproxy.simulator.knobs import DirectiveError, Knobs
from ftproxy.simulator.settings import SimulatorSettings
from ftproxy.simulator.state import State
from ftproxy.simulator.streaming import generation_ms, pause

log = logging.getLogger("ftproxy.simulator")

INFERENCE = "/v2/inference/deployments/"
_HEALTH_BODY = b'{"status":"ok"}'

_CONVERSE = Route("converse", converse.converse, converse.last_user_text)
_CONVERSE_STREAM = Route("converse_stream", converse.converse_stream, converse.last_user_text)
_COMPAT = Route("chat", openai_compat.chat, openai_api.last_user_text)
_ROUTES: dict[tuple[str, str], Route] = {
    ("gpt", "chat/completions"): Route("chat", openai_api.chat, openai_api.last_user_text),
    ("gpt", "embeddings"): Route("embeddings", openai_api.embeddings, openai_api.last_input_text),
    ("claude", "converse"): _CONVERSE,
    ("claude", "converse-stream"): _CONVERSE_STREAM,
    ("nova", "converse"): _CONVERSE,
    ("nova", "converse-stream"): _CONVERSE_STREAM,
    **{(f, "chat/completions"): _COMPAT for f in ("mistral", "llama", "ibm", "deepseek", "perplexity")},
    ("claude", "invoke"): Route("invoke", invoke.invoke, invoke.last_user_text),
    ("claude", "invoke-with-response-stream"): Route(
        "invoke_stream", invoke.invoke_stream, invoke.last_user_text
    ),
}
# v2 (`v2/completion`, `v2/embeddings`) and the v1 `completion` SAP's older client speaks.
_ORCHESTRATION_ROUTES = {**orchestration.ROUTES, **orchestration_v1.ROUTES}
_GEMINI = {
    "generateContent": Route("generate", gemini_api.generate, gemini_api.last_user_text),
    "streamGenerateContent": Route("generate_stream", gemini_api.stream_generate, gemini_api.last_user_text),
}


def _find_route(spec: ModelSpec, route: str) -> Route | None:
    if spec.family == "gemini":
        if route.startswith("models/") and ":" in route:
            return _GEMINI.get(route.rsplit(":", 1)[1])
        return None
    return _ROUTES.get((spec.family, route))


def _not_found_for(spec: ModelSpec, route: str) -> Reply:
    """What the upstream behind the deployment answers for a path it does not serve."""
    if spec.family == "gpt":
        return azure_error(404, "Resource not found")
    return family_error(spec.family, 404, f"Unknown operation '{route}' for model {spec.name}")


class SimulatorApp:
    """RSGI app: `granian --interface rsgi` calls `__rsgi__(scope, proto)`."""

    def __init__(
        self,
        settings: SimulatorSettings,
        models: tuple[ModelSpec, ...] = DEFAULT_MODELS,
        token_key: bytes | None = None,
    ) -> None:
        self.settings = settings
        self.models = models
        # Workers share `token_key` so each accepts the tokens the others issued.
        self.state = State(token_key, models)

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":
            return
        method = scope.method
        body = await proto() if method in ("POST", "PUT", "PATCH", "DELETE") else b""
        req = Request(method, scope.path, scope.query_string, scope.headers, body)
        try:
            result = await self.dispatch(req)
        except Exception:
            log.exception("simulator failed on %s %s", method, scope.path)
            result = json_reply(500, {"error": {"code": "500", "message": "simulator internal error"}})
        if isinstance(result, StreamReply):
            await result.produce(proto)
        else:
            proto.response_bytes(result.status, result.headers, result.body)

    async def dispatch(self, req: Request) -> Reply | StreamReply:
        path = req.path
        if path.startswith(INFERENCE):
            return await self.inference(req)
        if path == "/healthz":
            return Reply(200, list(JSON_HEADERS), _HEALTH_BODY)
        if path == "/oauth/token":
            return await auth.token(req, self.settings, self.state)
        if path.startswith("/v2/lm/deployments"):
            return self.lm(req)
        if path == scenario_models.PATH:
            return self.models_catalog(req)
        if path.startswith("/_sim/"):
            return control.handle(req, self.state, self.models)
        return aicore_error(404, f"No route for {req.method} {path}", path)

    def lm(self, req: Request) -> Reply:
        denied = auth.check_bearer(req, self.state) or auth.check_resource_group(req, self.settings, None)
        if denied is not None:
            self.state.count_request("listing", None, denied.status)
            return denied
        rest = req.path[len("/v2/lm/deployments") :].strip("/")
        table = self.state.deployments.table
        reply = listing.listing(req, table) if not rest else listing.one(req, table, rest)
        self.state.count_request("listing", None, reply.status)
        return reply

    def models_catalog(self, req: Request) -> Reply:
        """The AI API's model catalog (`scenario_models.py`): the same token and resource group
        checks as the deployments listing."""
        denied = auth.check_bearer(req, self.state) or auth.check_resource_group(req, self.settings, None)
        reply = denied or scenario_models.catalog(self.state, self.models)
        self.state.count_request("models_catalog", None, reply.status)
        return reply

    async def inference(self, req: Request) -> Reply | StreamReply:
        dep, _, route_path = req.path[len(INFERENCE) :].partition("/")
        route_path = route_path.rstrip("/")
        state = self.state
        denied = auth.check_bearer(req, state) or auth.check_resource_group(req, self.settings, dep)
        if denied is None and dep == orchestration.DEPLOYMENT_ID:
            return await self._orchestration(req, route_path)
        # The live table, read once and without a lock (a deleted deployment is SAP's 404).
        entry = None if denied is not None else state.deployments.table.get(dep)
        if entry is None:
            if denied is None:
                group = req.header("ai-resource-group")
                denied = aicore_error(
                    404, f"Deployment {dep} not found in resource group '{group}'", req.path, code="01010001"
                )
            state.count_request("inference", dep or None, denied.status)
            return denied
        spec = entry.spec
        route = _find_route(spec, route_path)
        if route is None:
            reply = _not_found_for(spec, route_path)
        elif req.method != "POST":
            reply = family_error(spec.family, 405, f"Method {req.method} not allowed")
        elif spec.family == "gpt" and not req.query.get("api-version"):
            # Azure answers a missing api-version with a bare 404.
            reply = azure_error(404, "Resource not found")
        else:
            return await self._call(req, spec, dep, route, route_path)
        state.count_request(route.kind if route else "inference", dep, reply.status)
        return reply

    async def _orchestration(self, req: Request, route_path: str) -> Reply | StreamReply:
        """The Orchestration Service deployment (`orchestration.py`, `orchestration_v1.py`): any
        catalog model by name."""
        dep, route = orchestration.DEPLOYMENT_ID, _ORCHESTRATION_ROUTES.get(route_path)
        if route is None:
            reply = orchestration.error(404, f"No route for '{route_path}'", "Request")
        elif req.method != "POST":
            reply = orchestration.error(405, f"Method {req.method} not allowed", "Request")
        else:
            return await self._call(req, orchestration.SPEC, dep, route, route_path)
        self.state.count_request("orchestration", dep, reply.status)
        return reply

    async def _call(
        self, req: Request, spec: ModelSpec, dep: str, route: Route, route_path: str
    ) -> Reply | StreamReply:
        state = self.state
        try:
            body = loads(req.body)
        except (JSONDecodeError, ValueError):
            body = None
        if not isinstance(body, dict):
            reply = family_error(spec.family, 400, "The request body is not a valid JSON object.")
            state.count_request(route.kind, dep, 400)
            return reply
        knobs = Knobs.from_settings(self.settings)
        try:
            fault = state.take_fault(dep)
            if fault is not None:
                knobs.apply(fault.knobs)
            knobs.apply_headers(req.headers.get)
            knobs.apply_text(route.last_user_text(body))
        except DirectiveError as exc:
            state.count_request(route.kind, dep, 400)
            return family_error(spec.family, 400, str(exc))
        if knobs.status is not None and (knobs.status >= 300 or knobs.body is not None):
            await pause(knobs.latency_ms)
            state.count_request(route.kind, dep, knobs.status)
            return injected(spec.family, knobs.status, knobs.retry_after, knobs.body)
        broken = rules.check(spec, body)  # the model's own limits (catalog.ModelSpec)
        if broken is not None:
            await pause(knobs.latency_ms)
            state.count_request(route.kind, dep, broken.status)
            return broken
        call = Call(req, spec, dep, body, knobs, self.settings, state, route_path)
        result = route.handler(call)
        if isinstance(result, StreamReply):
            state.count_request(
                route.kind if route.kind.endswith("_stream") else route.kind + "_stream", dep, 200
            )
            return result
        # A non-streamed answer arrives when the whole generation is done.
        await pause(generation_ms(knobs, knobs.tokens) if result.status < 300 else knobs.latency_ms)
        state.count_request(route.kind, dep, result.status)
        return result


__all__ = ["INFERENCE", "SimulatorApp"]
