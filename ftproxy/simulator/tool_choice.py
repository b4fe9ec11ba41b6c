"""`tool_choice` as each upstream API spells it, read into one `ToolChoice` the answer planner obeys.

Real models honour it, so the simulator does too:
- auto (or absent): the `[[sim:tool=…]]` directive decides, as before;
- none: no tool call, whatever the directive says;
- required (Anthropic `any`, OpenAI `required`, Gemini `ANY`, Converse `any`): a call of the tool
  the directive names when it names a declared one, else of the first declared tool;
- a named tool (Anthropic `tool`, OpenAI `function`, Converse `tool`, Gemini `ANY` with one
  allowed function name): a call of that tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Mode = Literal["auto", "none", "required"]


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: Mode = "auto"
    name: str | None = None  # with mode "required": this tool and no other


AUTO = ToolChoice()
NONE = ToolChoice("none")
REQUIRED = ToolChoice("required")


def from_anthropic(value: Any) -> ToolChoice:
    """Bedrock invoke (Anthropic Messages): {"type": auto|any|tool|none, "name"?}."""
    if not isinstance(value, dict):
        return AUTO
    kind = value.get("type")
    if kind == "none":
        return NONE
    if kind == "any":
        return REQUIRED
    if kind == "tool" and isinstance(value.get("name"), str):
        return ToolChoice("required", value["name"])
    return AUTO


def from_converse(value: Any) -> ToolChoice:
    """Converse `toolConfig.toolChoice`: {"auto": {}} | {"any": {}} | {"tool": {"name"}}."""
    if not isinstance(value, dict):
        return AUTO
    if "any" in value:
        return REQUIRED
    tool = value.get("tool")
    if isinstance(tool, dict) and isinstance(tool.get("name"), str):
        return ToolChoice("required", tool["name"])
    return AUTO


def from_openai(value: Any) -> ToolChoice:
    """Azure OpenAI chat: "none" | "auto" | "required" | {"type": "function", "function": {"name"}}."""
    if value == "none":
        return NONE
    if value == "required":
        return REQUIRED
    if isinstance(value, dict):
        function = value.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return ToolChoice("required", function["name"])
    return AUTO


def from_gemini(tool_config: Any) -> ToolChoice:
    """Vertex `toolConfig.functionCallingConfig`: mode AUTO | ANY | NONE, allowedFunctionNames."""
    if not isinstance(tool_config, dict):
        return AUTO
    config = tool_config.get("functionCallingConfig") or tool_config.get("function_calling_config")
    if not isinstance(config, dict):
        return AUTO
    mode = str(config.get("mode", "")).upper()
    if mode == "NONE":
        return NONE
    if mode == "ANY":
        names = config.get("allowedFunctionNames") or config.get("allowed_function_names")
        if isinstance(names, list) and len(names) == 1 and isinstance(names[0], str):
            return ToolChoice("required", names[0])
        return REQUIRED
    return AUTO


__all__ = [
    "AUTO",
    "NONE",
    "REQUIRED",
    "ToolChoice",
    "from_anthropic",
    "from_converse",
    "from_gemini",
    "from_openai",
]
