"""The approval inbox in a real headless Chromium (Debian's, driven by Selenium), on the real
broker, against a real worker, step worker and payments service.

Two refunds wait for approval, one of tenant acme and one of globex. Olga (an acme refund
approver) signs in, sees exactly the acme one, edits its amount and approves: the workflow
resumes and the payments service receives the edited amount. Gwen (globex) sees only the
globex one, and the acme approval's page is not found for her. The CLI lists the same.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from edge.reviewers import hash_password, token_digest
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import plan
from tests.integration.enginekit.run import EngineRun
from tests.integration.workers import ROOT, SHIPPED_CONFIG, Served, run_cli

pytestmark = pytest.mark.timeout(300)

#: Where the screenshots the README shows are kept.
DOCS = ROOT / "docs"
OLGA_TOKEN = "olga-api-token"


def _reviewers() -> str:
    return json.dumps({"reviewers": [
        {"id": "u-olga", "name": "Olga", "roles": ["acme:refund_approver"],
         "password_argon2": hash_password("olga-pass"), "token_sha256": [token_digest(OLGA_TOKEN)]},
        {"id": "u-gwen", "name": "Gwen", "roles": ["globex:refund_approver"],
         "password_argon2": hash_password("gwen-pass")},
    ]})  # fmt: skip


def _chrome() -> WebDriver:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.fail("Chromium and chromedriver are not installed: `make test` installs them "
                    "(Debian packages chromium and chromium-driver)")  # fmt: skip
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1200,900"):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(driver_path))


def _sign_in(browser: WebDriver, url: str, reviewer: str, password: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{url}/login")
    browser.find_element(By.NAME, "reviewer").send_keys(reviewer)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.ID, "sign-in").click()
    # The click returns before the POST is answered (argon2 takes a while on a busy machine):
    # wait for the inbox it redirects to, or the next page load races the session cookie.
    _await_element(browser, By.ID, "reviewer")  # shown on every signed-in page


def _await_element(browser: WebDriver, by: str, value: str, timeout: float = 30) -> None:
    """Wait for an element on the page a form submit leads to; fail with that page's text."""
    try:
        WebDriverWait(browser, timeout).until(
            expected_conditions.visibility_of_element_located((by, value))
        )
    except TimeoutException:
        pytest.fail(f"no {value!r} within {timeout}s on {browser.current_url}:\n"
                    f"{browser.find_element(By.TAG_NAME, 'body').text}")  # fmt: skip


def _rows(browser: WebDriver, url: str, want: int, timeout: float = 30) -> list[str]:
    """The inbox's rows, once there are ``want`` (the read model follows the changelog)."""
    deadline = time.monotonic() + timeout
    while True:
        browser.get(f"{url}/inbox")
        rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "tr.approval")]
        if len(rows) >= want or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    driver = _chrome()
    yield driver
    driver.quit()


def test_a_reviewer_edits_and_approves_in_the_browser_and_sees_only_their_tenant(
    kafka_bootstrap: str, run_prefix: str, tmp_path: Path, browser: WebDriver
) -> None:
    dep = EngineDeployment.make(kafka_bootstrap, f"{run_prefix}inbox.", tmp_path / "d", tag="inb")
    acme = replace(plan(1, "refund", name="inb"), approvals=0)
    globex = replace(plan(3, "refund", name="inb"), approvals=0)
    assert (acme.tenant, globex.tenant) == ("acme", "globex")
    env = {
        **SHIPPED_CONFIG,
        **dep.cli_env(),
        "AGENTFLOW_REVIEWERS": _reviewers(),
        "AGENTFLOW_SESSION_SECRET": "test-session-secret",
    }
    worker = dep.worker()
    run = EngineRun(dep, [acme, globex])
    server = Served(env, tmp_path / "serve.log")
    try:
        url = server.start().url
        run.send([acme, globex])
        run.wait(lambda r: acme.workflow_id in r.requests and globex.workflow_id in r.requests,
                 timeout=120, what="both approval requests")  # fmt: skip
        [request] = run.requests[acme.workflow_id]
        approval_id = request.payload.approval_id
        assert request.payload.proposal["amount"] == "42.00"

        _sign_in(browser, url, "u-olga", "olga-pass")
        rows = _rows(browser, url, 1)
        assert len(rows) == 1 and acme.workflow_id in rows[0], rows
        assert globex.workflow_id not in browser.page_source
        _keep(browser, "inbox-list.png")
        browser.find_element(By.CSS_SELECTOR, "tr.approval a").click()
        assert approval_id in browser.current_url
        amount = browser.find_element(By.ID, "field-amount")
        amount.clear()
        amount.send_keys("30.00")
        browser.find_element(By.ID, "comment").send_keys("Shipping is not refundable.")
        _keep(browser, "inbox-detail.png")
        browser.find_element(By.ID, "approve").click()
        _await_element(browser, By.ID, "sent")  # the POST publishes to Kafka before it answers

        run.wait(lambda r: acme.workflow_id in r.finished, timeout=120, what="the refund")
        assert run.finished[acme.workflow_id] == "resolved"
        assert run.steps is not None
        refunds = run.steps.payments.effective_refunds()
        assert [(r["refund"]["amount"], r["refund"]["currency"]) for r in refunds] == [
            ("30.00", "EUR")
        ]

        _sign_in(browser, url, "u-gwen", "gwen-pass")
        rows = _rows(browser, url, 1)
        assert len(rows) == 1 and globex.workflow_id in rows[0], rows
        browser.get(f"{url}/inbox/{approval_id}")
        assert "no pending approval" in browser.page_source

        listed = run_cli("approvals", "list", "--json",
                         env={**env, "AGENTFLOW_REVIEWER_TOKEN": OLGA_TOKEN})  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == []  # olga's only approval is decided
        wrong = run_cli("approvals", "list", env={**env, "AGENTFLOW_REVIEWER_TOKEN": "nope"})
        assert wrong.returncode == 2 and "not in the reviewer accounts" in wrong.stderr
    finally:
        run.close()
        server.stop()
        worker.stop()
        dep.delete()
    assert "olga-pass" not in server.log()


def _keep(browser: WebDriver, name: str) -> None:
    """Save a screenshot to docs/ when AGENTFLOW_KEEP_SCREENSHOTS is set (a test run never
    writes to the checkout otherwise)."""
    if os.environ.get("AGENTFLOW_KEEP_SCREENSHOTS"):
        browser.save_screenshot(str(DOCS / name))
