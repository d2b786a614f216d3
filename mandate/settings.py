"""Where things are: read from the environment once, overridable by command-line options."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "load_settings", "DEFAULT_TASK_QUEUE"]

DEFAULT_TASK_QUEUE = "mandate"


@dataclass(frozen=True)
class Settings:
    home: Path
    charters_dir: Path
    task_queue: str

    @property
    def shop_db(self) -> Path:
        return self.home / "shop.db"

    @property
    def server_db(self) -> Path:
        return self.home / "temporal.db"


def load_settings() -> Settings:
    return Settings(
        home=Path(os.environ.get("MANDATE_HOME", ".mandate")),
        charters_dir=Path(os.environ.get("MANDATE_CHARTERS", "charters")),
        task_queue=os.environ.get("MANDATE_TASK_QUEUE", DEFAULT_TASK_QUEUE),
    )
