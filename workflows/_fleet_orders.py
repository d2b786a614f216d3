"""Each signed kill or resume counts once, and in order: a fleet order copied out of a history and sent
again is refused.

The stop/go owner's ``mandate kill`` and ``mandate resume`` are statements anyone who can read the
monitor's history can copy. Sent again, an old kill would re-pause a fleet the owner resumed, and an old
resume would lift a newer pause. So the monitor keeps the nonce of every order it has taken until the
order expires (carried across continue-as-new), refuses an order whose lifetime is longer than an order
needs, and refuses one issued before its last verified decision. Pure: no workflow API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from temporalio.exceptions import ApplicationError

from mandate.approvals.proof import FLEET_ORDER_MAX_LIFETIME
from mandate.outcomes import KillDecision
from mandate.statements import SKEW_SECONDS, SignedStatement

__all__ = ["FLEET_ORDERS_ONCE", "FleetOrders", "ORDER_REFUSED"]

#: The patch that turns these checks on: monitors recorded before it replay without them.
FLEET_ORDERS_ONCE = "fleet-orders-once"
#: The error type of an order refused here (the update's answer).
ORDER_REFUSED = "FleetOrderRefused"


def _key(statement: SignedStatement) -> str:
    return f"{statement.key_id}/{statement.nonce}"


def _last_decided_at(decisions: Sequence[KillDecision]) -> int | None:
    """When the monitor's last verified decision was made, on the clock its order was signed with: the
    order's issue time, or, for a breach (the monitor's own), its time less the clock skew allowed."""
    for decision in reversed(decisions):
        if not decision.verified:
            continue
        if decision.statement is not None:
            return decision.statement.issued_at
        return int(decision.at.timestamp()) - SKEW_SECONDS
    return None


@dataclass
class FleetOrders:
    """The orders a monitor has taken, by key id and nonce, with their expiry (epoch seconds)."""

    used: dict[str, int] = field(default_factory=dict)
    enforced: bool = False

    @classmethod
    def of(cls, used: dict[str, int]) -> FleetOrders:
        return cls(used=dict(used))

    def require_fresh(self, statement: SignedStatement | None, decisions: Sequence[KillDecision]) -> None:
        """Refuse an order taken before, valid for too long, or older than the last decision."""
        if not self.enforced or statement is None:
            return
        act = statement.act.value
        if _key(statement) in self.used:
            raise ApplicationError(
                f"this signed {act} was taken already (nonce {statement.nonce[:8]}…); an order counts once: "
                f"sign a new one with `mandate {act}`",
                type=ORDER_REFUSED,
                non_retryable=True,
            )
        longest = FLEET_ORDER_MAX_LIFETIME.total_seconds()
        if statement.expires_at - statement.issued_at > longest:
            raise ApplicationError(
                f"a signed {act} may be valid for {longest / 60:.0f} minutes at most; sign a new one with `mandate {act}`",
                type=ORDER_REFUSED,
                non_retryable=True,
            )
        last = _last_decided_at(decisions)
        if last is not None and statement.issued_at < last:
            raise ApplicationError(
                f"this signed {act} was issued before the monitor's last decision; an older order cannot undo a "
                f"newer one: sign a new one with `mandate {act}`",
                type=ORDER_REFUSED,
                non_retryable=True,
            )

    def use(self, statement: SignedStatement | None) -> None:
        if self.enforced and statement is not None:
            self.used[_key(statement)] = statement.expires_at

    def carried(self, now: datetime) -> dict[str, int]:
        """What continue-as-new carries: the orders not expired yet (an expired one is refused anyway)."""
        moment = int(now.timestamp())
        return {key: expires for key, expires in self.used.items() if expires > moment}
