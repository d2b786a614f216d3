"""Where a replay diverged, in one sentence: which step, what the history recorded there, what today's code did.

The SDK's core reports a divergence as a Rust debug struct naming one history event and the state machine
of the command that did not match it ("UpsertWorkflowSearchAttributesMachine does not handle
HistoryEvent(id: 10, ActivityTaskScheduled)"), or the two activity types that differ. Read with the
history's events and the steps today's code took until then (the replayed instance's state), that says
it in the run's own words: "step 1: the history has activity lookup_order scheduled at event 10; today's
code scheduled check_refund_policy".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from mandate.run import AgentStatus, Step, StepStatus

__all__ = ["explain", "core_message"]

_ACTIVITY_TYPES = re.compile(
    r"Activity type of scheduled event '([^']*)' does not match activity type of activity command '([^']*)'"
)
_EVENT = re.compile(r"HistoryEvent\(id: (\d+)")
_MACHINE = re.compile(r"([A-Za-z][A-Za-z ]*?) ?[Mm]achine does not handle")
_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_PREFIX = re.compile(r"^\[TMPRL\d+\] Nondeterminism error: ")
#: Steps whose tool was called: today's code scheduled its activity.
_CALLED = (StepStatus.RUNNING, StepStatus.COMPLETED, StepStatus.FAILED)
#: What today's code did, by the state machine of the command the history did not expect.
_DID = {
    "upsertworkflowsearchattributes": "updated its search attributes",
    "activity": "scheduled an activity",
    "localactivity": "ran a local activity",
    "timer": "started a timer",
    "completeworkflow": "completed the run",
    "failworkflow": "failed the run",
    "continueasnewworkflow": "continued as new",
    "cancelworkflow": "cancelled the run",
    "childworkflow": "started a child workflow",
    "signalexternalwf": "signalled another workflow",
    "cancelexternalwf": "cancelled another workflow",
    "modifyworkflowproperties": "changed its memo",
    "update": "answered an update",
    "patch": "checked a patch",
}
_MARKERS = {"core_local_activity": "a local activity's result", "core_patch": "a patch marker"}


def core_message(raw: str) -> str:
    """The core's own message out of the SDK's failure text (the struct around it dropped)."""
    found = _MESSAGE.search(raw)
    text = found.group(1).replace('\\"', '"') if found else raw
    return _PREFIX.sub("", " ".join(text.split()))


def explain(events: Sequence[HistoryEvent], raw: str, status: AgentStatus | None) -> str:
    """One sentence saying where today's code left the history, or the core's message when it names no event."""
    calls = [
        (e.event_id, e.activity_task_scheduled_event_attributes.activity_type.name)
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and not e.activity_task_scheduled_event_attributes.activity_type.name.startswith("mandate.")
    ]
    steps = list(status.steps) if status else []
    called = [s for s in steps if s.status in _CALLED]
    by_id = {e.event_id: e for e in events}
    types = _ACTIVITY_TYPES.search(raw)
    if types:  # today's last call is the one that differs; its place among today's calls finds the history's
        recorded, scheduled = types.groups()
        place = max(len(called) - 1, 0)
        event_id = next(
            (i for n, (i, name) in enumerate(calls) if name == recorded and n >= place),
            next((i for i, name in calls if name == recorded), 0),
        )
        step = called[-1] if called else None
        return _sentence(step, status, by_id.get(event_id), event_id, f"scheduled {scheduled}")
    at = _EVENT.search(raw)
    if not at:
        return f"today's code does not reproduce the history: {core_message(raw)}"
    event_id = int(at.group(1))
    agreed = sum(1 for i, _ in calls if i < event_id)  # the calls the history and today's code agree on
    if agreed == 0:
        step = steps[0] if steps else None
    elif agreed <= len(called):  # today's code diverged at the step after its last agreed call
        after = steps.index(called[agreed - 1]) + 1
        step = steps[after] if after < len(steps) else None
    else:
        step = None
    event = by_id.get(event_id)
    did = _did(step) if step is not None else None
    if did is None and step is None and status is not None and status.outcome:
        did = f"ended the run as {status.outcome}"  # the end's own writes are what the history did not expect
    if did is None or (step is not None and step.status in _CALLED and _activity(event) == step.tool):
        did = _machine(raw)
    return _sentence(step, status, event, event_id, did)


def _sentence(step: Step | None, status: AgentStatus | None, event: HistoryEvent | None, event_id: int, did: str) -> str:
    """``step N: the history has …; today's code …`` (the step the history was at, when today's took none)."""
    if step is None and status is not None and _activity(event):
        step_no: int | None = len(status.steps) + 1
    else:
        step_no = step.index if step else None
    where = f"step {step_no}: " if step_no else ""
    return f"{where}the history has {_recorded(event, event_id)}; today's code {did}"


def _activity(event: HistoryEvent | None) -> str | None:
    if event is None or event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return None
    return event.activity_task_scheduled_event_attributes.activity_type.name


def _recorded(event: HistoryEvent | None, event_id: int) -> str:
    """What the history holds at ``event_id``, in words."""
    if event is None:
        return f"nothing more after event {event_id - 1}" if event_id else "something else"
    tool = _activity(event)
    if tool is not None:
        return f"activity {tool} scheduled at event {event_id}"
    if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
        name = event.marker_recorded_event_attributes.marker_name
        return f"{_MARKERS.get(name, f'a {name} marker')} at event {event_id}"
    kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower().replace("_", " ")
    kind = kind.replace("upsert workflow search attributes", "a search-attribute update")
    return f"{kind} at event {event_id}"


def _did(step: Step) -> str | None:
    """What today's code did at ``step``, from its state when the replay stopped."""
    if step.status in _CALLED:
        return f"scheduled {step.tool}"
    if step.status is StepStatus.BLOCKED:
        why = (step.error or "").removeprefix("policy violation: ").removeprefix(f"{step.tool}: ")
        return f"blocked {step.tool} ({why})" if why else f"blocked {step.tool}"
    if step.status is StepStatus.INVALID:
        return f"refused the arguments proposed for {step.tool}"
    if step.status in (StepStatus.AWAITING_APPROVAL, StepStatus.REJECTED, StepStatus.DROPPED):
        return f"asked a person to approve {step.tool}"
    return None


def _machine(raw: str) -> str:
    if "No command scheduled for event" in raw:
        return "issued no command there"
    found = _MACHINE.search(raw)
    key = found.group(1).replace(" ", "").lower() if found else ""
    return _DID.get(key, "did something else there")
