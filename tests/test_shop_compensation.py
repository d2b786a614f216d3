"""The demo shop's compensation undoes only the refund its own run's write recorded (real SQLite)."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from mandate.run import ToolCallInput
from mandate.tools import registry


async def _call(tool: str, args: dict, key: str) -> dict:
    spec = registry.get(tool)
    assert spec is not None
    result = await ActivityEnvironment().run(spec.activity, ToolCallInput(agent="refund-agent", args=args, idempotency_key=key))
    return result.output


async def test_a_compensation_cannot_reverse_another_runs_refund(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANDATE_HOME", str(tmp_path))  # a shop of its own, seeded afresh
    refund = {"order_id": 1038, "amount_cents": 100, "reason": "arrived damaged"}
    receipt = await _call("issue_refund", refund, "victim:run-1:r1")
    undo = {"original": refund, "result": receipt}
    with pytest.raises(ApplicationError) as refused:
        await _call("reverse_refund", undo, "impostor:run-9:r1:undo")
    assert "was not issued by the write 'impostor:run-9:r1'" in str(refused.value)
    with pytest.raises(ApplicationError):
        await _call("reverse_refund", undo, "victim:run-1:r1")  # not an undo key
    assert (await _call("reverse_refund", undo, "victim:run-1:r1:undo"))["reversed"] is True
