"""The figures ``agentflow top`` shows, read from ``/metrics`` endpoints.

:func:`scrape` reads one endpoint into a :class:`Snapshot`; :func:`figures` turns two
snapshots of it (the previous one gives the rates) into a plain dict, the same for the live
view and for ``--json``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]

#: Where ``agentflow top`` looks when given no --url: the worker and the step runner as the
#: demo starts them (--metrics-port 9464 and 9465), and agentflow serve on its default port.
DEFAULT_URLS = (
    "http://127.0.0.1:9464/metrics",
    "http://127.0.0.1:9465/metrics",
    "http://127.0.0.1:8080/metrics",
)


@dataclass
class Snapshot:
    """One scrape: every sample by name and labels, or the error that stopped it."""

    url: str
    at: float
    samples: dict[tuple[str, Labels], float] = field(default_factory=dict)
    error: str | None = None

    def total(self, name: str, **where: str) -> float:
        """The sum of ``name``'s samples whose labels include ``where``."""
        return sum(v for (n, labels), v in self.samples.items()
                   if n == name and _matches(labels, where))  # fmt: skip

    def by(self, name: str, label: str, **where: str) -> dict[str, float]:
        """``name``'s samples matching ``where``, summed by ``label``."""
        found: dict[str, float] = {}
        for (n, labels), v in self.samples.items():
            d = dict(labels)
            if n == name and label in d and _matches(labels, where):
                found[d[label]] = found.get(d[label], 0.0) + v
        return found

    def counts(self, name: str, label: str) -> dict[str, int]:
        """:meth:`by`, as whole numbers."""
        return {k: int(v) for k, v in self.by(name, label).items()}

    def quantile(self, name: str, q: float) -> float | None:
        """The ``q`` quantile of histogram ``name`` (its buckets summed over labels), as the
        upper bound of the bucket it falls in; None without observations."""
        buckets: dict[float, float] = {}
        for (n, labels), v in self.samples.items():
            if n == f"{name}_bucket":
                le = float(dict(labels)["le"])
                buckets[le] = buckets.get(le, 0.0) + v
        count = buckets.get(math.inf, 0.0)
        if not count:
            return None
        for le in sorted(buckets):
            if buckets[le] >= q * count:
                return le
        return None


def _matches(labels: Labels, where: Mapping[str, str]) -> bool:
    d = dict(labels)
    return all(d.get(k) == v for k, v in where.items())


def scrape(client: httpx.Client, url: str) -> Snapshot:
    """Read ``url``; a snapshot with ``error`` set if it cannot be read."""
    now = time.monotonic()
    try:
        response = client.get(url)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        return Snapshot(url, now, error=str(exc) or type(exc).__name__)
    return parse(url, response.text, now)


def parse(url: str, text: str, at: float) -> Snapshot:
    """A snapshot of ``text``, in the Prometheus text format, read from ``url`` at ``at``."""
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return Snapshot(url, at, samples)


def _rate(now: Snapshot, before: Snapshot | None, name: str, **where: str) -> float | None:
    if before is None or before.error is not None or now.at <= before.at:
        return None
    return max(now.total(name, **where) - before.total(name, **where), 0.0) / (now.at - before.at)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def figures(now: Snapshot, before: Snapshot | None = None) -> dict[str, Any]:
    """What one endpoint shows: totals, rates since ``before``, and what is running now."""
    if now.error is not None:
        return {"url": now.url, "up": False, "error": now.error}
    components = sorted(now.by("agentflow_records_in_total", "component"))
    rate_in = _rate(now, before, "agentflow_records_in_total")
    out: dict[str, Any] = {
        "url": now.url,
        "up": True,
        "component": ", ".join(components) or "serve",
        "records_in": int(now.total("agentflow_records_in_total")),
        "records_in_per_s": None if rate_in is None else round(rate_in, 1),
        "records_out": now.counts("agentflow_records_out_total", "role"),
        "consumer_lag": int(now.total("agentflow_consumer_lag")),
        "commit_ms_p50": _ms(now.quantile("agentflow_commit_seconds", 0.5)),
        "commit_ms_p99": _ms(now.quantile("agentflow_commit_seconds", 0.99)),
        "aborts": int(now.total("agentflow_aborts_total")),
        "poison_records": int(now.total("agentflow_poison_records_total")),
        "decisions": now.counts("agentflow_decisions_total", "decision"),
        "quarantined": now.counts("agentflow_quarantined_total", "reason"),
        "restored_records": int(now.total("agentflow_restored_records_total")),
    }  # fmt: skip
    if "steps" in components:
        out["steps"] = {
            "in_flight": int(now.total("agentflow_steps_in_flight")),
            "waiting": int(now.total("agentflow_steps_waiting")),
            "paused_partitions": int(now.total("agentflow_paused_partitions")),
            "by_outcome": now.counts("agentflow_steps_total", "outcome"),
            "waiting_by_tenant": now.counts("agentflow_steps_waiting_by_tenant", "tenant"),
            "latency_ms_p50": _ms(now.quantile("agentflow_step_seconds", 0.5)),
            "latency_ms_p99": _ms(now.quantile("agentflow_step_seconds", 0.99)),
            "tokens_by_tenant": now.counts("agentflow_model_tokens_total", "tenant"),
            "cost_usd_by_tenant": {k: round(v, 6) for k, v in
                                   now.by("agentflow_model_cost_usd_total", "tenant").items()},
        }  # fmt: skip
    if not components:
        out["http"] = {
            k: int(v) for k, v in now.by("agentflow_http_requests_total", "status").items()
        }
        out["http_ms_p99"] = _ms(now.quantile("agentflow_http_request_seconds", 0.99))
    return out
