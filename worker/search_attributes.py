"""Registering Mandate's search attributes in a namespace (idempotent)."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.service import RPCError, RPCStatusCode

from mandate import search_attributes as sa

__all__ = ["register_search_attributes"]


def _wanted() -> dict[str, IndexedValueType.ValueType]:
    return {
        key.name: IndexedValueType.ValueType(SearchAttributeIndexedValueType(key.indexed_value_type).value)
        for key in sa.ALL
    }


async def register_search_attributes(client: Client, namespace: str | None = None) -> list[str]:
    """Add the attributes the namespace lacks; returns the names added (empty when all were there)."""
    namespace = namespace or client.namespace
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
    except RPCError as err:
        if err.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
        # The time-skipping test server can add attributes but not list them.
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=_wanted())
        )
        return sorted(_wanted())
    known = dict(existing.custom_attributes)
    missing = {name: kind for name, kind in _wanted().items() if name not in known}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
