"""Reading a ``/metrics`` endpoint in a test: every sample by name and labels."""

from __future__ import annotations

import socket
from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def scrape(url: str) -> Samples:
    """The samples at ``url`` (``…/metrics``)."""
    response = httpx.get(url, timeout=5)
    response.raise_for_status()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def by_label(samples: Samples, name: str, label: str, **where: str) -> dict[str, int]:
    """``name``'s samples matching ``where``, keyed by their ``label``, as integers."""
    found: dict[str, int] = {}
    for (sample, labels), value in samples.items():
        d: Mapping[str, str] = dict(labels)
        if sample == name and all(d.get(k) == v for k, v in where.items()) and label in d:
            found[d[label]] = int(value)
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels``; 0 if there is none."""
    return samples.get((name, frozenset(labels.items())), 0.0)
