"""Where things are: read from the environment once, overridable by command-line options."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "load_settings", "DEFAULT_TASK_QUEUE", "DEFAULT_MAX_CACHED_RUNS"]

DEFAULT_TASK_QUEUE = "mandate"
# Runs a worker keeps in memory (about 115 KB each, benchmarks/README.md). A run that is not cached
# replays its whole history before it can answer a query or take a decision or a kill; a fleet larger
# than the cache makes every such call a replay. The SDK's default is 1,000.
DEFAULT_MAX_CACHED_RUNS = 2500


@dataclass(frozen=True)
class Settings:
    home: Path
    charters_dir: Path | None  # None: ./charters if it exists, else the charters the agent packages ship
    task_queue: str
    max_cached_runs: int = DEFAULT_MAX_CACHED_RUNS

    @property
    def shop_db(self) -> Path:
        return self.home / "shop.db"

    @property
    def server_db(self) -> Path:
        return self.home / "temporal.db"


def load_settings() -> Settings:
    cached = os.environ.get("MANDATE_MAX_CACHED_RUNS", "")
    return Settings(
        max_cached_runs=int(cached) if cached.strip().isdigit() else DEFAULT_MAX_CACHED_RUNS,
        home=Path(os.environ.get("MANDATE_HOME", ".mandate")),
        charters_dir=Path(os.environ["MANDATE_CHARTERS"]) if os.environ.get("MANDATE_CHARTERS") else None,
        task_queue=os.environ.get("MANDATE_TASK_QUEUE", DEFAULT_TASK_QUEUE),
    )
