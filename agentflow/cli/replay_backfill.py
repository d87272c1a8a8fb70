"""``agentflow replay --execute``: the backfill's checks, plan, confirmation and write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from agentflow.cli.output import console
from agentflow.errors import UserError
from agentflow.settings import Settings
from processors.deployment import Deployment
from processors.engine import TIMERS, WORKFLOWS
from replay.backfill import BackfillPlan, execute, group_is_empty, plan_backfill
from replay.session import Replay, ReplayResult
from replay.shadow import ShadowRun
from topics.catalog import catalog_names

Then = Callable[[Replay, ReplayResult, ShadowRun], None]


class Backfill:
    """Plans during the replay (while its shadow state is open), writes after it."""

    def __init__(self, settings: Settings, to_prefix: str | None) -> None:
        self.settings = settings
        self.config = settings.kafka.client_config()
        d = settings.deployment
        self.target: Deployment | None = None
        if to_prefix is not None:
            self.target = Deployment.create(
                d.app_id, d.partitions, catalog_names(), topic_prefix=to_prefix
            ).with_tables([WORKFLOWS, TIMERS])
        elif not group_is_empty(self.config, d.app_id):
            raise UserError(
                f"the workers of {d.app_id} are running (consumer group {d.app_id} has members): "
                "stop them before a backfill, whose states they would not see, or write to "
                "shadow topics with --to-prefix"
            )
        self.plan: BackfillPlan | None = None

    def then(self, replay: Replay, result: ReplayResult, shadow: ShadowRun) -> None:
        self.plan = plan_backfill(self.config, replay, result, shadow, self.target)

    def run(self, yes: bool, quiet: bool) -> dict[str, Any]:
        """Show the plan, ask (unless ``yes``), write; what was done, for ``--json``."""
        plan = self.plan
        if plan is None:  # an interrupted replay plans nothing
            return {"plan": None, "written": 0}
        doc: dict[str, Any] = {"plan": plan.as_dict(), "written": 0}
        where = "shadow topics" if self.target is not None else "the live topics"
        if not quiet:
            console.print(
                f"Backfill plan ({where}): {len(plan.workflows)} workflow(s)", highlight=False
            )
            for topic, count in sorted(plan.counts().items()):
                console.print(f"  {count:6,} record(s) to {topic}", highlight=False)
        if plan.empty:
            if not quiet:
                console.print("Nothing to write: every record and state is already there.")
            return doc
        if not yes:
            if not click.get_text_stream("stdin").isatty():
                raise UserError(
                    "--execute writes to topics: confirm with --yes when not at a terminal"
                )
            click.confirm("Write these records?", abort=True)
        doc["written"] = execute(self.config, plan, self.settings.deployment.partitions)
        if not quiet:
            console.print(f"Wrote {doc['written']:,} record(s) in one transaction.")
        return doc
