"""The thread a checkpoint's broker calls run on, and the deadline that rescues a worker from
a call that never returns.

librdkafka's ``send_offsets_to_transaction`` can block past its own timeout
(confluentinc/librdkafka#5456), for ever once the group coordinator's broker has left the
cluster (#5511). Seen here: a three-node cluster lost the node that coordinated the worker's
group, and the worker waited on that call for 27 minutes, deaf to SIGTERM.

A call into librdkafka cannot be interrupted, so :class:`CommitThread` runs it on a daemon
thread. A caller that has waited past the deadline gives that thread up, and the producer it is
blocked in, and gets :class:`CommitWedged`. That is a :class:`~streams.errors.ConsumerFailed`:
the worker starts its Kafka clients again, as a restarted process would. The new producer's
``init_transactions`` under the same ``transactional.id`` fences the old one and aborts its
open transaction, and the restore catches the stores up from the changelogs. If the old call
ever returns, its thread touches only the old producer, then ends.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from streams.errors import ConsumerFailed

T = TypeVar("T")

#: Slack past both transactional calls' timeouts before a checkpoint counts as wedged.
WEDGE_SLACK_S = 10.0


def wedge_deadline_s(call_timeout_s: float) -> float:
    """When a checkpoint's calls are wedged: ``send_offsets_to_transaction`` and
    ``commit_transaction`` have each had ``call_timeout_s``, and the slack has passed."""
    return 2 * call_timeout_s + WEDGE_SLACK_S


_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class CommitWedged(ConsumerFailed):
    """A checkpoint's broker calls did not return by the deadline; the clients are replaced."""


class CommitThread:
    """One daemon thread that runs one job at a time, each with a deadline."""

    def __init__(self, name: str, wedged_after_s: float) -> None:
        self._name = name
        self._wedged_after_s = wedged_after_s
        self._jobs: queue.SimpleQueue[_Job | None] | None = None
        self._deadline = 0.0

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(*args)`` on the thread; its deadline starts now."""
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            threading.Thread(target=_serve, args=(self._jobs,), name=self._name,
                             daemon=True).start()  # fmt: skip
        future: Future[T] = Future()
        self._deadline = time.monotonic() + self._wedged_after_s
        self._jobs.put((future, fn, args))
        return future

    def check(self, future: Future[Any]) -> None:
        """Raise :class:`CommitWedged` if ``future`` is still running past its deadline."""
        if not future.done() and time.monotonic() > self._deadline:
            self._give_up()

    def wait(self, future: Future[T]) -> T:
        """``future``'s result (or what it raised), waiting no later than its deadline."""
        try:
            return future.result(timeout=max(0.0, self._deadline - time.monotonic()))
        except FutureTimeout:
            self._give_up()
            raise AssertionError("unreachable") from None

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the thread and wait for it, no later than the deadline."""
        return self.wait(self.submit(fn, *args))

    def close(self) -> None:
        """Let the thread end once its current job (if any) is done."""
        if self._jobs is not None:
            self._jobs.put(None)
            self._jobs = None

    def _give_up(self) -> None:
        jobs, self._jobs = self._jobs, None
        if jobs is not None:
            jobs.put(None)  # the stuck thread ends if its call ever returns
        raise CommitWedged(
            f"a checkpoint's broker calls have not returned in {self._wedged_after_s:.0f} s "
            "(librdkafka can block past its timeout when a coordinator's broker goes away; "
            "AGENTFLOW_COMMIT_CALL_TIMEOUT_MS sets each call's timeout)"
        )


def _serve(jobs: queue.SimpleQueue[_Job | None]) -> None:
    while (job := jobs.get()) is not None:
        future, fn, args = job
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to the waiter, as an executor would
            future.set_exception(exc)
