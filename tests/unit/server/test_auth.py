"""The token check's decisions: which token grants which service, and what a refusal
says (the same interceptor runs in a real server in tests/integration/test_security.py)."""

from __future__ import annotations

import pytest

from ocrserve.errors import PermissionDenied, Reason, Unauthenticated
from ocrserve.frontend.auth import ADMIN_SERVICE, OCR_SERVICE, Scope, TokenInterceptor, bearer_token

OCR = f"/{OCR_SERVICE}/Ocr"
ADMIN = f"/{ADMIN_SERVICE}/ListSlots"
HEALTH = "/grpc.health.v1.Health/Check"


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def test_the_token_must_match_exactly() -> None:
    check = TokenInterceptor("right", "")
    assert check.scope(bearer("right")) is Scope.ADMIN
    assert check.scope(bearer("wrong")) is None
    assert check.scope((("authorization", "right"),)) is None
    assert check.scope(()) is None
    assert check.scope(None) is None
    assert check.scope(bearer("")) is None  # an unset inference token matches nothing
    assert bearer_token((("x", "y"), ("authorization", "Bearer  t "))) == "t"


def test_each_token_grants_its_scope() -> None:
    check = TokenInterceptor("adm", "inf")
    assert check.refusal(OCR, bearer("inf")) is None
    assert check.refusal(OCR, bearer("adm")) is None  # admin also grants inference
    assert check.refusal(ADMIN, bearer("adm")) is None
    denied = check.refusal(ADMIN, bearer("inf"))
    assert isinstance(denied, PermissionDenied)
    assert denied.reason == Reason.ADMIN_TOKEN_REQUIRED


@pytest.mark.parametrize(("method", "reason"), [(OCR, Reason.INFERENCE_TOKEN_REQUIRED),
                                                 (ADMIN, Reason.ADMIN_TOKEN_REQUIRED)])
@pytest.mark.parametrize("metadata", [(), bearer("guess")])
def test_no_token_or_an_unknown_one_is_unauthenticated(
        method: str, reason: Reason, metadata: tuple[tuple[str, str], ...]) -> None:
    refused = TokenInterceptor("adm", "inf").refusal(method, metadata)
    assert isinstance(refused, Unauthenticated)
    assert refused.reason == reason
    assert "guess" not in refused.message


def test_a_service_without_its_token_set_is_open_and_health_always_is() -> None:
    assert TokenInterceptor("adm", "").refusal(OCR, ()) is None
    assert TokenInterceptor("", "inf").refusal(ADMIN, ()) is None
    assert TokenInterceptor("adm", "inf").refusal(HEALTH, ()) is None
