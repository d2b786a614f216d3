"""The readiness audit: five questions per charter, answered without a Temporal server."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

import mandate.activities.shop  # noqa: F401  (registers the shop's tools)
from mandate.authority import Authority
from mandate.charter import load_charter
from mandate.errors import CharterError
from mandate.tools import ToolRegistry, registry, tool
from mandate.worker.audit import (
    QUESTIONS,
    AgentAudit,
    Check,
    audit_charter,
    audit_directory,
    render_audit,
    render_line,
)
from mandate.workflows.governed import GovernedAgent
from mandate.workflows.refund_agent import RefundAgent

AGENT_WORKFLOWS = {"RefundAgent": RefundAgent}

SHIPPED = Path(__file__).resolve().parent.parent / "charters"


# --- a small world of its own: tools and workflow classes ------------------------------------------------


class Args(BaseModel):
    x: int


class Result(BaseModel):
    y: int


class UndoArgs(BaseModel):
    original: Args
    result: Result


def make_tools() -> ToolRegistry:
    reg = ToolRegistry()

    @tool(authority=Authority.READ, into=reg)
    async def lookup(args: Args) -> Result:
        return Result(y=args.x)

    @tool(authority=Authority.WRITE, compensation="unpay", into=reg)
    async def pay(args: Args) -> Result:
        return Result(y=args.x)

    @tool(authority=Authority.WRITE, compensates="pay", into=reg)
    async def unpay(args: UndoArgs) -> Result:
        return Result(y=0)

    @tool(authority=Authority.WRITE, irreversible="a sent mail cannot be recalled", into=reg)
    async def send_mail(args: Args) -> Result:
        return Result(y=1)

    @tool(authority=Authority.WRITE, into=reg)  # neither compensated nor declared irreversible
    async def wipe(args: Args) -> Result:
        return Result(y=0)

    @tool(authority=Authority.WRITE, compensation="ghost", into=reg)  # names a compensation that is not there
    async def haunt(args: Args) -> Result:
        return Result(y=0)

    return reg


TOOLS = make_tools()


class FakeAgent(GovernedAgent):  # not `Test...`: pytest would try to collect it
    agent = "test-agent"


class DeclaringAgent(GovernedAgent):
    agent = "test-agent"
    tools = ("lookup", "pay", "send_mail")


class OtherAgent(GovernedAgent):
    agent = "other-agent"


class PlainAgent:  # looks like an agent, but does not go through the governed loop
    agent = "test-agent"


WORKFLOWS: dict[str, type] = {
    "TestAgent": FakeAgent,
    "DeclaringAgent": DeclaringAgent,
    "OtherAgent": OtherAgent,
    "PlainAgent": PlainAgent,
}

READY = """\
name = "test-agent"
workflow = "TestAgent"

[owners]
workflow = "ana@example.com"
risk = "raj@example.com"
quality = "qi@example.com"
stop_go = "sam@example.com"

[tools.lookup]
policy = "allow"

[tools.pay]
policy = "approve"
approvers = ["raj@example.com"]

[tools.send_mail]
policy = "allow"
reason = "status mails only, reviewed weekly"

[tools.wipe]
policy = "block"

[kill_criteria]
window = "1h"
min_samples = 20
max_exception_rate = 0.10
max_rework_rate = 0.25
max_escalation_rate = 0.30
max_cost_per_workflow = 0.50
action = "rollback"
"""


def edit(body: str, old: str, new: str) -> str:
    assert old in body, f"the test charter has no {old!r}"
    return body.replace(old, new)


def write(tmp_path: Path, body: str, name: str = "test-agent") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(body, encoding="utf-8")
    return path


def audit(tmp_path: Path, body: str, *, tools: ToolRegistry = TOOLS, workflows=WORKFLOWS) -> AgentAudit:
    result = audit_charter(write(tmp_path, body), tools=tools, workflows=workflows)
    assert [c.question for c in result.checks] == list(QUESTIONS)
    for check in result.checks:
        assert check.detail and "\n" not in check.detail, f"detail is not one line: {check.detail!r}"
    return result


def only_failure(result: AgentAudit, question: str) -> Check:
    """The failing check of ``question``, asserting every other question passes."""
    assert not result.ready
    failed = [c.question for c in result.checks if not c.ok]
    assert failed == [question], [render_line(c) for c in result.checks]
    return result.check(question)


# --- ready charters ----------------------------------------------------------------------------------------


def test_shipped_charters_are_ready() -> None:
    audits = audit_directory(SHIPPED, tools=registry, workflows=AGENT_WORKFLOWS)
    by_agent = {a.agent: a for a in audits}
    refund = by_agent["refund-agent"]
    assert refund.path == str(SHIPPED / "refund-agent.toml")
    assert [c.question for c in refund.checks] == [
        "authority",
        "owners",
        "tool_pattern",
        "outcomes",
        "rollback",
    ]
    assert refund.ready, "\n".join(render_audit(refund))
    assert "sam@example.com" in refund.check("owners").detail
    assert "issue_refund (by reverse_refund)" in refund.check("rollback").detail
    assert "notify_customer" in refund.check("rollback").detail


def test_the_test_charter_is_ready(tmp_path: Path) -> None:
    result = audit(tmp_path, READY)
    assert result.ready, "\n".join(render_audit(result))
    assert result.agent == "test-agent"
    assert "allow 2, approve 1, block 1" in result.check("authority").detail
    assert "on a breach: rollback" in result.check("rollback").detail


def test_a_workflow_declaring_only_chartered_tools_is_ready(tmp_path: Path) -> None:
    result = audit(tmp_path, edit(READY, 'workflow = "TestAgent"', 'workflow = "DeclaringAgent"'))
    assert result.ready, "\n".join(render_audit(result))


# --- 1. authority ------------------------------------------------------------------------------------------


def test_write_tool_allowed_without_reason_fails_authority(tmp_path: Path) -> None:
    body = edit(READY, 'reason = "status mails only, reviewed weekly"\n', "")
    check = only_failure(audit(tmp_path, body), "authority")
    assert "tools.send_mail.policy" in check.detail
    assert "reason" in check.detail and "approve" in check.detail


def test_tool_the_workflow_declares_without_a_policy_fails_authority(tmp_path: Path) -> None:
    body = edit(READY, 'workflow = "TestAgent"', 'workflow = "DeclaringAgent"')
    body = edit(
        body, '[tools.send_mail]\npolicy = "allow"\nreason = "status mails only, reviewed weekly"\n', ""
    )
    check = only_failure(audit(tmp_path, body), "authority")
    assert "tools.send_mail" in check.detail
    assert "DeclaringAgent" in check.detail


def test_unregistered_tool_fails_authority_and_tool_pattern(tmp_path: Path) -> None:
    body = READY + '\n[tools.delete_customer]\npolicy = "block"\n'
    result = audit(tmp_path, body)  # the charter still loads: the audit reads it without the registry
    assert [c.question for c in result.checks if not c.ok] == ["authority", "tool_pattern"]
    assert "tools.delete_customer" in result.check("authority").detail
    assert "is registered" in result.check("authority").detail
    assert "tools.delete_customer" in result.check("tool_pattern").detail
    assert "@tool" in result.check("tool_pattern").detail


def test_invalid_tool_policy_is_reported_under_authority(tmp_path: Path) -> None:
    path = write(tmp_path, edit(READY, 'policy = "block"', 'policy = "maybe"'))
    result = audit_charter(path, tools=TOOLS, workflows=WORKFLOWS)
    assert [c.question for c in result.checks if not c.ok] == ["authority", "rollback"]
    detail = result.check("authority").detail
    assert detail.startswith(f"{path}: tools.wipe.policy: ")
    assert "'allow', 'approve' or 'block'" in detail
    # rollback depends on the tool policies, so it says why it could not answer
    assert "not checked: tools.wipe.policy does not load (see authority)" in result.check("rollback").detail
    assert result.check("owners").ok and result.check("outcomes").ok


# --- 2. owners ---------------------------------------------------------------------------------------------


def test_missing_stop_go_owner_fails_owners(tmp_path: Path) -> None:
    path = write(tmp_path, edit(READY, 'stop_go = "sam@example.com"\n', ""))
    check = only_failure(audit_charter(path, tools=TOOLS, workflows=WORKFLOWS), "owners")
    assert check.detail == f"{path}: owners.stop_go: Field required"


def test_blank_risk_owner_fails_owners(tmp_path: Path) -> None:
    check = only_failure(audit(tmp_path, edit(READY, 'risk = "raj@example.com"', 'risk = "  "')), "owners")
    assert "owners.risk" in check.detail
    assert "at least 1 character" in check.detail


def test_missing_owners_table_fails_owners(tmp_path: Path) -> None:
    body = edit(READY, '[owners]\nworkflow = "ana@example.com"\n', "")
    body = edit(
        body, 'risk = "raj@example.com"\nquality = "qi@example.com"\nstop_go = "sam@example.com"\n', ""
    )
    check = only_failure(audit(tmp_path, body), "owners")
    assert ": owners: Field required" in check.detail


# --- 3. tool pattern ---------------------------------------------------------------------------------------


def test_unknown_workflow_fails_tool_pattern(tmp_path: Path) -> None:
    check = only_failure(audit(tmp_path, edit(READY, '"TestAgent"', '"NoSuchAgent"')), "tool_pattern")
    assert "workflow" in check.detail and "'NoSuchAgent'" in check.detail
    assert "known: " in check.detail and "TestAgent" in check.detail


def test_workflow_that_is_not_a_governed_agent_fails_tool_pattern(tmp_path: Path) -> None:
    check = only_failure(audit(tmp_path, edit(READY, '"TestAgent"', '"PlainAgent"')), "tool_pattern")
    assert "workflow: PlainAgent is not a GovernedAgent" in check.detail


def test_workflow_of_another_agent_fails_tool_pattern(tmp_path: Path) -> None:
    check = only_failure(audit(tmp_path, edit(READY, '"TestAgent"', '"OtherAgent"')), "tool_pattern")
    assert "'other-agent'" in check.detail and "'test-agent'" in check.detail


def test_workflow_declaring_an_unregistered_tool_fails_tool_pattern(tmp_path: Path) -> None:
    class Declaring(GovernedAgent):
        agent = "test-agent"
        tools = ("lookup", "frobnicate")

    result = audit(tmp_path, READY, workflows={"TestAgent": Declaring})
    check = only_failure(result, "tool_pattern")
    assert "'frobnicate'" in check.detail and "@tool" in check.detail


# --- 4. outcomes -------------------------------------------------------------------------------------------


def test_missing_threshold_fails_outcomes(tmp_path: Path) -> None:
    check = only_failure(audit(tmp_path, edit(READY, "max_rework_rate = 0.25\n", "")), "outcomes")
    assert "kill_criteria.max_rework_rate is not set" in check.detail
    assert "max_exception_rate" not in check.detail


def test_every_missing_threshold_is_named(tmp_path: Path) -> None:
    body = edit(READY, "max_escalation_rate = 0.30\nmax_cost_per_workflow = 0.50\n", "")
    body = edit(body, 'window = "1h"\n', "")
    check = only_failure(audit(tmp_path, body), "outcomes")
    for key in ("window", "max_escalation_rate", "max_cost_per_workflow"):
        assert f"kill_criteria.{key} is not set" in check.detail


def test_threshold_out_of_range_fails_outcomes(tmp_path: Path) -> None:
    path = write(tmp_path, edit(READY, "max_exception_rate = 0.10", "max_exception_rate = 1.5"))
    check = only_failure(audit_charter(path, tools=TOOLS, workflows=WORKFLOWS), "outcomes")
    assert check.detail.startswith(f"{path}: kill_criteria.max_exception_rate: ")
    assert "less than or equal to 1" in check.detail


def test_no_kill_criteria_fails_outcomes_and_rollback(tmp_path: Path) -> None:
    body = READY.split("[kill_criteria]")[0]
    result = audit(tmp_path, body)
    assert [c.question for c in result.checks if not c.ok] == ["outcomes", "rollback"]
    assert "no [kill_criteria] table" in result.check("outcomes").detail
    assert "kill_criteria.action is not set" in result.check("rollback").detail


# --- 5. rollback -------------------------------------------------------------------------------------------


def test_implicit_kill_action_fails_rollback(tmp_path: Path) -> None:
    check = only_failure(audit(tmp_path, edit(READY, 'action = "rollback"\n', "")), "rollback")
    assert "kill_criteria.action is not set" in check.detail
    assert '"pause" | "cancel" | "rollback"' in check.detail


def test_invalid_kill_action_fails_rollback_not_outcomes(tmp_path: Path) -> None:
    path = write(tmp_path, edit(READY, 'action = "rollback"', 'action = "explode"'))
    check = only_failure(audit_charter(path, tools=TOOLS, workflows=WORKFLOWS), "rollback")
    assert check.detail.startswith(f"{path}: kill_criteria.action: ")


def test_write_tool_without_compensation_fails_rollback(tmp_path: Path) -> None:
    body = edit(
        READY,
        '[tools.wipe]\npolicy = "block"',
        '[tools.wipe]\npolicy = "approve"\napprovers = ["raj@example.com"]',
    )
    check = only_failure(audit(tmp_path, body), "rollback")
    assert "tools.wipe" in check.detail
    assert "no compensation and is not declared irreversible" in check.detail
    assert "tools.pay" not in check.detail  # the compensated tool is not blamed


def test_blocked_write_tool_without_compensation_is_fine(tmp_path: Path) -> None:
    assert audit(tmp_path, READY).check("rollback").ok  # READY blocks `wipe`


def test_compensation_that_is_not_registered_fails_rollback(tmp_path: Path) -> None:
    body = READY + '\n[tools.haunt]\npolicy = "approve"\napprovers = ["raj@example.com"]\n'
    check = only_failure(audit(tmp_path, body), "rollback")
    assert "tools.haunt" in check.detail and "'ghost'" in check.detail


def test_irreversible_write_of_the_real_registry_passes(tmp_path: Path) -> None:
    body = READY.split("[tools.lookup]")[0] + (
        '[tools.delete_customer]\npolicy = "approve"\napprovers = ["raj@example.com"]\n\n[kill_criteria]'
        + READY.split("[kill_criteria]")[1]
    )
    result = audit(tmp_path, body, tools=registry)
    assert result.ready, "\n".join(render_audit(result))
    assert "irreversible by declaration: delete_customer" in result.check("rollback").detail


# --- charters that do not load -----------------------------------------------------------------------------


def test_broken_toml_is_reported_not_raised(tmp_path: Path) -> None:
    path = write(tmp_path, '[owners\nworkflow = "x"\n')
    result = audit_charter(path, tools=TOOLS, workflows=WORKFLOWS)
    assert not result.ready
    assert result.agent == "test-agent"  # from the file name, since the file cannot be read
    first = result.checks[0]
    assert first.question == "authority" and not first.ok
    assert first.detail.startswith(f"{path}: (toml): ")
    assert all(not c.ok and "not checked" in c.detail for c in result.checks[1:])


def test_charter_level_error_is_reported_on_the_first_check(tmp_path: Path) -> None:
    path = write(tmp_path, READY, name="renamed")
    result = audit_charter(path, tools=TOOLS, workflows=WORKFLOWS)
    check = only_failure(result, "authority")
    assert check.detail == f"{path}: name: 'test-agent' does not match the file name 'renamed'"


def test_unknown_field_is_reported_under_its_question(tmp_path: Path) -> None:
    body = edit(READY, 'quality = "qi@example.com"', 'qualty = "qi@example.com"')
    check = only_failure(audit(tmp_path, body), "owners")
    assert "owners.qualty: unknown field (a typo?)" in check.detail


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    """A charter that does not load never passes a question: a renamed file with a bad action is
    refused for both, each under its own question."""
    path = write(tmp_path, edit(READY, 'action = "rollback"', 'action = "explode"'), name="renamed")
    result = audit_charter(path, tools=TOOLS, workflows=WORKFLOWS)
    assert [c.question for c in result.checks if not c.ok] == ["authority", "rollback"]
    assert result.check("authority").detail == f"{path}: name: 'test-agent' does not match the file name 'renamed'"
    assert result.check("rollback").detail.startswith(f"{path}: kill_criteria.action: ")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('stop_go = "sam@example.com"\n', ""),
        ('policy = "block"', 'policy = "maybe"'),
        ('quality = "qi@example.com"', 'qualty = "qi@example.com"'),
        ('action = "rollback"', 'action = "explode"'),
        ("max_exception_rate = 0.10", "max_exception_rate = 1.5"),
        ('reason = "status mails only, reviewed weekly"\n', ""),
        ('[tools.wipe]\npolicy = "block"', '[tools.ghost]\npolicy = "block"'),
        ('name = "test-agent"', 'name = "Test Agent"'),
    ],
)
def test_the_audit_refuses_what_loading_refuses_in_the_same_words(tmp_path: Path, old: str, new: str) -> None:
    """One rule, one wording: the error the worker gives when loading a charter is an audit finding."""
    path = write(tmp_path, edit(READY, old, new))
    with pytest.raises(CharterError) as refused:
        load_charter(path, TOOLS)
    result = audit_charter(path, tools=TOOLS, workflows=WORKFLOWS)
    assert not result.ready
    message = str(refused.value).removeprefix(f"{path}: ")
    assert any(message in c.detail for c in result.checks if not c.ok), (message, render_audit(result))


def test_audit_directory_reports_every_file_sorted(tmp_path: Path) -> None:
    write(tmp_path, READY)
    write(tmp_path, "this is = = not toml", name="broken-agent")
    (tmp_path / "notes.txt").write_text("not a charter", encoding="utf-8")
    audits = audit_directory(tmp_path, tools=TOOLS, workflows=WORKFLOWS)
    assert [a.agent for a in audits] == ["broken-agent", "test-agent"]
    assert [a.ready for a in audits] == [False, True]


def test_audit_directory_on_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CharterError) as info:
        audit_directory(tmp_path / "nope", tools=TOOLS, workflows=WORKFLOWS)
    assert info.value.field == "(directory)"


def test_empty_directory_has_nothing_to_audit(tmp_path: Path) -> None:
    assert audit_directory(tmp_path, tools=TOOLS, workflows=WORKFLOWS) == []


# --- rendering ---------------------------------------------------------------------------------------------


def test_render_line_and_audit() -> None:
    assert render_line(Check("owners", True, "all named")) == "ok    owners        all named"
    assert render_line(Check("rollback", False, "x")).startswith("FAIL  rollback      x")
    lines = render_audit(AgentAudit("a", "a.toml", [Check("owners", False, "x")]))
    assert lines[0] == "a (a.toml): NOT READY"
    assert lines[1] == "  FAIL  owners        x"
