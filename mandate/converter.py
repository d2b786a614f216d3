"""The data converter every Mandate client and worker uses: pydantic's, tolerant where a signal needs it.

A governed run lists ``approve``, ``reject`` and ``kill`` by name (the Web UI's "Send a Signal" shows
them), so the SDK decodes their inputs before the handler runs, and it *drops* a signal whose input does
not decode, with only a log line. The handlers take ``*inputs`` with no type hint, and for a decode
without a type hint this converter hands over an ``Undecodable`` marker instead of raising: the handler
then refuses the signal and records it in the run's status, as it does any malformed decision.

Decoding with a type hint (every activity result, update and typed query) is pydantic's, unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import DataConverter

__all__ = [
    "Undecodable",
    "TolerantPayloadConverter",
    "mandate_data_converter",
    "with_mandate_converter",
    "client_with_mandate_converter",
]


@dataclasses.dataclass(frozen=True)
class Undecodable:
    """A payload that could not be decoded without a type hint, handed over in place of an error."""

    payload: Payload
    error: str  # the decoding error's type name, e.g. ValidationError (bad JSON) or KeyError (encoding)

    @property
    def encoding(self) -> str:
        """The payload's encoding as its sender wrote it; empty when it carries none."""
        return self.payload.metadata.get("encoding", b"").decode(errors="replace")


class TolerantPayloadConverter(PydanticPayloadConverter):
    """Pydantic's payload converter; a payload it cannot decode without a type hint becomes ``Undecodable``."""

    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[type] | None = None) -> list[Any]:
        if type_hints:
            return super().from_payloads(payloads, type_hints)
        values: list[Any] = []
        for payload in payloads:
            try:
                values.extend(super().from_payloads([payload]))
            except Exception as err:  # noqa: BLE001  (any undecodable input is handed over, never raised)
                values.append(Undecodable(payload=payload, error=type(err).__name__))
        return values


#: What ``mandate.client.connect`` and every worker ``build_worker`` makes use.
mandate_data_converter = dataclasses.replace(
    pydantic_data_converter, payload_converter_class=TolerantPayloadConverter
)


def with_mandate_converter(converter: DataConverter) -> DataConverter:
    """``converter`` with Mandate's payload converter; its codec, failure converter and storage are kept."""
    if converter.payload_converter_class is TolerantPayloadConverter:
        return converter
    return dataclasses.replace(converter, payload_converter_class=TolerantPayloadConverter)


def client_with_mandate_converter(client: Client) -> Client:
    """The same client (connection, namespace, interceptors, plugins) with Mandate's payload converter.

    A worker must decode signals with it, however its caller built the client (the SDK's samples pass
    plain ``pydantic_data_converter``); a client that already has it is returned as is.
    """
    if client.data_converter.payload_converter_class is TolerantPayloadConverter:
        return client
    config = client.config()
    config["data_converter"] = with_mandate_converter(config["data_converter"])
    return Client(**config)
