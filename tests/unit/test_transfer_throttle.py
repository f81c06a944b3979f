"""Rate limits on both sides: our client limiter and retry loop, and the emulator's throttle.

The limiter's arithmetic runs on a fake clock whose ``sleep`` advances time, so nothing here
waits; the in-flight limit is checked with real threads held on an event.
"""

from __future__ import annotations

import threading
from collections import deque
from types import SimpleNamespace

import pytest
import requests
from synapseclient.core.exceptions import SynapseHTTPError

from htan_submission.synapse.rest import RetryPolicy, SynapseRest, retry_after_s
from htan_submission.synapse.throttle import Limiter, Limits, limiter_for
from synapse_emulator.throttle import Throttle, ThrottleSettings, caller_key


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _limiter(clock: FakeClock, **limits) -> Limiter:
    return Limiter(Limits(**limits), clock=clock, sleep=clock.sleep)


# --- the client limiter ------------------------------------------------------------------------

def test_no_window_of_a_period_sees_more_than_the_limit():
    clock = FakeClock()
    limiter = _limiter(clock, requests_per_period=600, period_s=60, burst=10)
    sent: list[float] = []
    for _ in range(1500):
        with limiter.slot():
            sent.append(clock.now)
    window: deque[float] = deque()
    busiest = 0
    for t in sent:
        window.append(t)
        while window[0] <= t - 60:
            window.popleft()
        busiest = max(busiest, len(window))
    assert busiest <= 600
    assert busiest >= 590  # and the limiter does not waste the allowance either
    assert sent[9] == sent[0]  # the burst goes out at once


def test_retry_after_pauses_every_request_not_only_the_one_that_was_refused():
    clock = FakeClock()
    limiter = _limiter(clock, requests_per_period=600, period_s=60, burst=10)
    limiter.defer(7)
    with limiter.slot():
        pass
    assert clock.slept == [pytest.approx(7)]
    limiter.defer(0)  # a shorter pause never shortens a longer one
    with limiter.slot():
        pass
    assert len(clock.slept) == 1


def test_at_most_max_in_flight_requests_at_once():
    limiter = Limiter(Limits(max_in_flight=3, requests_per_period=10_000, period_s=60, burst=100))
    release = threading.Event()
    changed = threading.Condition()
    inside = [0]
    most = [0]

    def request() -> None:
        with limiter.slot():
            with changed:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                changed.notify_all()
            release.wait(10)
            with changed:
                inside[0] -= 1

    threads = [threading.Thread(target=request) for _ in range(7)]
    for thread in threads:
        thread.start()
    with changed:
        assert changed.wait_for(lambda: inside[0] == 3 and limiter.waiting == 4, timeout=10)
    assert limiter.in_flight == 3
    release.set()
    for thread in threads:
        thread.join(10)
    assert most[0] == 3 and limiter.in_flight == 0


def test_limits_are_checked():
    with pytest.raises(ValueError):
        Limits(burst=600, requests_per_period=600)
    with pytest.raises(ValueError):
        Limits(max_in_flight=0)


def test_one_limiter_per_user_and_process():
    assert limiter_for("http://x/repo/v1|1") is limiter_for("http://x/repo/v1|1")
    assert limiter_for("http://x/repo/v1|1") is not limiter_for("http://x/repo/v1|2")


# --- the retry loop ----------------------------------------------------------------------------

def _http_error(status: int, retry_after: str | None = None) -> SynapseHTTPError:
    response = requests.Response()
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return SynapseHTTPError(f"{status} error", response=response)


class FakeSyn:
    """restGET that answers from a script: an exception to raise or a value to return."""

    repoEndpoint = "http://emulator/repo/v1"
    fileHandleEndpoint = "http://emulator/file/v1"
    credentials = SimpleNamespace(owner_id="1", secret="tok")

    def __init__(self, script: list) -> None:
        self.script = list(script)
        self.seen: list[dict] = []

    def restGET(self, uri, **kwargs):  # noqa: N802 - synapseclient's name
        self.seen.append(kwargs)
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step


def _rest(script: list, clock: FakeClock, attempts: int = 5) -> tuple[SynapseRest, FakeSyn]:
    syn = FakeSyn(script)
    limiter = _limiter(clock, requests_per_period=600, period_s=60, burst=100)
    return SynapseRest(syn, limiter=limiter, policy=RetryPolicy(max_attempts=attempts, base_s=1, cap_s=8),
                       sleep=clock.sleep), syn


def test_a_429_waits_its_retry_after_then_succeeds():
    clock = FakeClock()
    rest, syn = _rest([_http_error(429, "3"), {"ok": True}], clock)
    assert rest.get("/x") == {"ok": True}
    assert clock.slept == [pytest.approx(3)]
    assert rest.calls == 2 and rest.retries == 1
    assert all(kw["retryPolicy"] == {"retries": 0} for kw in syn.seen)  # synapseclient's own loop is off


def test_5xx_and_dropped_connections_back_off_and_retry():
    clock = FakeClock()
    rest, _ = _rest([_http_error(503), requests.ConnectionError("reset"), _http_error(502), "fine"], clock)
    assert rest.get("/x") == "fine"
    assert len(clock.slept) == 3
    assert 0.5 <= clock.slept[0] <= 1.5 and 1 <= clock.slept[1] <= 3 and 2 <= clock.slept[2] <= 6


@pytest.mark.parametrize("status", [400, 403, 404, 409, 412])
def test_client_errors_are_not_retried(status):
    clock = FakeClock()
    rest, _ = _rest([_http_error(status), "never"], clock)
    with pytest.raises(SynapseHTTPError):
        rest.get("/x")
    assert rest.calls == 1 and clock.slept == []


def test_retries_give_up_after_the_last_attempt():
    clock = FakeClock()
    rest, _ = _rest([_http_error(503)] * 3, clock, attempts=3)
    with pytest.raises(SynapseHTTPError):
        rest.get("/x")
    assert rest.calls == 3


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_s(_http_error(429, "2")) == 2
    assert retry_after_s(_http_error(429, "Wed, 21 Oct 2015 07:28:00 GMT")) == 0  # in the past
    assert retry_after_s(_http_error(429, "100000")) == 300  # capped
    assert retry_after_s(_http_error(429)) is None
    assert retry_after_s(_http_error(429, "soon")) is None


# --- the emulator's throttle -------------------------------------------------------------------

def test_emulator_refuses_a_fourth_concurrent_request_of_one_caller():
    throttle = Throttle()
    throttle.configure(ThrottleSettings(max_concurrent=3, max_requests=600, window_s=60))
    assert [throttle.enter("a", now=0) for _ in range(3)] == [None] * 3
    refusal = throttle.enter("a", now=0)
    assert refusal and "3 concurrent" in refusal.reason and refusal.retry_after_s == 1
    assert throttle.enter("b", now=0) is None  # another caller is not affected
    throttle.leave("a")
    assert throttle.enter("a", now=0) is None


def test_emulator_refuses_over_the_window_and_says_when_to_come_back():
    throttle = Throttle()
    throttle.configure(ThrottleSettings(max_concurrent=100, max_requests=5, window_s=60))
    for t in range(5):
        assert throttle.enter("a", now=float(t)) is None
        throttle.leave("a")
    refusal = throttle.enter("a", now=10.0)
    assert refusal and "5 requests every 60 seconds" in refusal.reason and refusal.retry_after_s == 50
    assert throttle.enter("a", now=60.5) is None  # the first request left the window
    assert throttle.view()["refused"] == 1


def test_emulator_throttle_is_off_until_configured_and_exempts_anonymous_and_storage():
    throttle = Throttle()
    assert all(throttle.enter("a") is None for _ in range(10))
    auth = [(b"authorization", b"Bearer tok")]
    assert caller_key("/repo/v1/entity", auth) == caller_key("/file/v1/file/multipart", auth)
    assert caller_key("/repo/v1/entity", []) is None
    assert caller_key("/_storage/upload/1/1", auth) is None
