"""The Web UI lists ``approve``, ``reject`` and ``kill`` by name, and no signal is ever dropped.

Against a real dev server: the UI's "Send a Signal" reads the built-in ``__temporal_workflow_metadata``
query, and malformed signals are sent as a user's script or the raw gRPC API would send them.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from mandate.charter import Charter
from mandate.contract import Signal
from mandate.converter import TolerantPayloadConverter, Undecodable, client_with_mandate_converter
from mandate.keys import ensure_demo_keys
from mandate.run import RunState
from mandate.worker import build_worker
from tests.conftest import DEMO_PEOPLE
from tests.helpers import eventually, signed_decision, start_refund, status_of, wait_pending

RAJ, SAM, QI = "raj@example.com", "sam@example.com", "qi@example.com"
NOT_JSON = Payload(metadata={"encoding": b"json/plain"}, data=b'{"approver": ')


@pytest.fixture(autouse=True)
def fresh_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shop database of this test's own, so its refund touches no order another test refunds (with the
    demo keys `mandate dev` would make there: keys are read from MANDATE_HOME too)."""
    monkeypatch.setenv("MANDATE_HOME", str(tmp_path))
    ensure_demo_keys(DEMO_PEOPLE)
    return tmp_path


@pytest_asyncio.fixture
async def worker(client: Client, task_queue: str, charters: dict[str, Charter]) -> Worker:
    # `client` is built with the SDK's plain pydantic converter, as users' own clients are
    return build_worker(client, task_queue=task_queue, charters=charters)


async def test_the_ui_lists_approve_reject_and_kill_by_name(client, worker, task_queue, workflow_id):
    async with worker:
        handle = await start_refund(client, task_queue, workflow_id, 1032)
        await wait_pending(handle, "issue_refund")
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        await handle.signal("aprove", {"approver": RAJ})  # the dynamic handler is still there: refused, recorded
        status = await eventually(lambda: _refused_at_least(handle, 1), what="the misspelt signal refused")
        await handle.signal(Signal.REJECT, await signed_decision(handle, SAM, approve=False, reason="no"))
        await handle.result()

    # "Send a Signal" offers exactly what an operator may send: each named, each with a short description
    # of its own (no nameless, pre-selected entry for the dynamic handler, with nothing it could send).
    signals = metadata.definition.signal_definitions
    assert [s.name for s in signals] == ["approve", "kill", "reject"]
    assert all(s.name and s.description and len(s.description) <= 120 for s in signals), signals
    named = {s.name: s.description for s in signals}
    assert "mandate sign" in named["approve"] and "--decision approve" in named["approve"]
    assert "mandate sign" in named["reject"] and "--decision reject --reason" in named["reject"]
    assert "--decision approve" not in named["reject"]
    assert "stop/go owner's signed kill" in named["kill"]
    assert status.refused[0].kind == "aprove" and "unknown signal 'aprove'" in status.refused[0].reason

    # The current details (the UI's "User Metadata" tab) name the request's own approvers.
    details = metadata.current_details
    assert "`approve` or `reject`" in details
    assert "--request r1 --as raj@example.com --decision approve" in details and "you@example.com" not in details
    assert "prints (signed with raj@example.com's key; sam@example.com may decide it too)." in details


async def test_a_statement_for_the_other_act_is_refused_naming_both_acts(client, worker, task_queue, workflow_id):
    """An approval pasted into ``reject`` (what the one help text both signals had led to) is refused; the
    reason names the acts by value, never as an enum's repr."""
    async with worker:
        handle = await start_refund(client, task_queue, workflow_id, 1033)
        await wait_pending(handle, "issue_refund")
        await handle.signal(Signal.REJECT, await signed_decision(handle, SAM, reason="looks fine"))
        await handle.signal(Signal.APPROVE, {"request_id": "r1", "approver": SAM})  # unsigned, for a write
        status = await eventually(lambda: _refused_at_least(handle, 2), what="both decisions refused")
        await handle.signal(Signal.REJECT, await signed_decision(handle, SAM, approve=False, reason="no"))
        result = await handle.result()
    reason = status.refused[0].reason
    assert "the statement is for act 'approve', not 'reject'" in reason, reason
    assert "<" not in reason and "Act." not in reason, reason
    # The way to sign it names the approver who sent it, and who else may decide, not you@example.com.
    unsigned = status.refused[1].reason
    assert unsigned.startswith("issue_refund needs a signed decision"), unsigned
    assert unsigned.endswith("--as sam@example.com --decision approve` (raj@example.com may decide it too)"), unsigned
    assert result.outcome == "refund_rejected"


async def _refused_at_least(handle, n: int):
    status = await status_of(handle)
    return status if status.refused_total >= n else None


async def test_malformed_signals_are_refused_and_recorded_never_dropped(client, worker, task_queue, workflow_id):
    async with worker:
        handle = await start_refund(client, task_queue, workflow_id, 1031)
        await wait_pending(handle, "issue_refund")
        await handle.signal("approve", RawValue(NOT_JSON))
        await handle.signal("approve", RawValue(Payload(metadata={"encoding": b"text/x-weird"}, data=b"raj")))
        await handle.signal("approve", RawValue(Payload(data=b'{"approver": "raj@example.com"}')))
        await handle.signal("approve", args=[{"approver": RAJ}, "a second input"])
        await handle.signal("approve")
        await handle.signal("aprove", {"approver": RAJ})
        await client.workflow_service.signal_workflow_execution(
            SignalWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=workflow_id),
                signal_name="reject",
                input=Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b"\xff\xfe not json")]),
                identity="raw-grpc-test",
                request_id=str(uuid.uuid4()),
            )
        )
        await handle.signal("kill", RawValue(Payload(metadata={"encoding": b"binary/x-weird"}, data=b"\x00")))
        status = await eventually(lambda: _refused_at_least(handle, 8), what="eight refused signals")

        assert [(r.kind, r.reason) for r in status.refused] == [
            ("approve", "the approve signal's input is not readable JSON (encoding json/plain: ValidationError)"),
            ("approve", "the approve signal's input is not readable JSON (encoding text/x-weird: KeyError)"),
            ("approve", "the approve signal's input is not readable JSON (encoding none: KeyError)"),
            ("approve", "the approve signal takes one JSON object, not 2 inputs"),
            ("approve", 'the signal has no input; send {"approver": "you@example.com", "reason": "..."}'),
            ("aprove", "unknown signal 'aprove'; a run takes approve, reject, kill"),
            ("reject", "the reject signal's input is not readable JSON (encoding json/plain: ValidationError)"),
            ("kill", "the kill signal's input is not readable JSON (encoding binary/x-weird: KeyError)"),
        ]
        assert "json/plain, 13 bytes" in status.refused[0].payload  # what arrived, for the record
        assert status.state is RunState.WAITING_APPROVAL and status.decisions == [] and status.killed is None

        # the run was neither wedged nor killed: a proper (signed) approval by signal goes through
        await handle.signal(Signal.APPROVE, await signed_decision(handle, RAJ))
        await wait_pending(handle, "notify_customer")
        await handle.signal(Signal.APPROVE, await signed_decision(handle, QI))
        result = await handle.result()
    assert result.outcome == "refunded" and result.refused_decisions == 8


def test_the_converter_hands_over_what_it_cannot_decode_only_without_a_type_hint():
    converter = TolerantPayloadConverter()
    good = pydantic_data_converter.payload_converter.to_payloads([{"approver": RAJ}])[0]
    decoded = converter.from_payloads([good, NOT_JSON])
    assert decoded[0] == {"approver": RAJ}
    assert isinstance(decoded[1], Undecodable) and decoded[1].payload == NOT_JSON
    assert (decoded[1].encoding, decoded[1].error) == ("json/plain", "ValidationError")
    try:
        converter.from_payloads([NOT_JSON], [dict])
    except Exception as err:  # noqa: BLE001
        assert type(err).__name__ == "ValidationError"
    else:
        raise AssertionError("a typed decode must still fail on bad input")


def test_a_client_gets_the_converter_and_keeps_its_connection(client):
    rebuilt = client_with_mandate_converter(client)
    assert rebuilt.data_converter.payload_converter_class is TolerantPayloadConverter
    assert rebuilt.service_client is client.service_client and rebuilt.namespace == client.namespace
    assert client_with_mandate_converter(rebuilt) is rebuilt
