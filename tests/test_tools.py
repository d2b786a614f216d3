"""The @tool decorator and the tool registry (no Temporal server)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from temporalio import activity

import mandate.activities.shop  # noqa: F401  (registers the shop's tools)
from mandate.authority import Authority
from mandate.errors import ToolRegistryError
from mandate.tools import ToolRegistry, registry, tool


class Args(BaseModel):
    x: int


class Result(BaseModel):
    y: int


class UndoArgs(BaseModel):
    original: Args
    result: Result


def activity_name(fn) -> str:
    return activity._Definition.must_from_callable(fn).name


def test_tool_declares_an_activity_named_after_the_tool() -> None:
    reg = ToolRegistry()

    @tool(authority=Authority.WRITE, cost=0.25, into=reg)
    async def do_thing(args: Args) -> Result:
        """Does the thing.

        More detail that is not part of the description.
        """
        return Result(y=args.x)

    spec = reg.get("do_thing")
    assert spec is not None
    assert "do_thing" in reg
    assert spec.authority is Authority.WRITE
    assert spec.cost == 0.25
    assert spec.args_model is Args and spec.result_model is Result
    assert spec.description == "Does the thing."
    assert activity_name(spec.activity) == "do_thing"
    assert reg.activities() == [spec.activity]
    # it went into the fresh registry, not the shipped one
    assert "do_thing" not in registry


def test_tool_name_override_names_the_activity() -> None:
    reg = ToolRegistry()

    @tool(authority="read", name="peek", into=reg)
    async def whatever(args: Args) -> Result:
        return Result(y=1)

    assert reg.names() == ["peek"]
    assert activity_name(reg.get("peek").activity) == "peek"
    assert reg.get("peek").authority is Authority.READ


def test_refuses_a_non_async_function() -> None:
    reg = ToolRegistry()
    with pytest.raises(ToolRegistryError, match=r"tool 'sync_tool' must be an async function"):

        @tool(authority=Authority.READ, into=reg)
        def sync_tool(args: Args) -> Result:
            return Result(y=1)

    assert reg.names() == []


def test_refuses_a_function_without_pydantic_annotations() -> None:
    reg = ToolRegistry()
    with pytest.raises(
        ToolRegistryError, match=r"tool 'bare': its argument must be annotated as a pydantic model"
    ):

        @tool(authority=Authority.READ, into=reg)
        async def bare(args):  # type: ignore[no-untyped-def]
            return Result(y=1)

    with pytest.raises(
        ToolRegistryError, match=r"tool 'dicty': its argument must be annotated as a pydantic model"
    ):

        @tool(authority=Authority.READ, into=reg)
        async def dicty(args: dict) -> Result:
            return Result(y=1)

    with pytest.raises(
        ToolRegistryError, match=r"tool 'no_result': its result must be annotated as a pydantic model"
    ):

        @tool(authority=Authority.READ, into=reg)
        async def no_result(args: Args):  # type: ignore[no-untyped-def]
            return Result(y=1)

    assert reg.names() == []


def test_refuses_more_than_one_argument() -> None:
    reg = ToolRegistry()
    with pytest.raises(ToolRegistryError, match=r"must take exactly one pydantic model argument"):

        @tool(authority=Authority.READ, into=reg)
        async def two(args: Args, more: Args) -> Result:
            return Result(y=1)


def test_refuses_duplicate_names() -> None:
    reg = ToolRegistry()

    @tool(authority=Authority.READ, into=reg)
    async def dup(args: Args) -> Result:
        return Result(y=1)

    with pytest.raises(ToolRegistryError, match=r"tool 'dup' is declared twice"):

        @tool(authority=Authority.WRITE, name="dup", into=reg)
        async def other(args: Args) -> Result:
            return Result(y=2)

    assert reg.get("dup").authority is Authority.READ


@pytest.mark.parametrize(
    "kwargs",
    [{"compensation": "undo_read"}, {"irreversible": "cannot be undone"}],
    ids=["compensation", "irreversible"],
)
def test_refuses_a_read_tool_with_a_compensation(kwargs: dict[str, str]) -> None:
    reg = ToolRegistry()
    with pytest.raises(
        ToolRegistryError, match=r"a read tool needs no compensation and cannot be irreversible"
    ):

        @tool(authority=Authority.READ, into=reg, **kwargs)
        async def read_it(args: Args) -> Result:
            return Result(y=1)

    assert reg.names() == []


def test_refuses_an_unknown_authority() -> None:
    with pytest.raises(ValueError):
        tool(authority="delete", into=ToolRegistry())


def test_validate_refuses_a_compensation_not_declared_with_compensates() -> None:
    reg = ToolRegistry()

    @tool(authority=Authority.WRITE, compensation="undo", into=reg)
    async def do(args: Args) -> Result:
        return Result(y=1)

    @tool(authority=Authority.WRITE, into=reg)
    async def undo(args: UndoArgs) -> Result:
        return Result(y=0)

    with pytest.raises(ToolRegistryError) as info:
        reg.validate()
    assert str(info.value) == "compensation 'undo' must be declared with compensates='do'"


def test_validate_refuses_a_compensation_that_compensates_another_tool() -> None:
    reg = ToolRegistry()

    @tool(authority=Authority.WRITE, compensation="undo", into=reg)
    async def do(args: Args) -> Result:
        return Result(y=1)

    @tool(authority=Authority.WRITE, compensates="something_else", into=reg)
    async def undo(args: UndoArgs) -> Result:
        return Result(y=0)

    with pytest.raises(
        ToolRegistryError, match=r"compensation 'undo' must be declared with compensates='do'"
    ):
        reg.validate()


def test_validate_refuses_a_compensation_that_is_not_a_tool() -> None:
    reg = ToolRegistry()

    @tool(authority=Authority.WRITE, compensation="ghost", into=reg)
    async def do(args: Args) -> Result:
        return Result(y=1)

    with pytest.raises(ToolRegistryError, match=r"tool 'do' names compensation 'ghost', which is not a tool"):
        reg.validate()


def test_validate_accepts_a_properly_paired_compensation() -> None:
    reg = ToolRegistry()

    @tool(authority=Authority.WRITE, compensation="undo", into=reg)
    async def do(args: Args) -> Result:
        return Result(y=1)

    @tool(authority=Authority.WRITE, compensates="do", into=reg)
    async def undo(args: UndoArgs) -> Result:
        return Result(y=0)

    reg.validate()
    assert reg.names() == ["do", "undo"]


# --- the shipped registry -----------------------------------------------------------------


def test_shipped_registry_is_consistent() -> None:
    registry.validate()
    for name in (
        "lookup_order",
        "check_refund_policy",
        "issue_refund",
        "reverse_refund",
        "notify_customer",
        "delete_customer",
    ):
        assert name in registry, name
        assert activity_name(registry.get(name).activity) == name


def test_issue_refund_is_a_compensated_write() -> None:
    spec = registry.get("issue_refund")
    assert spec.authority is Authority.WRITE
    assert spec.compensation == "reverse_refund"
    assert spec.irreversible is None
    reverse = registry.get("reverse_refund")
    assert reverse.authority is Authority.WRITE
    assert reverse.compensates == "issue_refund"


@pytest.mark.parametrize("name", ["notify_customer", "delete_customer"])
def test_irreversible_writes_state_why(name: str) -> None:
    spec = registry.get(name)
    assert spec.authority is Authority.WRITE
    assert spec.compensation is None
    assert spec.irreversible and spec.irreversible.strip()
    assert "cannot" in spec.irreversible


@pytest.mark.parametrize("name", ["lookup_order", "check_refund_policy"])
def test_read_tools(name: str) -> None:
    spec = registry.get(name)
    assert spec.authority is Authority.READ
    assert spec.compensation is None and spec.irreversible is None
