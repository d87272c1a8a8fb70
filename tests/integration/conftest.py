"""Every test here needs the real broker: it is marked ``integration`` and gets the broker."""

from __future__ import annotations

import pytest

from tests.integration.isolated_broker import isolated_broker_env  # noqa: F401 - a fixture


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _needs_broker(kafka_bootstrap: str) -> str:
    """Fails (never skips) an integration test when no broker can be had."""
    return kafka_bootstrap
