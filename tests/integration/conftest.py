"""Every test here needs the real broker: it is marked ``integration`` and gets the broker."""

from __future__ import annotations

import pytest

from tests.integration.isolated_broker import (  # noqa: F401 - fixtures
    cluster_env,
    isolated_broker_env,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _needs_broker(kafka_bootstrap: str) -> str:
    """Fails (never skips) an integration test when no broker can be had."""
    return kafka_bootstrap
