"""The demo shop: a real SQLite database, created and seeded on first use (orders 1001 to 1050)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mandate.settings import load_settings

__all__ = ["shop_path", "connect", "seed", "FIRST_ORDER", "LAST_ORDER"]

FIRST_ORDER, LAST_ORDER = 1001, 1050
_init_lock = threading.Lock()
_initialised: set[Path] = set()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
    item TEXT NOT NULL, amount_cents INTEGER NOT NULL, status TEXT NOT NULL,
    days_since_delivery INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_id INTEGER NOT NULL REFERENCES orders(id),
    amount_cents INTEGER NOT NULL, reason TEXT NOT NULL, status TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    reversed_at TEXT
);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_id INTEGER NOT NULL, email TEXT NOT NULL,
    message TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE,
    sent_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
"""

_ITEMS = ["kettle", "headphones", "desk lamp", "backpack", "coffee grinder", "keyboard", "blender"]


def shop_path() -> Path:
    return load_settings().shop_db


def seed(db: sqlite3.Connection) -> None:
    """Fifty orders; every seventh was delivered too long ago, every tenth is still in transit."""
    for n, order_id in enumerate(range(FIRST_ORDER, LAST_ORDER + 1)):
        customer_id = 501 + n % 20
        db.execute(
            "INSERT OR IGNORE INTO customers (id, name, email) VALUES (?, ?, ?)",
            (customer_id, f"Customer {customer_id}", f"customer{customer_id}@example.com"),
        )
        status = "in_transit" if (order_id - 1000) % 10 == 0 else "delivered"
        days = 45 if (order_id - 1000) % 7 == 0 else 3 + n % 20
        db.execute(
            "INSERT OR IGNORE INTO orders (id, customer_id, item, amount_cents, status, days_since_delivery)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (order_id, customer_id, _ITEMS[n % len(_ITEMS)], 1500 + 250 * n, status, days),
        )


@contextmanager
def connect(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    """A connection in one transaction: committed on success, rolled back on error."""
    path = Path(path or shop_path())
    with _init_lock:
        if path not in _initialised:
            path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(path, timeout=30) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
                seed(db)
            _initialised.add(path)
    db = sqlite3.connect(path, timeout=30, isolation_level="IMMEDIATE")
    db.row_factory = sqlite3.Row
    try:
        with db:
            yield db
    finally:
        db.close()
