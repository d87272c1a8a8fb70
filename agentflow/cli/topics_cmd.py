"""``agentflow topics list | ensure``: the topic catalog."""

from __future__ import annotations

import click
from rich.table import Table

from agentflow.cli.output import console, print_json
from streams.settings import Settings
from topics import catalog, ensure_topics


@click.group("topics")
def topics_group() -> None:
    """The topics agentflow uses, and making the broker match them."""


@topics_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
def list_cmd(as_json: bool) -> None:
    """Print the topic catalog, with each topic's role."""
    settings = Settings()
    specs = catalog(app_id=settings.app_id)
    if as_json:
        print_json([s.as_dict(settings.topic_prefix) for s in specs])
        return
    table = Table("name", "role", "partitions", "cleanup", "retention", "value")
    for s in specs:
        retention = "forever" if s.retention_ms < 0 else f"{s.retention_ms // 86_400_000}d"
        table.add_row(
            settings.topic(s.name),
            s.role,
            str(s.partitions),
            s.cleanup_policy,
            retention if s.cleanup_policy == "delete" else "-",
            s.value_schema,
        )
    console.print(table)


@topics_group.command("ensure")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def ensure_cmd(as_json: bool) -> None:
    """Create missing topics and report drift; never alters an existing topic."""
    settings = Settings()
    report = ensure_topics(
        settings.client_config(), catalog(app_id=settings.app_id), prefix=settings.topic_prefix
    )
    if as_json:
        print_json(report.as_dict())
        return
    for name in report.created:
        console.print(f"created  {name}")
    for name in report.unchanged:
        console.print(f"ok       {name}", style="dim")
    for d in report.drift:
        console.print(f"[yellow]drift[/]    {d['topic']}: {d['differences']}")
