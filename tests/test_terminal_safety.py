"""Terminal injection: what a sender chose never reaches a terminal as control characters.

Anyone with the Temporal frontend can send a signal of any name with any payload; the run refuses and
records it, name, approver and all, and `mandate status` shows the record to whoever looks next. A name
such as ``\\x1b[2J\\x1b]0;pwned\\x07aprove`` would clear that person's screen and retitle their window, and a
bidirectional override (U+202E) would make ``evorppa`` read as ``approve``. Against a real dev server and a
real `mandate worker`, the attacker signals with the stock `temporal` CLI; `mandate status` and `mandate
pending`, run as real subprocesses, must show the refusal with each such character as a visible escape,
and `--json` must still carry the raw text (JSON-escaped). Error lines get the same treatment.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.reliability._harness import MANDATE, TEMPORAL, Stack

pytestmark = pytest.mark.skipif(
    not (MANDATE and TEMPORAL), reason="`mandate` / `temporal` executables not installed"
)

ESC_NAME = "\x1b[2J\x1b]0;pwned\x07aprove\u202eevorppa"
ESC_REASON = "\x1b]0;pwned\x07 fine \x9b31m by me \u202e[ai] [bold]x[/bold]"
ESC_APPROVER = "\x1b[31mraj@example.com\u2066"
ESC_INPUT = "arrived \x1b[1A\x1b[2K damaged \u202e"

# Bytes that act on a terminal: ESC, BEL, CSI (C1), and the override / isolate characters.
FORBIDDEN = ("\x1b", "\x07", "\x9b", "\u202e", "\u2066")


def _run(st: Stack, *args: str) -> tuple[int, str, str]:
    """A `mandate` subprocess against the stack; its output decoded strictly, as a terminal gets it."""
    env = {**st.env, "PYTHONIOENCODING": "utf-8", "COLUMNS": "100"}
    done = subprocess.run(
        [MANDATE, *args, "--address", st.address], cwd=st.cwd, env=env, capture_output=True, timeout=90
    )
    return done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8")


def _assert_inert(*texts: str) -> None:
    for text in texts:
        found = sorted({repr(c) for c in FORBIDDEN if c in text})
        assert not found, f"{', '.join(found)} reached the terminal:\n{text!r}"[:4000]


@pytest_asyncio.fixture(scope="module")
async def attacked(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Stack, str]]:
    """A waiting refund run (whose requester typed escapes into its input) that took two hostile signals."""
    st = Stack(tmp_path_factory.mktemp("terminal"))
    try:
        await st.start_server()
        await st.start_worker()
        workflow_id = await st.start_run(1002, reason=ESC_INPUT)
        await st.wait_pending(workflow_id, "issue_refund")
        payload = json.dumps({"approver": ESC_APPROVER, "request_id": "r1", "reason": ESC_REASON})
        for name in (ESC_NAME, "reject"):  # a misspelt, hostile name; the right name, unsigned
            sent = subprocess.run(
                [TEMPORAL, "workflow", "signal", "--workflow-id", workflow_id, "--name", name,
                 "--input", payload, "--address", st.address],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr
        await st.wait_status(workflow_id, "two refused signals", lambda s: s.refused_total >= 2)
        yield st, workflow_id
    finally:
        st.close()


def test_status_shows_the_refusal_with_its_escapes_visible_and_nothing_that_acts(attacked: Any) -> None:
    st, workflow_id = attacked
    code, out, err = _run(st, "status", workflow_id)
    assert code == 0, err
    _assert_inert(out, err)
    shown = " ".join(out.split())
    assert "refused decisions (2)" in shown, out
    # The hostile name, the approver and the requester's input, each readable, each character escaped.
    assert "\\x1b[2J\\x1b]0;pwned\\x07aprove\\u202eevorppa via signal" in shown, out
    assert "reject via signal from \\x1b[31mraj@example.com\\u2066" in shown, out
    assert "arrived \\u001b[1A\\u001b[2K damaged \\u202e" in shown, out  # as JSON shows it
    # The run is still waiting for a real decision.
    assert f"{workflow_id} agent refund-agent state waiting_approval" in shown, out


def test_status_json_keeps_the_raw_text_json_escaped(attacked: Any) -> None:
    st, workflow_id = attacked
    code, out, err = _run(st, "status", workflow_id, "--json")
    assert code == 0, err
    _assert_inert(out, err)
    status = json.loads(out)
    assert {r["kind"] for r in status["refused"]} == {ESC_NAME, "reject"}
    assert {r["approver"] for r in status["refused"]} == {ESC_APPROVER, None}  # the unknown signal names none
    assert status["input"]["reason"] == ESC_INPUT
    assert "\\u202e" in out and "\\u001b" in out


def test_pending_shows_the_hostile_input_inert(attacked: Any) -> None:
    st, workflow_id = attacked
    for wide in ("100", "200"):  # one block per request, and the table (whose cell cuts the reason short)
        env = {**st.env, "PYTHONIOENCODING": "utf-8", "COLUMNS": wide}
        done = subprocess.run(
            [MANDATE, "pending", "--address", st.address], cwd=st.cwd, env=env, capture_output=True, timeout=90
        )
        out, err = done.stdout.decode(), done.stderr.decode()
        assert done.returncode == 0, err
        _assert_inert(out, err)
        assert workflow_id in out, out
        if wide == "100":
            assert "\\u001b[1A" in out and "\\u202e" in out, out
    code, out, err = _run(st, "pending", "--json")
    assert code == 0, err
    _assert_inert(out, err)
    assert json.loads(out)[0]["args"]["reason"] == ESC_INPUT


def test_an_error_line_naming_what_was_given_stays_one_inert_line(attacked: Any, tmp_path: Path) -> None:
    st, workflow_id = attacked
    hostile = "\x1b]0;pwned\x07r9\u202e\nerror: forged second line"
    shown = "\\x1b]0;pwned\\x07r9\\u202e"  # then the line break, as \\n (or \\x0a: Click escapes C0 itself)
    history = tmp_path / f"{hostile}.json"  # a history file someone else named
    history.write_text("not json")
    for args in (
        ("approve", workflow_id, "--as", "raj@example.com", "--request", hostile),  # the run's refusal
        ("replay", "--history", str(history)),  # the CLI's own error printer
        ("status", workflow_id, f"--{hostile}"),  # a usage error, worded by Click
    ):
        code, out, err = _run(st, *args)
        assert code == 1, out + err
        _assert_inert(out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert shown in lines[0] and "error: forged second line" in lines[0], err


def test_the_sanitiser_leaves_ordinary_text_alone() -> None:
    from mandate.cli._safe import json_safe, safe_text

    plain = "raj@example.com approved r1: “photos confirm it” — 20 € [ai] \\x1b"
    assert safe_text(plain) == plain
    assert safe_text("a\nb\tc") == "a\\nb\\tc" and safe_text("a\nb", lines=True) == "a\nb"
    raw = {"k": ESC_NAME + "\x85\u2028"}
    assert json.loads(json_safe(json.dumps(raw, ensure_ascii=False))) == raw
