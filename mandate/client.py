"""Connecting to Temporal: settings from ``temporalio.envconfig``, Mandate's converter on every client."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfig

from mandate.converter import mandate_data_converter
from mandate.errors import ConnectionFailedError

__all__ = ["connect", "connect_config"]

DEFAULT_ADDRESS = "localhost:7233"


def connect_config(address: str | None = None) -> dict[str, Any]:
    """Connection arguments from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS / API key settings or profile."""
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    if address:
        config["target_host"] = address
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return config


async def connect(address: str | None = None, **overrides: Any) -> Client:
    """A client with Mandate's data converter (``mandate.converter``), or ``ConnectionFailedError``."""
    config = connect_config(address)
    config.update(overrides)
    try:
        return await Client.connect(data_converter=mandate_data_converter, **config)
    except RuntimeError as err:
        raise ConnectionFailedError(
            f"cannot reach Temporal at {config['target_host']} ({_first_line(err)}); "
            "start one with `mandate dev` or set TEMPORAL_ADDRESS"
        ) from None


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
