"""The Orchestration Service's content filters, simply: does simulated content pass?

`[[sim:filter=input|output]]` makes the prompt (or the answer) violent content: Azure Content
Safety rates it Violence 4 (medium) and everything else 0, Llama Guard 3 calls it
`violent_crimes`. A filter lets content through when every severity is at most its threshold
(Azure's 0/2/4/6: "allow safe" … "allow all"; the service's default for a category left out is
taken as 2), so `violence: 4` or `6` lets the simulated content through and `0` or `2` blocks it;
Llama Guard blocks it when `violent_crimes` is on. With no filter configured for that direction
the directive alone blocks, as the simulator always did (a quick way to see a block).
"""

from __future__ import annotations

from typing import Any

from ftproxy.simulator.answer import as_dict, as_list

_CATEGORIES = {"hate": "Hate", "self_harm": "SelfHarm", "sexual": "Sexual", "violence": "Violence"}
_CLEAN = dict.fromkeys(_CATEGORIES.values(), 0)
_VIOLENT = {**_CLEAN, "Violence": 4}
_DEFAULT_THRESHOLD = 2


def _filters(modules: dict[str, Any], direction: str) -> list[dict[str, Any]]:
    section = as_dict(as_dict(modules.get("filtering")).get(direction))
    return [as_dict(f) for f in as_list(section.get("filters"))]


def blocks(modules: dict[str, Any], direction: str) -> bool:
    """Whether the configured filters of `direction` block the simulated violent content."""
    configured = _filters(modules, direction)
    if not configured:
        return True
    for spec in configured:
        config = as_dict(spec.get("config"))
        if spec.get("type") == "llama_guard_3_8b" and config.get("violent_crimes") is True:
            return True
        if spec.get("type") == "azure_content_safety":
            threshold = config.get("violence", _DEFAULT_THRESHOLD)
            if isinstance(threshold, int) and _VIOLENT["Violence"] > threshold:
                return True
    return False


def scores(modules: dict[str, Any], direction: str, *, flagged: bool = True) -> dict[str, Any]:
    """The filters' results for the content (violent when `flagged`), keyed by filter type."""
    out: dict[str, Any] = {}
    types = {str(f.get("type")) for f in _filters(modules, direction)} or {"azure_content_safety"}
    if "azure_content_safety" in types:
        out["azure_content_safety"] = dict(_VIOLENT if flagged else _CLEAN)
    if "llama_guard_3_8b" in types:
        out["llama_guard_3_8b"] = {"violent_crimes": flagged}
    return out


__all__ = ["blocks", "scores"]
