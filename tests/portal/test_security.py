"""Sessions, cookies, CSRF and privacy of the portal (docs/portal.md, security design)."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient

from app.portal.sessions import SessionStore
from tests.portal import data
from tests.portal.conftest import csrf_token, login

CPRS = (data.KIRSTEN, data.PIA, data.GITTE, data.LARS, data.ANDERS, data.ALI)


def test_session_cookie_is_httponly_secure_lax_and_host_bound(browser_client: TestClient) -> None:
    answer = browser_client.get("/portal/login")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-esp_portal=")
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    assert "Domain" not in cookie
    assert answer.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_login_rotates_the_session_id(browser_client: TestClient) -> None:
    browser_client.get("/portal/login")
    before = browser_client.cookies.get("__Host-esp_portal")
    login(browser_client, "pia")
    assert browser_client.cookies.get("__Host-esp_portal") not in (None, before)


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_login_form_without_the_csrf_token_is_refused(
    browser_client: TestClient, token: str | None
) -> None:
    browser_client.get("/portal/login")
    form = {"persona": "pia"} | ({"csrf_token": token} if token is not None else {})
    answer = browser_client.post("/portal/login", data=form)
    assert answer.status_code == 403
    assert "Formularen er udløbet" in answer.text
    assert browser_client.get("/portal/planer").url.path == "/portal/login"


def test_opt_out_form_without_the_csrf_token_creates_nothing(browser_client: TestClient) -> None:
    login(browser_client, "pia")
    page = browser_client.get("/portal/spaerring").text
    sor = re.findall(r'<option value="(\d+)">', page)[0]
    answer = browser_client.post(
        "/portal/spaerring", data={"organisation": sor, "start": "2026-01-01", "csrf_token": "x"}
    )
    assert answer.status_code == 403
    assert "Du har ingen aktive spærringer" in browser_client.get("/portal/spaerring").text


def test_cross_origin_form_is_refused_even_with_the_token(browser_client: TestClient) -> None:
    login(browser_client, "pia")
    page = browser_client.get("/portal/spaerring").text
    sor = re.findall(r'<option value="(\d+)">', page)[0]
    answer = browser_client.post(
        "/portal/spaerring",
        data={"organisation": sor, "start": "2026-01-01", "csrf_token": csrf_token(page)},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403


def test_logout_ends_the_session_on_the_server(browser_client: TestClient) -> None:
    login(browser_client, "pia")
    cookie = browser_client.cookies.get("__Host-esp_portal")
    token = csrf_token(browser_client.get("/portal/planer").text)
    browser_client.post("/portal/logout", data={"csrf_token": token})
    browser_client.cookies.set("__Host-esp_portal", cookie or "")  # replaying the old cookie
    assert browser_client.get("/portal/planer").url.path == "/portal/login"


def test_logout_needs_the_csrf_token(browser_client: TestClient) -> None:
    login(browser_client, "pia")
    assert browser_client.post("/portal/logout", data={}).status_code == 403
    assert browser_client.get("/portal/planer").url.path == "/portal/planer"


def test_pages_need_a_session(browser_client: TestClient) -> None:
    for path in ("/portal/planer", "/portal/born", "/portal/log", "/portal/spaerring"):
        assert browser_client.get(path).url.path == "/portal/login"


async def test_expired_sessions_are_not_loaded(portal_settings: object) -> None:
    now = [1000.0]
    store = SessionStore(portal_settings.database_url, clock=lambda: now[0])  # type: ignore[attr-defined]
    session = await store.create({"token": "t"}, max_age=60)
    assert await store.load(session.sid) is not None
    now[0] += 61
    assert await store.load(session.sid) is None
    await store.engine.dispose()


def test_no_cpr_number_in_urls_or_logs(
    browser_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the service logs at INFO; DEBUG shows SQL parameters
    for persona in ("kirsten", "pia", "anders"):
        login(browser_client, persona)
        seen = {"/portal/planer", "/portal/born", "/portal/aendringer", "/portal/log"}
        queue = list(seen)
        while queue:
            html = browser_client.get(queue.pop()).text
            for href in re.findall(r'href="(/portal/[^"#]*)', html):
                assert not any(cpr in href for cpr in CPRS), href
                if href not in seen and "/static/" not in href:
                    seen.add(href)
                    queue.append(href)
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert not any(cpr in logged for cpr in CPRS)
