"""Admission by cost: whole requests admitted or refused up front."""

from __future__ import annotations

import pytest

from ocrserve.errors import InvalidInput, Reason, ResourceExhausted
from ocrserve.frontend.admission import Admission


def test_requests_are_admitted_while_the_budget_lasts() -> None:
    admission = Admission(budget=100, per_request=60)
    with admission.admit(60), admission.admit(40):
        assert (admission.in_flight, admission.requests) == (100, 2)
        with pytest.raises(ResourceExhausted) as info, admission.admit(1):
            pass
    assert info.value.reason == Reason.SERVER_OVERLOADED and info.value.transient
    assert info.value.metadata == {"limit": "100", "value": "101",
                                   "setting": "max_inflight_pixels"}
    assert (admission.in_flight, admission.requests, admission.refused) == (0, 0, 1)


def test_an_idle_front_end_admits_any_allowed_request() -> None:
    admission = Admission(budget=100, per_request=100)
    with admission.admit(100):
        assert admission.in_flight == 100


def test_a_request_over_the_per_request_limit_is_a_permanent_error() -> None:
    admission = Admission(budget=100, per_request=50)
    with pytest.raises(InvalidInput) as info, admission.admit(51):
        pass
    assert info.value.reason == Reason.REQUEST_TOO_LARGE and not info.value.transient
    assert info.value.field == "images" and admission.refused == 0


def test_the_budget_comes_back_when_a_request_fails() -> None:
    admission = Admission(budget=10, per_request=10)
    with pytest.raises(RuntimeError), admission.admit(10):
        raise RuntimeError("the work failed")
    with admission.admit(10):
        assert admission.in_flight == 10


def test_idle_is_reported_when_the_last_request_ends() -> None:
    idle: list[int] = []
    admission = Admission(budget=10, per_request=5, on_idle=lambda: idle.append(1))
    with admission.admit(5):
        with admission.admit(5):
            pass
        assert idle == []
    assert idle == [1]


def test_busy_is_reported_when_the_first_request_starts() -> None:
    events: list[str] = []
    admission = Admission(budget=10, per_request=5, on_idle=lambda: events.append("idle"),
                          on_busy=lambda: events.append("busy"))
    with admission.admit(5), admission.admit(5):
        assert events == ["busy"]
    with admission.admit(1):
        pass
    assert events == ["busy", "idle", "busy", "idle"]


def test_a_limit_over_the_budget_is_refused() -> None:
    with pytest.raises(ValueError):
        Admission(budget=10, per_request=11)
