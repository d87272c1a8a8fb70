"""``agentflow topics list | ensure``: the topic catalog."""

from __future__ import annotations

import click
from rich.table import Table

from agentflow.cli.output import console, print_json
from agentflow.cli.worker_cmd import PROCESSOR_OPTION, ROLE_OPTION, parse_roles
from agentflow.composition import topology_deployment
from agentflow.settings import load_settings
from topics import catalog, ensure_topics


@click.group("topics")
def topics_group() -> None:
    """The topics agentflow uses, and making the broker match them.

    With --processor (and --role), they are the topics of a worker running those processors:
    its roles' topics and a compacted changelog per table,
    <prefix><app id>.<table>.changelog, with the deployment's partition count.
    """


@topics_group.command("list")
@PROCESSOR_OPTION
@ROLE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
def list_cmd(processor_specs: tuple[str, ...], role_pairs: tuple[str, ...], as_json: bool) -> None:
    """Print the topic catalog, with each topic's role."""
    deployment = topology_deployment(load_settings(), processor_specs, parse_roles(role_pairs))
    specs = catalog(deployment)
    if as_json:
        print_json([s.as_dict() for s in specs])
        return
    table = Table("name", "role", "partitions", "cleanup", "retention", "value")
    for s in specs:
        retention = "forever" if s.retention_ms < 0 else f"{s.retention_ms // 86_400_000}d"
        table.add_row(
            s.name,
            s.role,
            str(s.partitions),
            s.cleanup_policy,
            retention if s.cleanup_policy == "delete" else "-",
            s.value_schema,
        )
    console.print(table)


@topics_group.command("ensure")
@PROCESSOR_OPTION
@ROLE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def ensure_cmd(
    processor_specs: tuple[str, ...], role_pairs: tuple[str, ...], as_json: bool
) -> None:
    """Create missing topics and report drift; never alters an existing topic."""
    settings = load_settings()
    deployment = topology_deployment(settings, processor_specs, parse_roles(role_pairs))
    report = ensure_topics(settings.kafka.client_config(), catalog(deployment))
    if as_json:
        print_json(report.as_dict())
        return
    for name in report.created:
        console.print(f"created  {name}")
    for name in report.unchanged:
        console.print(f"ok       {name}", style="dim")
    for d in report.drift:
        console.print(f"[yellow]drift[/]    {d['topic']}: {d['differences']}")
