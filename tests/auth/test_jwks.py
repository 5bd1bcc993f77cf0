"""JWKS sources: one contract for the static, file and HTTP sources; then HTTP caching."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from app.auth.jwks import (
    FileJwks,
    HttpJwks,
    JwksSource,
    JwksUnavailable,
    StaticJwks,
    public_keyset,
    select_key,
)
from tests.support.tokens import public_jwks, signing_key

JWKS_URL = "https://idp.test.example/jwks.json"
KEY_A = signing_key("ES384", "jwks-a")
KEY_B = signing_key("RS384", "jwks-b")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Published:
    """A source under test and the ways to change what it serves."""

    source: JwksSource
    publish: Callable[[dict[str, Any]], None]
    clock: Clock


def _static(tmp_path: Path) -> Published:
    source = StaticJwks(public_jwks(KEY_A))
    return Published(source, source.replace, Clock())


def _file(tmp_path: Path) -> Published:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(public_jwks(KEY_A)))
    clock = Clock()

    def publish(document: dict[str, Any]) -> None:
        path.write_text(json.dumps(document))

    return Published(FileJwks(path, clock=clock), publish, clock)


def _http(tmp_path: Path) -> Published:
    served = {"doc": public_jwks(KEY_A)}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=served["doc"]))
    clock = Clock()
    source = HttpJwks(JWKS_URL, httpx.AsyncClient(transport=transport), clock=clock)
    return Published(source, lambda doc: served.__setitem__("doc", doc), clock)


@pytest.fixture(params=[_static, _file, _http], ids=["static", "file", "http"])
def published(request: pytest.FixtureRequest, tmp_path: Path) -> Published:
    make: Callable[[Path], Published] = request.param
    return make(tmp_path)


# --- the contract every JwksSource passes ---------------------------------------------


async def test_serves_the_published_keys(published: Published) -> None:
    keys = await published.source.keys()
    assert [k.kid for k in keys] == [KEY_A.kid]


async def test_a_rotated_key_is_seen_after_a_refresh(published: Published) -> None:
    await published.source.keys()
    published.publish(public_jwks(KEY_A, KEY_B))
    published.clock.now += 60  # past any minimum refetch interval
    keys = await published.source.keys(refresh=True)
    assert {k.kid for k in keys} == {KEY_A.kid, KEY_B.kid}


async def test_private_and_symmetric_keys_are_never_served(published: Published) -> None:
    document = {
        "keys": [
            KEY_A.as_dict(private=True),
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {**KEY_B.as_dict(private=False), "use": "enc"},
        ]
    }
    published.publish(document)
    published.clock.now += 60
    keys = list(await published.source.keys(refresh=True))
    assert [k.kid for k in keys] == [KEY_A.kid]
    assert not keys[0].is_private


# --- public_keyset and select_key ---------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [None, [], {"keys": {}}, {"keys": []}, {"keys": ["x"]}, {"keys": [{"kty": "oct", "k": "AA"}]}],
)
def test_unusable_documents_are_refused(document: object) -> None:
    with pytest.raises(ValueError):
        public_keyset(document)


@pytest.mark.filterwarnings("ignore:Key size should be:joserfc.errors.SecurityWarning")
def test_weak_rsa_keys_are_skipped() -> None:
    weak = RSAKey.generate_key(1024, auto_kid=True)
    keys = public_keyset({"keys": [weak.as_dict(private=False), KEY_A.as_dict(private=False)]})
    assert [k.kid for k in keys] == [KEY_A.kid]
    with pytest.raises(ValueError):
        public_keyset({"keys": [weak.as_dict(private=False)]})


def test_registration_keys_must_be_public() -> None:
    with pytest.raises(ValueError, match="private"):
        public_keyset({"keys": [KEY_A.as_dict(private=True)]}, allow_private=False)


def test_select_key_matches_kid_type_and_curve() -> None:
    keys = public_keyset(public_jwks(KEY_A, KEY_B))
    assert select_key(keys, "ES384", KEY_A.kid) is not None
    assert select_key(keys, "RS384", KEY_B.kid) is not None
    assert select_key(keys, "RS384", KEY_A.kid) is None  # EC key for an RSA algorithm
    assert select_key(keys, "ES256", KEY_A.kid) is None  # P-384 key for ES256
    assert select_key(keys, "ES384", "unknown") is None
    assert select_key(keys, "ES384", None) is not None  # the only EC key
    assert select_key(keys, "HS256", KEY_A.kid) is None


# --- unavailability -------------------------------------------------------------------


async def test_missing_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(JwksUnavailable):
        await FileJwks(tmp_path / "nope.json").keys()


async def test_broken_file_keeps_the_last_good_keys(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(public_jwks(KEY_A)))
    clock = Clock()
    source = FileJwks(path, clock=clock)
    await source.keys()
    path.write_text("{broken")
    clock.now += 60
    assert [k.kid for k in await source.keys(refresh=True)] == [KEY_A.kid]


class Server:
    """A MockTransport handler that counts requests and can fail."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        answer = self.responses[min(self.requests, len(self.responses)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _source(server: Server, clock: Clock, **kwargs: Any) -> HttpJwks:
    client = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return HttpJwks(JWKS_URL, client, clock=clock, **kwargs)


OK = httpx.Response(200, json=public_jwks(KEY_A))


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.Response(500),
        httpx.Response(404),
        httpx.Response(302, headers={"Location": "https://evil.example/jwks.json"}),
        httpx.Response(200, text="<html>"),
        httpx.Response(200, json={"keys": []}),
    ],
    ids=["connect", "timeout", "500", "404", "redirect", "html", "empty"],
)
async def test_http_failures_are_unavailable(failure: httpx.Response | Exception) -> None:
    with pytest.raises(JwksUnavailable):
        await _source(Server(failure), Clock()).keys()


async def test_http_document_size_is_limited() -> None:
    big = httpx.Response(200, json={"keys": [KEY_A.as_dict(private=False)], "pad": "x" * 5000})
    with pytest.raises(JwksUnavailable, match="larger"):
        await _source(Server(big), Clock(), max_bytes=4096).keys()


async def test_http_keys_are_cached() -> None:
    server, clock = Server(OK), Clock()
    source = _source(server, clock)
    await source.keys()
    await source.keys()
    assert server.requests == 1


async def test_http_refresh_is_rate_limited() -> None:
    server, clock = Server(OK), Clock()
    source = _source(server, clock, min_refetch_interval=30)
    await source.keys()
    for _ in range(5):  # a flood of unknown kids
        await source.keys(refresh=True)
    assert server.requests == 1
    clock.now += 31
    await source.keys(refresh=True)
    assert server.requests == 2


async def test_http_keys_expire_after_max_age() -> None:
    server, clock = Server(OK), Clock()
    source = _source(server, clock, max_age=600)
    await source.keys()
    clock.now += 601
    await source.keys()
    assert server.requests == 2


async def test_http_concurrent_first_requests_fetch_once() -> None:
    server, clock = Server(OK), Clock()
    source = _source(server, clock)
    await asyncio.gather(*(source.keys() for _ in range(10)))
    assert server.requests == 1


async def test_http_failure_keeps_the_last_good_keys() -> None:
    server, clock = Server(OK, httpx.ConnectError("down")), Clock()
    source = _source(server, clock, max_age=600)
    await source.keys()
    clock.now += 601
    assert [k.kid for k in await source.keys()] == [KEY_A.kid]
    assert server.requests == 2


async def test_http_failure_backs_off_before_retrying() -> None:
    server, clock = Server(httpx.ConnectError("down"), OK), Clock()
    source = _source(server, clock, failure_backoff=5)
    with pytest.raises(JwksUnavailable):
        await source.keys()
    with pytest.raises(JwksUnavailable):
        await source.keys()  # within the backoff: no new request
    assert server.requests == 1
    clock.now += 6
    assert [k.kid for k in await source.keys()] == [KEY_A.kid]
    assert server.requests == 2
