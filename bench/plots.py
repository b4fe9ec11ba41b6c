"""PNG plots with matplotlib's Agg backend (no display needed), from results.json alone.

matplotlib is optional (the `bench` extra): without it the report says the plots were skipped
instead of failing the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.criteria import ok_runs


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_all(results: dict[str, Any], folder: Path) -> list[str]:
    """Writes every plot; returns the file names written."""
    if not available():
        return []
    import matplotlib

    matplotlib.use("Agg")
    written = []
    for name, draw in (
        ("throughput_vs_threads.png", _threads),
        ("latency_percentiles.png", _latency),
        ("streams_vs_memory.png", _streams),
        ("throughput_ramp.png", _ramp),
    ):
        draw(results, folder / name)
        written.append(name)
    return written


def _series(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("direct", results["limit"]["scenarios"]), *[(r["id"], r["scenarios"]) for r in ok_runs(results)]]


def _threads(results: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, scn in _series(results)[1:]:
        pts = [p for p in scn["cpu_heavy"]["points"] if "rps" in p]
        ax.plot([p["threads"] for p in pts], [p["rps"]["median"] for p in pts], marker="o", label=name)
    direct = results["limit"]["scenarios"]["cpu_heavy"]["points"][0]["rps"]["median"]
    ax.axhline(direct, color="black", linestyle="--", label="direct (limit)")
    ax.set(
        xscale="log",
        xlabel="server threads per worker",
        ylabel="requests/s",
        title="CPU-heavy conversions (~100 kB Claude/Gemini conversations)",
    )
    ticks = sorted({p["threads"] for _, scn in _series(results)[1:] for p in scn["cpu_heavy"]["points"]})
    ax.set_xticks(ticks)
    ax.get_xaxis().set_major_formatter(plt.ScalarFormatter())
    ax.get_xaxis().set_minor_formatter(plt.NullFormatter())
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _latency(results: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    ref = results["settings"]["reference_connections"]
    series = _series(results)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    names = [n for n, _ in series]
    width = 0.25
    for ax, title, pick in (
        (axes[0], "concurrency 1, zero-latency upstream", lambda scn: scn["overhead"]),
        (
            axes[1],
            f"{ref} connections, {results['settings']['upstream_latency_ms']} ms upstream",
            lambda scn: next(lv for lv in scn["throughput"]["levels"] if lv["connections"] == ref),
        ),
    ):
        for k, pct in enumerate(("p50_ms", "p90_ms", "p99_ms")):
            values = [pick(scn).get(pct, {"median": 0.0})["median"] for _, scn in series]
            ax.bar(
                [i + (k - 1) * width for i in range(len(names))], values, width, label=pct.replace("_ms", "")
            )
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
        ax.set(ylabel="ms", title=title)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _streams(results: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, scn in _series(results)[1:]:
        levels = scn["max_streams"]["levels"]
        xs = [lv["streams"] for lv in levels]
        ax.plot(xs, [lv["rss_peak_mib"] for lv in levels], marker="o", label=name)
        bad = [lv for lv in levels if lv["stalls"] or lv["errors"]]
        ax.scatter(
            [lv["streams"] for lv in bad], [lv["rss_peak_mib"] for lv in bad], marker="x", s=80, color="red"
        )
    ax.set(
        xlabel="concurrent streams",
        ylabel="peak RSS of the server tree (MiB)",
        title="Streams vs memory (red x: a stream stalled or failed)",
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ramp(results: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, scn in _series(results):
        levels = scn["throughput"]["levels"]
        style = {"color": "black", "linestyle": "--"} if name == "direct" else {}
        ax.plot(
            [lv["connections"] for lv in levels],
            [lv["rps"]["median"] for lv in levels],
            marker="o",
            label=name,
            **style,
        )
    ax.set(
        xscale="log",
        xlabel="connections",
        ylabel="requests/s",
        title=f"Throughput, {results['settings']['upstream_latency_ms']} ms upstream",
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
