"""Connecting to Temporal: settings from ``temporalio.envconfig``, Mandate's converter on every client."""

from __future__ import annotations

import os
import re
from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfig

from mandate.converter import mandate_data_converter
from mandate.errors import ConnectionFailedError

__all__ = ["connect", "connect_config", "unreachable", "DEFAULT_ADDRESS"]

DEFAULT_ADDRESS = "localhost:7233"

#: What the SDK core's connection errors mean, by a word they carry, said the way a person would.
_REASONS = (
    ("ConnectionRefused", "nothing listens there (connection refused)"),
    ("dns error", "that host name does not resolve"),
    ("get_system_info", "something listens there, but it did not answer as a Temporal frontend"),
    ("certificate", "the TLS handshake failed on the server's certificate"),
    ("InvalidContentType", "something listens there, but it did not answer as a Temporal frontend"),
    ("tls", "the TLS handshake failed"),
    ("timed out", "the connection timed out"),
)


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
    except (RuntimeError, ValueError) as err:
        raise ConnectionFailedError(unreachable(config["target_host"], err, given=bool(address))) from None


def unreachable(target: str, err: Exception, *, given: bool = False) -> str:
    """One sentence: where the CLI looked (and why there), what went wrong, and what to do about it.

    The SDK core's message is a Rust debug struct (``tonic::transport::Error(Transport, ConnectError(…``);
    what it means is said in words, and a message it does not know is quoted whole, never cut mid-word.
    """
    if given:
        source = "given by --address"
    elif os.environ.get("TEMPORAL_ADDRESS"):
        source = "from TEMPORAL_ADDRESS"
    elif target != DEFAULT_ADDRESS:
        source = "from the temporal.toml profile"
    else:
        source = "the default; TEMPORAL_ADDRESS is not set"
    text = str(err)
    if isinstance(err, ValueError):
        return f"{target!r} ({source}) is not an address Temporal can be reached at ({_words(text)}); give host:port"
    reason = next((said for marker, said in _REASONS if marker.lower() in text.lower()), None)
    if reason is None:
        quoted = re.findall(r'(?:message|error): "([^"]+)"', text)
        reason = _words(quoted[-1] if quoted else text.removeprefix("Failed client connect: "))
    return (
        f"cannot reach Temporal at {target} ({source}): {reason}; start a server with `mandate dev`, or "
        "point TEMPORAL_ADDRESS at one that runs (`mandate dev --port N` prints the line to export)"
    )


def _words(text: str, limit: int = 160) -> str:
    """``text`` on one line, at most about ``limit`` characters, shortened at a word, never inside one."""
    flat = " ".join(text.split()) or "no reason given"
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + " …"
