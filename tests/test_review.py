"""Incident review: replay histories in the formats people have, and report who approved what."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from temporalio.client import WorkflowHandle, WorkflowHistory

from mandate.review import build_report, load_history_file, render_html, render_markdown, replay_history
from mandate.review.history import HistoryFileError
from mandate.worker import build_worker
from mandate.worker.agents import discover, replayable_workflows
from tests.helpers import eventually, signed_decision, signed_kill, start_refund, wait_pending

HISTORIES = Path(__file__).parent / "histories"
MANDATE = str(Path(sys.executable).parent / "mandate")
TEMPORAL = str(Path(sys.executable).parent / "temporal")


def _pascal(value: str, prefix: str) -> str:
    return "".join(part.capitalize() for part in value.removeprefix(prefix).split("_"))


def ui_format(data: dict) -> dict:
    """The Temporal UI's download writes enums in PascalCase ('WorkflowExecutionStarted')."""
    out = json.loads(json.dumps(data))
    for event in out["events"]:
        event["eventType"] = _pascal(event["eventType"], "EVENT_TYPE_")
    return out


async def _report(path: Path):
    history = load_history_file(path)
    outcome = await replay_history(history, replayable_workflows(discover().workflows))
    return outcome, build_report(history, outcome)


async def test_report_names_approvers_channels_and_refusals():
    outcome, report = await _report(HISTORIES / "refund-approved.json")
    assert outcome.reproduced
    text = render_markdown(report)
    assert "today's code reproduces this run exactly" in text
    assert [(a.request_id, a.tool, a.decided_by, a.channel) for a in report.approvals] == [
        ("r1", "issue_refund", "raj@example.com", "update"),
        ("r2", "notify_customer", "qi@example.com", "signal"),
    ]
    assert all(a.sender_identity for a in report.approvals)
    assert "| r1 | issue_refund |" in text and "CLI (update)" in text and "UI / signal" in text
    assert "bob@example.com requested this run and cannot approve its actions" in text
    assert report.charter is not None and report.charter.owners.stop_go == "sam@example.com"
    assert [t.tool for t in report.timeline] == [
        "lookup_order",
        "check_refund_policy",
        "issue_refund",
        "notify_customer",
    ]
    assert all(t.attempts == 1 for t in report.timeline)


async def test_report_shows_violations_and_rejections():
    _, report = await _report(HISTORIES / "refund-rejected.json")
    text = render_markdown(report)
    assert [v.tool for v in report.violations] == ["delete_customer"]
    assert "never reached an activity" in text
    assert (
        report.approvals[0].status == "rejected" and report.approvals[0].reason == "replacement sent instead"
    )
    assert report.refused_total == 1 and "must be a JSON object" in report.refused[0].reason


async def test_report_shows_kill_and_compensations():
    _, report = await _report(HISTORIES / "refund-killed-rolled-back.json")
    assert report.killed is not None and report.killed.by == "sam@example.com" and report.killed.rollback
    assert report.kill_identity
    assert [(c.tool, c.compensation, c.status) for c in report.compensations] == [
        ("issue_refund", "reverse_refund", "done")
    ]
    assert report.compensation_attempts == {3: 1}
    assert "Killed by sam@example.com via update" in render_markdown(report)


async def test_report_shows_escalation_and_timeout():
    _, report = await _report(HISTORIES / "refund-escalated.json")
    assert report.escalations == 1
    assert report.approvals[0].escalated and report.approvals[0].channel == "timeout"


async def test_html_report_is_one_self_contained_page():
    _, report = await _report(HISTORIES / "refund-approved.json")
    page = render_html(report)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "no external assets"
    assert "<script" not in page
    assert "raj@example.com" in page and "<table>" in page


async def test_ui_download_format_replays(tmp_path: Path):
    path = tmp_path / "ui-download.json"
    path.write_text(json.dumps(ui_format(json.loads((HISTORIES / "refund-approved.json").read_text()))))
    outcome, report = await _report(path)
    assert outcome.reproduced and report.outcome == "refunded"


async def test_cli_show_json_format_replays(env, client, task_queue, workflow_id, charters, tmp_path: Path):
    async with build_worker(client, task_queue=task_queue, charters=charters):
        handle = await start_refund(client, task_queue, workflow_id, 1044)
        await wait_pending(handle, "issue_refund")
        await handle.signal(
            "reject",
            await signed_decision(handle, "sam@example.com", approve=False, reason="duplicate claim"),
        )
        await handle.result()
    target = env.client.service_client.config.target_host
    shown = subprocess.run(
        [TEMPORAL, "workflow", "show", "--address", target, "--workflow-id", workflow_id, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    path = tmp_path / "cli-show.json"
    path.write_text(shown.stdout)
    outcome, report = await _report(path)
    assert outcome.reproduced
    assert report.approvals[0].decided_by == "sam@example.com" and report.approvals[0].status == "rejected"


def _tampered(tmp_path: Path) -> Path:
    data = json.loads((HISTORIES / "refund-approved.json").read_text())
    for event in data["events"]:
        attrs = event.get("activityTaskScheduledEventAttributes")
        if attrs and attrs["activityType"]["name"] == "check_refund_policy":
            attrs["activityType"]["name"] = "delete_customer"
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(data))
    return path


def test_cli_replay_says_clean_or_diverged(tmp_path: Path):
    clean = subprocess.run(
        [
            MANDATE,
            "replay",
            "--history",
            str(HISTORIES / "refund-approved.json"),
            "--report",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert clean.returncode == 0, clean.stderr
    assert "replays cleanly" in clean.stderr
    assert (tmp_path / "r.html").read_text().startswith("<!doctype html>")

    bad = subprocess.run(
        [MANDATE, "replay", "--history", str(_tampered(tmp_path))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    last = bad.stderr.strip().splitlines()[-1]
    assert last.startswith("error: nondeterminism:") and "Traceback" not in bad.stderr
    assert re.search(r"event \d+|Activity|delete_customer|check_refund_policy", last), last


def test_a_divergence_is_one_sentence_and_the_sdks_own_text_waits_behind_verbose(tmp_path: Path):
    """Today's code (tests/changed_agents.py) checks the policy before it looks the order up: `mandate
    replay` says so in one sentence, in the run's own words, with none of the SDK core's internals."""
    data = json.loads((HISTORIES / "refund-approved.json").read_text())
    data["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"] = "RefundAgentPolicyFirst"
    path = tmp_path / "h.json"  # named unlike the run: the run is named by its own id
    path.write_text(json.dumps(data))
    report = tmp_path / "r.md"
    command = [MANDATE, "replay", "--history", str(path), "--app", "tests.changed_agents", "--report", str(report)]
    sentence = (
        "error: nondeterminism: refund-approved diverges from today's code: step 1: the history has activity "
        "lookup_order scheduled at event 10; today's code scheduled check_refund_policy"
    )
    repo = HISTORIES.parent.parent

    said = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=repo)
    assert said.returncode == 1, said.stderr
    assert said.stderr == sentence + "\n"
    everything = said.stdout + said.stderr + report.read_text()
    assert "\x1b" not in everything and "TMPRL1100" not in everything and "Machine" not in everything
    assert f"does NOT reproduce this run: {sentence.split('code: ', 1)[1]}." in report.read_text()

    verbose = subprocess.run([*command, "--verbose"], capture_output=True, text=True, timeout=120, cwd=repo)
    assert verbose.returncode == 1 and verbose.stderr.splitlines()[-1] == sentence, verbose.stderr
    raw = "[TMPRL1100] Nondeterminism error: Activity type of scheduled event 'lookup_order' does not match"
    assert raw in verbose.stderr and "Traceback" not in verbose.stderr

    # Without the app that defines the workflow, that is what is wrong: one line, not the SDK's traceback.
    bare = [MANDATE, "replay", "--history", str(path)]
    unknown = subprocess.run(bare, capture_output=True, text=True, timeout=120, cwd=repo)
    assert unknown.returncode == 1 and len(unknown.stderr.splitlines()) == 1, unknown.stderr
    assert unknown.stderr.startswith("error: refund-approved is a RefundAgentPolicyFirst run, a workflow no agent")
    assert "load the app that does with --app MODULE" in unknown.stderr

    as_json = subprocess.run([*command[:-2], "--json"], capture_output=True, text=True, timeout=120, cwd=repo)
    verdict = json.loads(as_json.stdout)
    assert (verdict["workflow_id"], verdict["replays_cleanly"]) == ("refund-approved", False)
    assert verdict["failure"] == sentence.split("code: ", 1)[1] and "detail" not in verdict


@pytest.mark.parametrize(
    ("workflow_type", "sentence"),
    [
        (
            "RefundAgentDeleteFirst",
            "step 1: the history has activity lookup_order scheduled at event 10; today's code blocked "
            "delete_user (no such tool is registered)",
        ),
        (
            "RefundAgentStopEarly",
            "step 2: the history has activity check_refund_policy scheduled at event 16; today's code ended the "
            "run as looked_up",
        ),
        (
            "RefundAgentOneMore",
            "step 5: the history has a search-attribute update at event 57; today's code scheduled lookup_order",
        ),
    ],
)
async def test_each_way_of_leaving_the_history_is_said_in_the_runs_words(workflow_type: str, sentence: str):
    """The core names a state machine and one event ("UpsertWorkflowSearchAttributesMachine does not handle
    HistoryEvent(id: 10, …)"); the sentence says what that was in the run: the step, the call, the end."""
    from tests.changed_agents import CHANGED

    data = json.loads((HISTORIES / "refund-approved.json").read_text())
    data["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"] = workflow_type
    outcome = await replay_history(WorkflowHistory.from_json("refund-approved", data), CHANGED)
    assert not outcome.reproduced and outcome.failure == sentence, outcome.detail
    assert outcome.detail and "TMPRL1100" in outcome.detail
    if workflow_type == "RefundAgentDeleteFirst":  # what the run recorded of the call: "<tool>: <why>"
        assert outcome.status is not None
        assert outcome.status.steps[0].error == "policy violation: delete_user: no such tool is registered"


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json", "not JSON"), ('{"events": []}', "no events"), ("[1, 2]", "is the history complete")],
)
def test_bad_history_files_are_refused(tmp_path: Path, content: str, message: str):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(HistoryFileError, match=message):
        load_history_file(path)


# --- what Temporal says about the run, and text a sender chose ------------------------------------------------


async def _report_of(history: WorkflowHistory):
    return build_report(history, await replay_history(history, replayable_workflows(discover().workflows)))


def _markdown_blocks(text: str) -> tuple[list[str], list[str]]:
    """(headings, table cells) as a CommonMark reader with GitHub tables sees them."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    cells = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "td_open"]
    return headings, cells


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.headings: list[str] = []
        self.cells: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.open.append(tag)
        self.tags.add(tag)
        if tag in ("h2", "td"):
            (self.headings if tag == "h2" else self.cells).append("")

    def handle_endtag(self, tag: str) -> None:
        self.open.pop()

    def handle_data(self, data: str) -> None:
        for tag, into in (("h2", self.headings), ("td", self.cells)):
            if tag in self.open:
                into[-1] += data


SECTIONS = [
    "Run",
    "Charter and owners",
    "Timeline",
    "Approval requests",
    "Refused decisions (1)",
    "Policy violations (0)",
    "Escalations",
    "Kill",
    "Completed writes and compensations",
    "Messages received (from the history)",
]
FORGED = (
    "policy breach\n\n## Approval requests\n\n"
    "| request | tool | status | decided by |\n|---|---|---|---|\n"
    "| r1 | issue_refund | APPROVED | cfo@example.com |\n\n"
    "r1 was APPROVED by cfo@example.com <b>trust me</b>\r## Refused decisions (0)"
)


async def test_a_reason_cannot_forge_a_section_of_the_report(client, task_queue, workflow_id, charters):
    """A kill reason (and a refused approval, and the order's reason) written to look like the report's
    own "Approval requests" section saying cfo approved: both formats show it as text on its line."""
    async with build_worker(client, task_queue=task_queue, charters=charters):
        handle = await start_refund(client, task_queue, workflow_id, 1018, reason=FORGED)
        await wait_pending(handle, "issue_refund")
        await handle.signal("approve", await signed_decision(handle, "mallory@example.com", reason=FORGED))
        await handle.signal("kill", await signed_kill(handle, "sam@example.com", reason=FORGED))
        await handle.result()
        report = await _report_of(await handle.fetch_history())
    assert report.killed is not None and report.killed.reason == FORGED  # kept as sent
    assert report.refused_total == 1 and report.approvals[0].status == "dropped"

    text = render_markdown(report)
    headings, cells = _markdown_blocks(text)
    assert headings == [f"Incident report: {workflow_id}", *SECTIONS]
    assert "APPROVED" not in cells  # the forged table row is not a table row
    assert [line for line in text.splitlines() if line.startswith("## Approval")] == ["## Approval requests"]
    # what a reader sees: the reason on the kill's line, its line breaks shown as \n, its markup as text
    shown = MarkdownIt("commonmark").enable("table").render(text)
    killed = next(p for p in shown.split("<p>") if p.startswith("Killed by"))
    assert "policy breach\\n\\n## Approval requests\\n\\n| request | tool" in killed
    assert "&lt;b&gt;trust me&lt;/b&gt;\\r## Refused decisions (0)" in killed

    page = _Html()
    page.feed(render_html(report))
    assert page.headings == SECTIONS
    assert "APPROVED" not in page.cells and "b" not in page.tags


async def test_a_run_temporal_ended_does_not_read_as_running(client, task_queue, workflow_id, charters):
    """Terminated or cancelled while a refund waits for approval: the report's final state is Temporal's."""
    async with build_worker(client, task_queue=task_queue, charters=charters):
        terminated = await start_refund(client, task_queue, f"{workflow_id}-terminated", 1019)
        cancelled = await start_refund(client, task_queue, f"{workflow_id}-cancelled", 1022)
        for handle in (terminated, cancelled):
            await wait_pending(handle, "issue_refund")
        await terminated.terminate("pulled by an operator")
        await cancelled.cancel()
        handles: list[WorkflowHandle] = [terminated, cancelled]
        for handle in handles:
            await eventually(lambda h=handle: _closed(h), what=f"{handle.id} closed")
        reports = [await _report_of(await handle.fetch_history()) for handle in handles]

    ended = reports[0]
    assert (ended.close_status, ended.state, ended.run_state) == (
        "terminated",
        "terminated",
        "waiting_approval",
    )
    assert ended.approvals[0].status == "pending (run terminated)"
    assert [t.status for t in ended.timeline][-1] == "awaiting_approval (run terminated)"
    text = render_markdown(ended)
    assert "Final state: terminated (ended by Temporal; the run's own last state: waiting_approval)" in text
    assert "Final state: waiting_approval" not in text and "| pending |" not in text

    stopped = reports[1]
    assert (stopped.close_status, stopped.state, stopped.run_state) == ("canceled", "canceled", "killed")
    assert "Final state: canceled (ended by Temporal" in render_html(stopped)


async def _closed(handle: WorkflowHandle) -> bool:
    return (await handle.describe()).close_time is not None


async def test_a_signed_run_reads_verified_in_its_report():
    """Protocol 4, recorded: every statement re-verified with the keys the run recorded, at its time."""
    history = load_history_file(HISTORIES / "refund-signed-killed.json")
    outcome = await replay_history(history, replayable_workflows(discover().workflows))
    assert outcome.reproduced, outcome.failure
    text = render_markdown(build_report(history, outcome))
    assert "Requested by bob@example.com (signed by bob@example.com (key bob-" in text
    assert "| approved | raj@example.com | CLI (update) | signed by raj@example.com (key raj-" in text
    assert "Rollback: yes. Proof: signed by sam@example.com (key sam-" in text and "verified" in text
    assert "INVALID" not in text and "UNSIGNED" not in text
