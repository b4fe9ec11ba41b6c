"""The `/_sim/*` control API: fault injection, counters and the deployment table.

Not part of AI Core; unauthenticated, for tests and benchmarks on loopback. State is per worker,
so use it with one worker (the default). Creating and deleting deployments changes the live
table that inference and the AI API listing read (`state.Deployments`).

    POST   /_sim/faults        {"deployment": "<id>|<model name>|*", "status": 503, "count": 2,
                                "retry_after": "1", "body": {...}, ...directive keys...}
    GET    /_sim/faults        pending faults
    DELETE /_sim/faults        clear every fault (token faults too)
    POST   /_sim/token-faults  {"status": 503, "count": 1, "latency_ms": 0, "retry_after": null, "body": null}
    DELETE /_sim/token-faults  clear token faults
    DELETE /_sim/tokens        revoke every issued token (clients then get 401 and must re-fetch)
    GET    /_sim/stats         counters; DELETE resets them
    GET    /_sim/deployments   the live table: model, deployment id, family, API, URL, generation
    POST   /_sim/deployments   {"model": "<catalog name>"} -> 201 {"id", "deploymentUrl", "model"}:
                               a new deployment of the model, id `deployment_id(name, generation)`
                               (400 for an unknown model or one offered only through orchestration)
    DELETE /_sim/deployments/<id>  removes it: inference on the id is then AI Core's 404 and the
                               listing no longer shows it (404 for an id not in the table)
"""

from __future__ import annotations

from typing import Any

from ftproxy._json import JSONDecodeError, dumps, loads
from ftproxy.simulator import catalog
from ftproxy.simulator.catalog import ModelSpec, deployment_id
from ftproxy.simulator.http import Reply, Request, json_reply
from ftproxy.simulator.knobs import DirectiveError, Knobs
from ftproxy.simulator.state import Fault, State, TokenFault


def _bad(message: str) -> Reply:
    return json_reply(400, {"error": message})


def _object(req: Request) -> dict[str, Any] | Reply:
    try:
        obj = loads(req.body or b"{}")
    except (JSONDecodeError, ValueError):
        return _bad("body is not JSON")
    return obj if isinstance(obj, dict) else _bad("body must be a JSON object")


def _count(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DirectiveError("count must be a positive integer or null")
    return value


def _body_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return dumps(value).decode()


def add_fault(req: Request, state: State, models: tuple[ModelSpec, ...]) -> Reply:
    obj = _object(req)
    if isinstance(obj, Reply):
        return obj
    target = str(obj.pop("deployment", "*"))
    if any(m.name == target for m in models):
        target = deployment_id(target)
    try:
        remaining = _count(obj.pop("count", None))
        knobs = {k: v for k, v in obj.items() if v is not None}
        if "body" in knobs:
            knobs["body"] = _body_text(knobs["body"])
        Knobs().apply(knobs)  # validate now, not on the request it hits
    except DirectiveError as exc:
        return _bad(str(exc))
    status = knobs.get("status")
    state.add_fault(Fault(target, None if status is None else int(status), remaining, knobs))
    return json_reply(201, {"faults": state.faults()})


def add_token_fault(req: Request, state: State) -> Reply:
    obj = _object(req)
    if isinstance(obj, Reply):
        return obj
    try:
        remaining = _count(obj.get("count"))
        status = obj.get("status")
        if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
            raise DirectiveError("status must be an HTTP status code")
        latency = float(obj.get("latency_ms") or 0.0)
    except (DirectiveError, TypeError, ValueError) as exc:
        return _bad(str(exc))
    retry = obj.get("retry_after")
    state.add_token_fault(
        TokenFault(
            status, remaining, latency, None if retry is None else str(retry), _body_text(obj.get("body"))
        )
    )
    return json_reply(201, {"ok": True})


def _url(req: Request, dep: str) -> str:
    return f"{req.base_url()}/v2/inference/deployments/{dep}"


def deployments(req: Request, state: State) -> Reply:
    table = [
        {
            "model": e.spec.name,
            "deployment_id": e.id,
            "family": e.spec.family,
            "api": e.spec.api,
            "url": _url(req, e.id),
            "generation": e.generation,
        }
        for e in sorted(state.deployments.table.values(), key=lambda e: e.serial)
    ]
    return json_reply(200, {"deployments": table})


def create_deployment(req: Request, state: State, models: tuple[ModelSpec, ...]) -> Reply:
    obj = _object(req)
    if isinstance(obj, Reply):
        return obj
    name = obj.get("model")
    spec = catalog.find(name, models) if isinstance(name, str) else None
    if spec is None:
        return _bad(f"'model' must name a catalog model, got {name!r}")
    if not spec.deployed:
        return _bad(f"{spec.name} is offered only through the Orchestration Service; it has no deployment")
    entry = state.deployments.create(spec)
    return json_reply(201, {"id": entry.id, "deploymentUrl": _url(req, entry.id), "model": spec.name})


def delete_deployment(req: Request, state: State, dep: str) -> Reply:
    entry = state.deployments.delete(dep)
    if entry is None:
        return json_reply(404, {"error": f"no deployment {dep}"})
    return json_reply(200, {"id": entry.id, "model": entry.spec.name, "deleted": True})


_DEPLOYMENT = "/_sim/deployments/"


def handle(req: Request, state: State, models: tuple[ModelSpec, ...]) -> Reply:
    key = (req.method, req.path.rstrip("/"))
    if key == ("GET", "/_sim/stats"):
        return json_reply(200, state.snapshot())
    if key == ("DELETE", "/_sim/stats"):
        state.reset_stats()
        return json_reply(200, state.snapshot())
    if key == ("POST", "/_sim/faults"):
        return add_fault(req, state, models)
    if key == ("GET", "/_sim/faults"):
        return json_reply(200, {"faults": state.faults()})
    if key == ("DELETE", "/_sim/faults"):
        state.clear_faults()
        return json_reply(200, {"faults": []})
    if key == ("POST", "/_sim/token-faults"):
        return add_token_fault(req, state)
    if key == ("DELETE", "/_sim/token-faults"):
        state.clear_token_faults()
        return json_reply(200, {"ok": True})
    if key == ("DELETE", "/_sim/tokens"):
        return json_reply(200, {"revoked": state.revoke_tokens()})
    if key == ("GET", "/_sim/deployments"):
        return deployments(req, state)
    if key == ("POST", "/_sim/deployments"):
        return create_deployment(req, state, models)
    if key[0] == "DELETE" and key[1].startswith(_DEPLOYMENT):
        return delete_deployment(req, state, key[1][len(_DEPLOYMENT) :])
    return json_reply(404, {"error": f"no simulator control endpoint {req.method} {req.path}"})


__all__ = ["handle"]
