"""The sample actors every test kit helper, sample event and the demo use, defined once."""

from __future__ import annotations

from typing import Final

from processors.events import Actor

CUSTOMER: Final = Actor(id="cust-77", kind="user", roles=["customer"])
"""A customer of tenant ``acme``: raises tickets and replies."""
STEP_WORKER: Final = Actor(id="step-worker", kind="service", roles=["agent"])
"""The step worker answering step commands with ``step.completed`` / ``step.failed``."""
REVIEWER: Final = Actor(id="u-olga", kind="user", roles=["support", "refund_approver"])
"""A human reviewer who may answer refund approvals."""
MONITOR: Final = Actor(id="alertmanager", kind="service", roles=["monitoring"])
"""The monitoring system raising and resolving alerts."""
RUNTIME: Final = Actor(id="agentflow", kind="system")
"""agentflow itself (the engine's own events)."""
