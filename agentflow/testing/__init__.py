"""The agentflow test kit: what agentflow's own tests use, for your tests too.

Like httpx's ``MockTransport`` it lets you test without the real thing in the way:

- :class:`EventFactory` builds valid events of one workflow with deterministic ids;
- :func:`sample_events` is one realistic example of every event type;
- :class:`MemoryState` and :func:`make_context` call a processor directly;
- :class:`WorkflowHarness` drives a workflow through :class:`~streams.driver.TestDriver`;
- :class:`ScriptedStepWorker` runs the steps workflows declare (Python handlers, or models
  on an OpenAI-compatible endpoint), on a real broker, at least once;
- :class:`FakeOpenAI` is a real local HTTP server speaking OpenAI's chat completions, scripted
  with :class:`Reply` (outputs, errors such as 429, slow answers);
- the sample actors (:data:`CUSTOMER`, :data:`REVIEWER`, ...) are the ones all of these use.
"""

from agentflow.testing.actors import CUSTOMER, MONITOR, REVIEWER, RUNTIME, STEP_WORKER
from agentflow.testing.events import EventFactory
from agentflow.testing.fake_openai import FakeOpenAI, Reply
from agentflow.testing.harness import WorkflowHarness
from agentflow.testing.samples import T0, sample_events
from agentflow.testing.state import MemoryState, make_context
from agentflow.testing.stepworker import ScriptedStepWorker

__all__ = [
    "CUSTOMER",
    "MONITOR",
    "REVIEWER",
    "RUNTIME",
    "STEP_WORKER",
    "T0",
    "EventFactory",
    "FakeOpenAI",
    "MemoryState",
    "Reply",
    "ScriptedStepWorker",
    "WorkflowHarness",
    "make_context",
    "sample_events",
]
