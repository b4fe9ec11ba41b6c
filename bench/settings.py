"""The two presets (quick for CI, full for decisions) and every knob a scenario reads.

All of it is written into results.json, so a number can always be traced to its settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Settings:
    preset: str
    repeats: int  # each measurement is repeated; results keep the median, min and max
    warmup_s: float
    overhead_s: float  # concurrency 1, zero-latency upstream
    throughput_s: float
    ramp: tuple[int, ...]  # wrk connections; must contain reference and 2x reference
    reference_connections: int  # SPEC §9: 64 connections
    upstream_latency_ms: int  # SPEC §9: 20 ms
    p99_limit_ms: float  # the ramp's "sustained" rule: p99 under this and errors under error_limit_pct
    error_limit_pct: float
    stream_concurrency: int  # SPEC §9: 32 concurrent streams
    stream_tokens: int  # issue 11: 20 chunks per stream
    stream_tps: float  # upstream pace; a stall is a gap > 10x this pace
    max_stream_levels: tuple[int, ...]
    max_stream_tokens: int
    max_stream_tps: float
    max_stream_open_s: float
    cpu_heavy_s: float
    cpu_heavy_threads: tuple[int, ...]  # server threads (per worker) swept by the CPU-heavy scenario
    cpu_heavy_connections: int
    threads: int  # server threads per worker for the main start (enough for the stream levels)
    workers: int  # workers of the multi-worker modes
    # Issue 11: a py-spy CPU profile per mode, taken in an extra (unmeasured) pass of the reference
    # load, so the sampler never perturbs the numbers the report compares.
    profile_s: int
    profile_rate_hz: int
    # Issue 11: one core and one worker vs two process workers on every core, at a load the upstream
    # latency does not cap (64 connections x 20 ms caps at 3,200 req/s, too close to twice one core).
    both_cores_connections: int
    both_cores_every_interpreter: bool  # quick: only the first GIL interpreter

    @property
    def stall_factor(self) -> int:
        return 10

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


QUICK = Settings(
    preset="quick",
    repeats=1,
    warmup_s=1,
    overhead_s=1,
    throughput_s=2,
    ramp=(64, 128),
    reference_connections=64,
    upstream_latency_ms=20,
    p99_limit_ms=1000,
    error_limit_pct=0.1,
    stream_concurrency=32,
    stream_tokens=20,
    stream_tps=50,
    max_stream_levels=(50, 200),
    max_stream_tokens=6,
    max_stream_tps=5,
    max_stream_open_s=0.5,
    cpu_heavy_s=1,
    cpu_heavy_threads=(1, 4),
    cpu_heavy_connections=16,
    threads=256,
    workers=2,
    profile_s=1,
    profile_rate_hz=250,
    both_cores_connections=256,
    both_cores_every_interpreter=False,
)

FULL = Settings(
    preset="full",
    repeats=3,
    warmup_s=2,
    overhead_s=3,
    throughput_s=2,
    ramp=(16, 32, 64, 128, 256, 512),
    reference_connections=64,
    upstream_latency_ms=20,
    p99_limit_ms=1000,
    error_limit_pct=0.1,
    stream_concurrency=32,
    stream_tokens=20,
    stream_tps=50,
    max_stream_levels=(100, 250, 500, 1000),
    max_stream_tokens=8,
    max_stream_tps=5,
    max_stream_open_s=1.0,
    cpu_heavy_s=2,
    cpu_heavy_threads=(1, 2, 4, 8, 16),
    cpu_heavy_connections=16,
    threads=1280,  # per worker: >= the largest stream level, so 1,000 streams never wait for a thread
    workers=2,
    profile_s=3,
    profile_rate_hz=200,
    both_cores_connections=256,
    both_cores_every_interpreter=True,
)


def preset(name: str, **overrides: object) -> Settings:
    base = QUICK if name == "quick" else FULL
    chosen = replace(base, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    ref = chosen.reference_connections
    if ref not in chosen.ramp or 2 * ref not in chosen.ramp:
        chosen = replace(chosen, ramp=tuple(sorted({*chosen.ramp, ref, 2 * ref})))
    return chosen
