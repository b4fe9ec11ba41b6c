"""Canonical answer events: the hub between upstream decoders and client encoders.

Every upstream answer, streamed or not, is decoded into this small event vocabulary (modelled on
Anthropic's, the richest of the four), and every client format is encoded from it:

    MessageStart, then per content block: BlockStart, BlockDelta…, BlockStop,
    then MessageDelta (stop reason, usage) and MessageStop; or StreamError at any point.

Decoders number blocks 0, 1, 2… in the order they start and keep at most one block open at a
time. A non-streamed upstream answer becomes the same events, which a `Collector` folds into an
`Answer`; streaming encoders that must repeat the whole answer at the end (Responses) use the
same `Collector`. So a streamed and a non-streamed answer carry the same text and usage by
construction.

Stop reasons use Anthropic's names (`end_turn`, `stop_sequence`, `max_tokens`, `tool_use`,
`refusal`, `pause_turn`, `model_context_window_exceeded`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import urandom
from typing import Any

from ftproxy._json import loads
from ftproxy.convert.base import Usage

# block kinds
TEXT = "text"
TOOL_USE = "tool_use"
THINKING = "thinking"
REDACTED_THINKING = "redacted_thinking"
# delta kinds (text and thinking share their block kind's name)
JSON = "json"  # a fragment of a tool call's arguments (JSON text)
SIGNATURE = "signature"  # a fragment of a thinking block's signature

END_TURN = "end_turn"
STOP_SEQUENCE = "stop_sequence"
MAX_TOKENS = "max_tokens"
TOOL_USE_STOP = "tool_use"
REFUSAL = "refusal"


@dataclass(slots=True)
class MessageStart:
    id: str | None = None
    usage: Usage | None = None  # only Anthropic knows the input tokens this early


@dataclass(slots=True)
class BlockStart:
    index: int
    kind: str
    id: str = ""  # tool_use
    name: str = ""  # tool_use
    data: str = ""  # redacted_thinking


@dataclass(slots=True)
class BlockDelta:
    index: int
    kind: str  # TEXT, JSON, THINKING or SIGNATURE
    text: str


@dataclass(slots=True)
class BlockStop:
    index: int


@dataclass(slots=True)
class MessageDelta:
    stop_reason: str
    stop_sequence: str | None = None
    usage: Usage | None = None


@dataclass(slots=True)
class MessageStop:
    pass


@dataclass(slots=True)
class StreamError:
    status: int
    message: str


Event = MessageStart | BlockStart | BlockDelta | BlockStop | MessageDelta | MessageStop | StreamError
_EVENT_TYPES = (MessageStart, BlockStart, BlockDelta, BlockStop, MessageDelta, MessageStop, StreamError)


@dataclass(slots=True)
class Block:
    kind: str
    text: str = ""  # text, thinking text, or a tool call's arguments as JSON text
    id: str = ""
    name: str = ""
    signature: str = ""
    data: str = ""


@dataclass(slots=True)
class Answer:
    id: str | None = None
    blocks: list[Block] = field(default_factory=list)
    stop_reason: str = END_TURN
    stop_sequence: str | None = None
    usage: Usage | None = None
    complete: bool = False
    error: StreamError | None = None

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.blocks if b.kind == TEXT)

    @property
    def has_tool_use(self) -> bool:
        return any(b.kind == TOOL_USE for b in self.blocks)


class Collector:
    """Folds canonical events into an `Answer`."""

    __slots__ = ("_parts", "answer")

    def __init__(self) -> None:
        self.answer = Answer()
        self._parts: dict[int, list[str]] = {}

    def add(self, event: Event) -> None:
        # Dispatch on the exact type (an identity test each) rather than an isinstance chain: a
        # whole answer folds six events, a stream one per delta. A subclass of an event type is
        # folded as the type it extends.
        kind = type(event)
        if kind not in _EVENT_TYPES:
            kind = next((t for t in _EVENT_TYPES if isinstance(event, t)), None)
        answer = self.answer
        if kind is BlockDelta:
            parts = self._parts.get(event.index)
            if parts is None:
                return
            if event.kind == SIGNATURE:
                block = answer.blocks[event.index]
                block.signature += event.text
            else:
                parts.append(event.text)
        elif kind is BlockStart:
            self._parts[event.index] = []
            blocks = answer.blocks
            block = Block(event.kind, "", event.id, event.name, "", event.data)
            if len(blocks) == event.index:  # decoders number blocks in order: the next one
                blocks.append(block)
            else:
                while len(blocks) <= event.index:
                    blocks.append(Block(TEXT))
                blocks[event.index] = block
        elif kind is BlockStop:
            self._flush(event.index)
        elif kind is MessageStart:
            answer.id = event.id
            if event.usage is not None:
                answer.usage = event.usage
        elif kind is MessageDelta:
            answer.stop_reason = event.stop_reason
            answer.stop_sequence = event.stop_sequence
            if event.usage is not None:
                answer.usage = event.usage
        elif kind is MessageStop:
            for index in list(self._parts):
                self._flush(index)
            answer.complete = True
        elif kind is StreamError:
            answer.error = event

    def _flush(self, index: int) -> None:
        parts = self._parts.pop(index, None)
        if parts:
            self.answer.blocks[index].text += "".join(parts)


def text_answer(
    answer_id: str | None,
    texts: list[str],
    stop_reason: str,
    stop_sequence: str | None,
    usage: Usage | None,
) -> Answer:
    """The complete `Answer` a `Collector` folds from the events of a whole answer of text blocks
    alone (MessageStart; BlockStart, BlockDelta, BlockStop per text; MessageDelta; MessageStop):
    the decoders' `plain_answer`, which skips those events for the commonest answer."""
    blocks = [Block(TEXT, text) for text in texts]
    return Answer(answer_id, blocks, stop_reason, stop_sequence, usage, True, None)


def new_id(prefix: str) -> str:
    # `secrets.token_hex` is this, through two more calls (token_bytes, SystemRandom.randbytes).
    return prefix + urandom(12).hex()


def parse_arguments(text: str) -> dict[str, Any]:
    """A tool call's JSON arguments as an object, whatever the model produced.

    Empty text is `{}`; JSON that is not an object is wrapped as `{"value": …}`; text that is not
    JSON at all (a call cut off by max_tokens) is kept as `{"raw_arguments": text}` so that
    nothing the model wrote is lost and the conversation can go on.
    """
    if not text or not text.strip():
        return {}
    try:
        value = loads(text)
    except ValueError:
        return {"raw_arguments": text}
    if isinstance(value, dict):
        return value
    return {"value": value}


# --- stop reasons ------------------------------------------------------------------------------

_TO_OPENAI = {
    END_TURN: "stop",
    STOP_SEQUENCE: "stop",
    "pause_turn": "stop",
    MAX_TOKENS: "length",
    "model_context_window_exceeded": "length",
    TOOL_USE_STOP: "tool_calls",
    REFUSAL: "content_filter",
}
_FROM_OPENAI = {
    "stop": END_TURN,
    "length": MAX_TOKENS,
    "tool_calls": TOOL_USE_STOP,
    "function_call": TOOL_USE_STOP,
    "content_filter": REFUSAL,
}


def to_openai_finish(stop_reason: str) -> str:
    return _TO_OPENAI.get(stop_reason, "stop")


def from_openai_finish(finish_reason: Any) -> str:
    return _FROM_OPENAI.get(finish_reason, END_TURN) if isinstance(finish_reason, str) else END_TURN


ANTHROPIC_STOP_REASONS = frozenset(
    {
        END_TURN,
        STOP_SEQUENCE,
        MAX_TOKENS,
        TOOL_USE_STOP,
        REFUSAL,
        "pause_turn",
        "model_context_window_exceeded",
    }
)
