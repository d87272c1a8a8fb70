"""Helpers for workflow-engine tests on the real broker.

* :mod:`.deployment` — :class:`EngineDeployment`: catalog topics (and the app's changelogs)
  under a test prefix, the worker's settings, and ``agentflow worker`` subprocesses
  (:class:`~tests.integration.workers.Worker`) with no ``--processor`` (the gate fused with
  the orchestrator) on the catalog roles.
* :mod:`.plans` — :func:`build_plans`: a deterministic mix of workflows (low-risk and refund
  tickets, incidents, duplicates, events sent before their workflow's start event), each with
  the decisions and the final state the definitions say it must reach.
* :mod:`.run` — :class:`EngineRun`: produces plans through the SDK (signed), runs a
  :class:`~agentflow.testing.ScriptedStepWorker` in a thread, grants approvals as an
  approver user when ``approval.requested`` shows up on ``outputs``, and watches ``audit``
  and ``outputs`` until every planned decision has been made.
* :mod:`.readers` and :mod:`.checks` — :func:`read_topic`, :func:`final_states`,
  :func:`collect`, :func:`check_run`: read back what was committed and check it against the
  plans.
"""
