"""Timing and fault behaviour shared by every streamed answer.

A family renders its answer as three lists of wire bytes: the prelude (sent with the first
byte), the content chunks (one per word/fragment; these are paced, counted by cut/stall and
delayed by time to first token) and the epilogue (finish, usage, `[DONE]`). This module
decides when each is written. All waiting is `asyncio.sleep` on the worker's loop, so a
thousand slow streams cost a thousand timers, not a thousand threads.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ftproxy.simulator.knobs import Knobs
from ftproxy.simulator.state import State


@dataclass(slots=True)
class StreamBody:
    content_type: str
    prelude: list[bytes]
    content: list[bytes]
    epilogue: list[bytes]
    # Written after the first content chunk when the `malformed` fault is on.
    garbage: bytes = b"data: {this is not json\n\n"
    headers: list[tuple[str, str]] = field(default_factory=list)


def group_events(events: list[tuple[bytes, bool]]) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Split wire events tagged `is_chunk` into prelude, content and epilogue.

    Structural events (block start/stop, signatures) ride with the next content chunk, so
    pacing, cut and stall count only what the model "generates".
    """
    prelude: list[bytes] = []
    content: list[bytes] = []
    pending: list[bytes] = []
    for data, is_chunk in events:
        pending.append(data)
        if is_chunk:
            if content:
                content.append(b"".join(pending))
            else:
                # Everything before the first chunk goes out with the response headers.
                prelude = pending[:-1]
                content.append(pending[-1])
            pending = []
    if not content:
        return pending, [], []
    return prelude, content, pending


async def pause(ms: float) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000.0)


def generation_ms(knobs: Knobs, chunks: int) -> float:
    """How long a model pacing `chunks` chunks takes: what a non-streamed reply waits for."""
    pace = (max(0, chunks - 1) * 1000.0 / knobs.tps) if knobs.tps > 0 else 0.0
    return knobs.latency_ms + knobs.ttft_ms + pace


async def send_stream(proto: Any, state: State, knobs: Knobs, body: StreamBody) -> None:
    await pause(knobs.latency_ms)
    headers = [("content-type", body.content_type), ("cache-control", "no-cache"), *body.headers]
    cut = knobs.cut_after is not None
    if cut and knobs.cut == "abrupt":
        # Promising more bytes than will come makes the server drop the connection mid-body,
        # which is what a client sees when the upstream dies half-way.
        size = sum(map(len, body.prelude)) + sum(map(len, body.content)) + sum(map(len, body.epilogue))
        headers.append(("content-length", str(size + 1024)))
    transport = proto.response_stream(200, headers)
    state.stream_opened()
    outcome = "disconnected"
    try:
        plain = not (knobs.ttft_ms or knobs.tps or cut or knobs.stall_after is not None or knobs.malformed)
        if plain:
            await transport.send_bytes(b"".join(body.prelude + body.content + body.epilogue))
            outcome = "completed"
            return
        if body.prelude:
            await transport.send_bytes(b"".join(body.prelude))
        await pause(knobs.ttft_ms)
        outcome = await _send_content(proto, transport, knobs, body)
        if outcome == "completed" and body.epilogue:
            await transport.send_bytes(b"".join(body.epilogue))
    except Exception:
        # RSGIProtocolClosed and friends: the client went away mid-stream.
        outcome = "disconnected"
    finally:
        state.stream_closed(outcome)


async def _send_content(proto: Any, transport: Any, knobs: Knobs, body: StreamBody) -> str:
    loop = asyncio.get_running_loop()
    interval = 1.0 / knobs.tps if knobs.tps > 0 else 0.0
    start = loop.time()
    stop_at = len(body.content)
    for limit in (knobs.cut_after, knobs.stall_after):
        if limit is not None:
            stop_at = min(stop_at, limit)
    for i in range(stop_at):
        if interval and i:
            # Pace against the start time, not the previous send, so delays do not add up.
            delay = start + i * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        await transport.send_bytes(body.content[i])
        if knobs.malformed and i == 0:
            await transport.send_bytes(body.garbage)
    if knobs.cut_after is not None and (knobs.stall_after is None or knobs.cut_after <= knobs.stall_after):
        return "cut"
    if knobs.stall_after is not None:
        # Keep the connection open, silent, until the client gives up.
        await proto.client_disconnect()
        return "disconnected"
    return "completed"


__all__ = ["StreamBody", "generation_ms", "group_events", "pause", "send_stream"]
