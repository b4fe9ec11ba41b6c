"""The demo's models, one per upstream API: every endpoint is tested against each."""

FAMILIES = {
    "gpt": "gpt-4.1",  # Azure OpenAI chat
    "claude-converse": "anthropic--claude-4.5-sonnet",  # Bedrock Converse
    "claude-invoke": "anthropic--claude-3.5-sonnet",  # Bedrock invoke (Anthropic body)
    "gemini": "gemini-2.5-pro",  # Vertex generateContent
}
MODELS = list(FAMILIES.values())
IDS = list(FAMILIES)
CLAUDE = [FAMILIES["claude-converse"], FAMILIES["claude-invoke"]]

WEATHER_TOOL_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
CALL_WEATHER = "What is the weather in Paris? [[sim:tool=get_weather]]"
