"""What a configuration serves, and by which route: `ftproxy info --config` and the demo banner.

One bounded discovery (the same `Refresher.refresh` a worker runs at start-up, with the
configuration's `discovery.timeout_seconds`), then every model with its family, its route
("direct" to its own deployment, or "orchestration" through the Orchestration Service) and the
subaccounts that serve it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from ftproxy.models import LiveModels, ModelEntry, ModelRegistry
from ftproxy.settings import Config
from ftproxy.upstream.failover import Upstreams
from ftproxy.upstream.refresh import Refresher


@dataclass(frozen=True, slots=True)
class Inventory:
    models: tuple[ModelEntry, ...]
    aliases: tuple[tuple[str, str], ...]  # (alias, model)
    orchestration: tuple[str, ...]  # subaccounts whose orchestration deployment serves any other name
    discovery_error: str | None  # None: discovery read every listing, or is off


def take(config: Config) -> Inventory:
    """The models `config` serves now: its explicit table, plus one discovery when it discovers."""
    if not config.discovers:
        return _inventory(ModelRegistry(config), None)
    live = LiveModels(config)
    upstreams = Upstreams(config, [])
    refresher = Refresher(live, upstreams)
    try:
        refresher.refresh()
        error = refresher.status().error
        return _inventory(live.table, error)
    finally:
        refresher.stop()
        upstreams.close()


def _inventory(registry: ModelRegistry, error: str | None) -> Inventory:
    aliases = tuple((a.name, a.target) for a in registry.aliases)
    return Inventory(registry.entries(), aliases, registry.orchestration_subaccounts, error)


def lines(inventory: Inventory) -> list[str]:
    """The inventory as a table, one model per line, then what else is served."""
    rows = [(e.name, e.family.value, e.route, ", ".join(e.subaccounts)) for e in inventory.models]
    header = ("MODEL", "FAMILY", "ROUTE", "SUBACCOUNTS")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    out = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in [header, *rows]
    ]
    if not rows:
        out.append("(no model: nothing configured, and discovery found none)")
    if inventory.orchestration:
        out.append(f"any other model name: orchestration via {', '.join(inventory.orchestration)}")
    if inventory.aliases:
        out.append("aliases: " + ", ".join(f"{a} → {t}" for a, t in inventory.aliases))
    if inventory.discovery_error:
        out.append(f"discovery failed: {inventory.discovery_error}")
    return out


def main(argv: list[str]) -> int:
    """`python -m ftproxy.inventory CONFIG`: the table alone. The demo runs it in a child
    process, since what it imports (metrics) must not be loaded before the launcher has set up
    the shared metrics directory."""
    from ftproxy.config import load_config

    print("\n".join(lines(take(load_config(argv[0])))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["Inventory", "lines", "main", "take"]
