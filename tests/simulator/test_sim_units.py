"""In-process checks of the simulator's pure parts: catalog, settings, directives, answers, frames."""

from __future__ import annotations

import argparse
import re
import shlex
import struct
import zlib

import pytest

from ftproxy.simulator import SimulatorSettings, add_arguments, catalog, settings_from_args
from ftproxy.simulator.answer import ToolDecl, plan, sample_arguments, text_chars
from ftproxy.simulator.eventstream import FrameError, decode_frames, encode_frame
from ftproxy.simulator.knobs import DirectiveError, Knobs, parse_pairs
from ftproxy.simulator.streaming import group_events
from ftproxy.simulator.testing import command


def test_deployment_ids_are_deterministic_and_unique() -> None:
    ids = [catalog.deployment_id(m.name) for m in catalog.DEFAULT_MODELS]
    assert all(re.fullmatch(r"d[0-9a-f]{15}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert catalog.deployment_id("gpt-4.1") == catalog.deployment_id("gpt-4.1")
    assert catalog.by_deployment_id()[catalog.deployment_id("gemini-2.5-pro")].family == "gemini"


def test_catalog_has_the_required_models() -> None:
    table = {m.name: (m.family, m.api) for m in catalog.DEFAULT_MODELS}
    assert table["gpt-4.1"] == ("gpt", "chat")
    assert table["gpt-5"] == ("gpt", "chat")
    assert table["gpt-4o-mini"] == ("gpt", "chat")
    assert table["text-embedding-3-small"] == ("gpt", "embeddings")
    assert table["anthropic--claude-4.5-sonnet"] == ("claude", "converse")
    assert table["anthropic--claude-3.5-sonnet"] == ("claude", "invoke")
    assert table["gemini-2.5-pro"][0] == "gemini"


def test_cli_flags_round_trip() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert settings_from_args(parser.parse_args([])) == SimulatorSettings()
    argv = shlex.split(
        "--host 127.0.0.2 --port 9000 --workers 2 --client-id a --client-secret b --token-ttl 5 "
        "--resource-group rg1 --resource-group rg2 --latency-ms 1.5 --ttft-ms 2 --tokens-per-second 30 "
        "--response-tokens 7 --python-literal-lines --backlog 8192"
    )
    s = settings_from_args(parser.parse_args(argv))
    assert (s.host, s.port, s.workers, s.client_id, s.client_secret, s.token_ttl) == (
        "127.0.0.2",
        9000,
        2,
        "a",
        "b",
        5,
    )
    assert s.resource_groups == ("rg1", "rg2") and s.backlog == 8192
    assert (s.latency_ms, s.ttft_ms, s.tokens_per_second, s.response_tokens) == (1.5, 2.0, 30.0, 7)
    assert s.python_literal_lines is True
    # The test helper's command line reproduces the settings through the same flags.
    assert settings_from_args(parser.parse_args(command(s)[3:])) == s


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        SimulatorSettings(workers=0)
    with pytest.raises(ValueError):
        SimulatorSettings(resource_groups=())
    with pytest.raises(ValueError):
        SimulatorSettings(latency_ms=-1)


def test_directive_parsing() -> None:
    assert parse_pairs("status=400,body={}") == {"status": "400", "body": "{}"}
    assert parse_pairs("status=429, retry_after=2") == {"status": "429", "retry_after": "2"}
    assert parse_pairs('body={"a": 1, "b": [2]}') == {"body": '{"a": 1, "b": [2]}'}
    knobs = Knobs()
    knobs.apply_text('hello [[sim:tokens=3,tps=50]] and [[sim:status=400,body={"x": [1, 2]}]]')
    assert (knobs.tokens, knobs.tps, knobs.status, knobs.body) == (3, 50.0, 400, '{"x": [1, 2]}')
    with pytest.raises(DirectiveError):
        Knobs().apply_text("[[sim:tokenz=3]]")
    with pytest.raises(DirectiveError):
        Knobs().apply_text("[[sim:status=abc]]")
    with pytest.raises(DirectiveError):
        Knobs().apply_text("[[sim:status]]")


def test_answer_plan_limits_and_usage() -> None:
    full = plan(tokens=16, prompt_chars=9)
    assert len(full.chunks) == 16 and full.finish == "stop"
    assert (full.prompt_tokens, full.completion_tokens, full.total_tokens) == (3, 16, 19)
    short = plan(tokens=16, prompt_chars=9, max_tokens=4)
    assert short.chunks == full.chunks[:4] and short.finish == "length"
    stopped = plan(tokens=16, prompt_chars=1, stop=["simulated"])
    assert stopped.finish == "stop_sequence" and stopped.stop_sequence == "simulated"
    assert "simulated" not in stopped.text
    assert text_chars({"a": "xy", "b": ["z", {"c": "w"}], "n": 5}) == 4


def test_tool_arguments_follow_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"],
    }
    assert sample_arguments(schema) == {"city": "Paris", "unit": "c"}
    answer = plan(tokens=5, prompt_chars=1, tool="*", tools=[ToolDecl("lookup", schema)])
    assert answer.tool is not None and answer.tool.name == "lookup" and answer.finish == "tool"
    assert "".join(answer.tool.fragments) == answer.tool.arguments
    assert answer.completion_tokens == len(answer.tool.fragments)


def test_group_events_attaches_structure_to_chunks() -> None:
    events = [(b"start", False), (b"a", True), (b"stop0", False), (b"b", True), (b"end", False)]
    assert group_events(events) == ([b"start"], [b"a", b"stop0b"], [b"end"])
    assert group_events([(b"x", False)]) == ([b"x"], [], [])


def _independent_frame_check(frame: bytes) -> tuple[bytes, bytes]:
    total, hlen, prelude_crc = struct.unpack(">III", frame[:12])
    assert total == len(frame)
    assert prelude_crc == zlib.crc32(frame[:8])
    assert struct.unpack(">I", frame[-4:])[0] == zlib.crc32(frame[:-4])
    return frame[12 : 12 + hlen], frame[12 + hlen : -4]


def test_event_stream_frames() -> None:
    frame = encode_frame("chunk", b'{"bytes":"e30="}')
    headers, payload = _independent_frame_check(frame)
    assert payload == b'{"bytes":"e30="}'
    assert b"\x0b:event-type\x07\x00\x05chunk" in headers
    assert b"\x0d:content-type\x07\x00\x10application/json" in headers
    assert b"\x0d:message-type\x07\x00\x05event" in headers
    (decoded,) = decode_frames(frame)
    assert decoded.headers == {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    with pytest.raises(FrameError):
        decode_frames(encode_frame("chunk", b"{}", corrupt=True))
