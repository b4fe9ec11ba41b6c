"""Deterministic embedding vectors: the same text and size always give the same unit vector."""

from __future__ import annotations

import base64
import hashlib
import math
import random
import struct
from functools import lru_cache


@lru_cache(maxsize=1024)
def _unit_vector(text: str, dims: int) -> tuple[float, ...]:
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    rng = random.Random(seed)
    raw = [rng.random() * 2.0 - 1.0 for _ in range(dims)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    # Rounded through float32 so the float and base64 encodings carry the same numbers.
    packed = struct.pack(f"<{dims}f", *(x / norm for x in raw))
    return struct.unpack(f"<{dims}f", packed)


@lru_cache(maxsize=1024)
def _base64(text: str, dims: int) -> str:
    vec = _unit_vector(text, dims)
    return base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()


def embedding(text: str, dims: int, as_base64: bool = False) -> list[float] | str:
    """OpenAI's `embedding` value: a float list, or base64 of little-endian float32s."""
    if as_base64:
        return _base64(text, dims)
    return list(_unit_vector(text, dims))


__all__ = ["embedding"]
