"""The exchange every candidate performs, and the upstream that answers it."""

from __future__ import annotations

import asyncio
import json

# The exchange: a ~1 kB chat body out, a ~1 kB chat completion back.

_PROMPT = "Summarise the following notes for the weekly report, keeping every figure exact. " * 10
REQUEST_BODY = json.dumps(
    {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": _PROMPT.strip()},
        ],
        "max_tokens": 256,
        "temperature": 0.2,
        "stream": False,
    },
    separators=(",", ":"),
).encode()
_ANSWER = "The notes report steady progress; every figure is kept exactly as written. " * 9
RESPONSE_BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _ANSWER.strip()},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 212, "completion_tokens": 160, "total_tokens": 372},
    },
    separators=(",", ":"),
).encode()
HEADERS = {
    "content-type": "application/json",
    "authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.bench-token-of-a-realistic-length.signature-part",
    "ai-resource-group": "default",
}
PATH = "/v2/inference/deployments/d0123456789abcde/chat/completions?api-version=2024-10-21"


# The upstream: keep-alive HTTP/1.1, answer after `latency_ms` (a query parameter) without
# blocking the loop, so 64 waiting calls cost it nothing but their bytes.

_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(RESPONSE_BODY)
    + RESPONSE_BODY
)


class _Upstream(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].split(b"\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    # No candidate should chunk a bytes body; say so loudly instead of hanging.
                    self._send(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    return
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            target = head[0].split(b" ")[1]
            marker = target.find(b"latency_ms=")
            delay = float(target[marker + 11 :].split(b"&")[0]) / 1000 if marker >= 0 else 0.0
            if delay:
                asyncio.get_running_loop().call_later(delay, self._send, _RESPONSE)
            else:
                self._send(_RESPONSE)

    def _send(self, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(payload)


def serve_upstream(port: int) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Upstream, "127.0.0.1", port, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())
