"""A checkpoint whose broker calls never return (librdkafka #5456/#5511) must not wedge the
worker: past the deadline the caller gets CommitWedged, a ConsumerFailed that restarts the
clients, and the stuck thread is given up."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition

from streams.checkpoint import Checkpoint
from streams.commit_flow import CommitFlow
from streams.commit_thread import CommitThread, CommitWedged, wedge_deadline_s
from streams.errors import ConsumerFailed
from streams.settings import HostSettings

DEADLINE_S = 0.3


def _thread_name() -> str:
    return threading.current_thread().name


def test_a_call_returns_its_result_or_raises_what_it_raised_on_a_daemon_thread() -> None:
    thread = CommitThread("t-commit", wedged_after_s=60)
    assert thread.call(lambda: (_thread_name(), threading.current_thread().daemon)) == (
        "t-commit",
        True,
    )
    with pytest.raises(ZeroDivisionError):
        thread.call(lambda: 1 // 0)
    thread.close()


def test_a_call_past_its_deadline_is_given_up_and_the_next_runs_on_a_new_thread() -> None:
    thread = CommitThread("t-commit", wedged_after_s=DEADLINE_S)
    release = threading.Event()
    stuck: list[threading.Thread] = []

    def wedged() -> None:
        stuck.append(threading.current_thread())
        release.wait()

    started = time.monotonic()
    with pytest.raises(CommitWedged) as caught:
        thread.call(wedged)
    waited = time.monotonic() - started
    assert DEADLINE_S <= waited < DEADLINE_S + 2.0
    assert isinstance(caught.value, ConsumerFailed)  # the host and runner restart on it
    assert "have not returned in 0 s" in str(caught.value)

    after = thread.call(threading.current_thread)
    assert after is not stuck[0] and after.is_alive()
    release.set()  # the old call returns at last: its thread ends, touching nothing else
    stuck[0].join(timeout=5)
    assert not stuck[0].is_alive()
    thread.close()


def test_check_raises_only_once_a_running_job_is_past_its_deadline() -> None:
    thread = CommitThread("t-commit", wedged_after_s=DEADLINE_S)
    release = threading.Event()
    future = thread.submit(release.wait)
    thread.check(future)  # running, within its deadline
    time.sleep(DEADLINE_S + 0.1)
    with pytest.raises(CommitWedged):
        thread.check(future)
    release.set()
    done = thread.submit(lambda: 7)
    assert thread.wait(done) == 7
    time.sleep(DEADLINE_S + 0.1)
    thread.check(done)  # finished: never wedged, however late it is checked


class _WedgedCommitter:
    """Its commit blocks until released, as send_offsets_to_transaction did."""

    def __init__(self) -> None:
        self.producer: Any = object()
        self.release = threading.Event()
        self.aborted: list[KafkaError] = []

    def begin(self) -> None:
        pass

    def commit(self, positions: list[TopicPartition], timeout_s: float) -> None:
        self.release.wait()

    def abort(self, error: KafkaError) -> None:
        self.aborted.append(error)


def test_a_wedged_commit_is_forgotten_so_the_restart_does_not_wait_for_it() -> None:
    committer = _WedgedCommitter()
    flow = CommitFlow(Checkpoint(committer, 30.0), HostSettings(), wedged_s=DEADLINE_S)
    flow.begin()
    flow.offsets[("in", 0)] = 5
    flow.start({})
    flow.begin()  # the next layer's work, held until the flight lands
    flow.send("out", b"v", b"k", {})
    assert flow.settle(wait=False) is None  # still within its deadline
    with pytest.raises(CommitWedged):
        flow.settle(wait=True)
    assert not flow.in_flight and not flow.open
    started = time.monotonic()
    assert flow.abandon() is None  # the host's restart: nothing left to wait for
    flow.close()
    assert time.monotonic() - started < 0.5
    assert committer.aborted == []  # the wedged producer is never called again
    committer.release.set()


class _TimedCommitter:
    """Records the timeout each commit is given."""

    producer: Any = None

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def begin(self) -> None:
        pass

    def commit(self, positions: list[TopicPartition], timeout_s: float) -> None:
        self.timeouts.append(timeout_s)

    def abort(self, error: KafkaError) -> None:
        raise AssertionError(f"nothing failed, yet abort({error})")


def test_the_calls_timeout_and_the_wedge_deadline_follow_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTFLOW_COMMIT_CALL_TIMEOUT_MS", "1500")
    settings = HostSettings()
    assert settings.commit_call_timeout_ms == 1500
    committer = _TimedCommitter()
    flow = CommitFlow(Checkpoint(committer, settings.commit_call_timeout_s), settings)
    flow.begin()
    flow.offsets[("in", 0)] = 5
    flow.start({})
    assert flow.settle(wait=True) is not None
    flow.close()
    assert committer.timeouts == [1.5]
    # Both calls' timeouts and the slack: 1.5 + 1.5 + 10 s.
    assert wedge_deadline_s(settings.commit_call_timeout_s) == 13.0
    assert (
        wedge_deadline_s(HostSettings.model_fields["commit_call_timeout_ms"].default / 1000) == 70.0
    )
