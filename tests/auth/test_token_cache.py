"""Validated tokens are remembered until `exp`, and never past it."""

from __future__ import annotations

import pytest

from app.fhir.outcome import FhirError
from tests.support.tokens import TokenFactory

BASE_URL = "http://testserver/fhir"
NOW = 1_750_000_000


async def test_a_validated_token_is_not_verified_again() -> None:
    tf = TokenFactory(BASE_URL, clock=lambda: NOW)
    validator = tf.validator(clock=lambda: NOW)
    token = tf.system()
    first = await validator.authenticate(token)
    validator.issuers.clear()  # any further verification would now fail
    assert await validator.authenticate(token) is first


async def test_a_cached_token_expires_at_exp_without_leeway() -> None:
    clock = [float(NOW)]
    tf = TokenFactory(BASE_URL, clock=lambda: NOW)
    validator = tf.validator(clock=lambda: clock[0])
    token = tf.system(exp=NOW + 30)
    await validator.authenticate(token)
    validator.issuers.clear()
    clock[0] = NOW + 31
    with pytest.raises(FhirError) as refused:
        await validator.authenticate(token)
    assert refused.value.status == 401
