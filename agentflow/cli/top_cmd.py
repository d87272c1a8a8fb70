"""``agentflow top``: a live terminal view of the workers', runners' and serve's metrics."""

from __future__ import annotations

import time
from typing import Any

import click
import httpx
from rich.console import Group
from rich.live import Live
from rich.table import Table

from agentflow.cli.output import console, print_json
from agentflow.top import DEFAULT_URLS, Snapshot, figures, scrape


def _pairs(data: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(data.items())) or "-"


def _show(value: Any) -> str:
    return "-" if value is None else str(value)


def render(rows: list[dict[str, Any]]) -> Group:
    """The view of one round of figures: a table of processes, then steps and HTTP."""
    hosts = Table(title="agentflow top", title_justify="left", expand=True)
    for column in ("endpoint", "in/s", "in", "lag", "commit p50/p99 ms", "aborts", "poison",
                   "decisions", "quarantined"):  # fmt: skip
        hosts.add_column(column, overflow="fold")
    parts: list[Any] = [hosts]
    for row in rows:
        if not row["up"]:
            hosts.add_row(row["url"], "[red]down[/]", row["error"], "", "", "", "", "", "")
            continue
        name = f"{row['component']} {row['url']}"
        commit = f"{_show(row['commit_ms_p50'])}/{_show(row['commit_ms_p99'])}"
        hosts.add_row(name, _show(row["records_in_per_s"]), str(row["records_in"]),
                      str(row["consumer_lag"]), commit, str(row["aborts"]),
                      str(row["poison_records"]), _pairs(row["decisions"]),
                      _pairs(row["quarantined"]))  # fmt: skip
        steps = row.get("steps")
        if steps is not None:
            table = Table(title=f"steps at {row['url']}", title_justify="left", expand=True)
            for column in ("in flight", "waiting", "paused", "outcomes", "p50/p99 ms",
                           "waiting by tenant", "tokens by tenant", "cost by tenant"):  # fmt: skip
                table.add_column(column, overflow="fold")
            latency = f"{_show(steps['latency_ms_p50'])}/{_show(steps['latency_ms_p99'])}"
            table.add_row(str(steps["in_flight"]), str(steps["waiting"]),
                          str(steps["paused_partitions"]), _pairs(steps["by_outcome"]), latency,
                          _pairs(steps["waiting_by_tenant"]), _pairs(steps["tokens_by_tenant"]),
                          _pairs(steps["cost_usd_by_tenant"]))  # fmt: skip
            parts.append(table)
        if "http" in row:
            table = Table(title=f"serve at {row['url']}", title_justify="left", expand=True)
            table.add_column("requests by status")
            table.add_column("p99 ms")
            table.add_row(_pairs(row["http"]), _show(row["http_ms_p99"]))
            parts.append(table)
    return Group(*parts)


@click.command("top")
@click.option("--url", "urls", multiple=True, metavar="URL",
              help="A /metrics endpoint to watch; repeat for several (default: the worker on "
              "9464, the step runner on 9465, serve on 8080).")  # fmt: skip
@click.option("--interval", type=click.FloatRange(0.2, 60), default=2.0, show_default=True,
              help="Seconds between refreshes.")  # fmt: skip
@click.option("--once", is_flag=True, help="Scrape twice, one interval apart, print, and exit.")
@click.option("--json", "as_json", is_flag=True, help="With --once: the figures as JSON.")
def top_cmd(urls: tuple[str, ...], interval: float, once: bool, as_json: bool) -> None:
    """Watch the figures of running workers, step runners and agentflow serve.

    It reads their Prometheus endpoints (start a worker or a runner with --metrics-port or
    AGENTFLOW_METRICS_PORT; serve always has /metrics) and shows, per process: records in per
    second, lag, commit latency, aborts, poison records, decisions by kind and quarantines by
    reason; for a step runner, steps in flight and waiting, the queue depth, tokens and cost
    by tenant; for serve, requests by status. Rates need two scrapes, one interval apart.
    An endpoint that does not answer is shown as down. Ctrl-C ends it.
    """
    targets = urls or DEFAULT_URLS
    with httpx.Client(timeout=min(interval, 2.0)) as client:
        before: dict[str, Snapshot] = {u: scrape(client, u) for u in targets}
        if once:
            time.sleep(interval)
            rows = [figures(scrape(client, u), before[u]) for u in targets]
            if as_json:
                print_json(rows)
            else:
                console.print(render(rows))
            return
        if as_json:
            raise click.UsageError("--json needs --once (the live view is for people)")
        try:
            with Live(render([figures(s) for s in before.values()]), console=console,
                      refresh_per_second=4) as live:  # fmt: skip
                while True:
                    time.sleep(interval)
                    now = {u: scrape(client, u) for u in targets}
                    live.update(render([figures(now[u], before[u]) for u in targets]))
                    before = now
        except KeyboardInterrupt:
            return
