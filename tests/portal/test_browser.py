"""The portal in headless Debian Chromium (Playwright) against `esp-careplans serve`.

Two worker processes, so the sessions must live in the database to work at all.
Screenshots of every page at 1280 px and 375 px go to test-artifacts/portal/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.settings import DEMO_CPR_REGISTRY_SOR
from tests.portal import data
from tests.support.browser import chromium, ensure_chromium
from tests.support.databases import migrate
from tests.support.servers import ROOT, RunningServer, running_server

pytestmark = pytest.mark.slow
pytest.importorskip("playwright.sync_api")

ARTIFACTS = ROOT / "test-artifacts" / "portal"
WIDTHS = {"desktop": 1280, "phone": 375}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, dict[str, Any]]]:
    ensure_chromium()
    url = f"sqlite:///{tmp_path_factory.mktemp('portal') / 'portal.db'}"
    migrate(url)
    env = {"ESP_ENV": "development", "ESP_SESSION_COOKIE_SECURE": "false"}
    with running_server(url, workers=2, env=env) as srv:

        def sender(sor: str) -> data.Send:
            headers = srv.system_headers(sor=sor)

            def send(method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
                answer = httpx.request(
                    method, f"{srv.base}/{path}".rstrip("/"), json=body, headers=headers, timeout=30
                )
                assert answer.status_code < 300, answer.text
                return dict(answer.json())

            return send

        # People and custody as the CPR registry feed (a development custody authority).
        families = data.create_families(sender(data.HOSPITAL_SOR), sender(DEMO_CPR_REGISTRY_SOR))
        yield srv, families


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


@pytest.fixture
def page(browser: Any, server: tuple[RunningServer, dict[str, Any]]) -> Iterator[Any]:
    context = browser.new_context(
        base_url=server[0].base.removesuffix("/fhir"),
        viewport={"width": WIDTHS["desktop"], "height": 900},
        locale="da-DK",
    )
    tab = context.new_page()
    yield tab
    context.close()


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        # No horizontal scrolling at either width (WCAG 1.4.10 reflow).
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, f"{name} scrolls sideways at {width} px"
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})


def sign_in(page: Any, name: str) -> None:
    page.goto("/portal/login")
    page.get_by_role("button", name=f"Log ind som {name}").click()
    page.wait_for_url(re.compile(r"/portal/planer$"))


def test_parent_sees_a_childs_plans_but_not_the_hidden_plan_or_the_child_over_15(
    page: Any,
) -> None:
    page.goto("/portal/login")
    shoot(page, "01-login")
    sign_in(page, "Kirsten Berggren")
    page.get_by_role("link", name="Mine børn").click()
    assert page.get_by_role("heading", name="Lars Berggren").is_visible()
    refusal = page.locator(".card.refused")
    assert "fyldt 15 år" in refusal.inner_text()
    assert refusal.get_by_role("link").count() == 0  # no data, no way in
    shoot(page, "02-mine-boern")

    page.get_by_role("link", name="Se Lars Berggrens planer").click()
    assert page.get_by_role("heading", name="Genoptræningsplan efter hoftebrud").is_visible()
    assert page.get_by_text("Horsens Kommune").first.is_visible()
    content = page.content()
    assert "Skjult plan" not in content
    assert not re.search(r"\d{6}-?\d{4}", page.url)
    shoot(page, "03-barnets-planer")

    page.get_by_role("navigation", name="Lars Berggren").get_by_role("link", name="Log").click()
    rows = page.locator("table.log tbody tr")
    assert rows.filter(has_text="Dig (som forælder)").count() >= 1
    assert rows.filter(has_text="planer").count() >= 1
    shoot(page, "04-barnets-log")


def test_citizen_creates_and_revokes_an_opt_out(page: Any) -> None:
    sign_in(page, "Pia Berggren")
    assert page.get_by_role("heading", name="Forløbsplaner").is_visible()
    shoot(page, "05-mine-planer")
    page.get_by_role("link", name="Ændringer", exact=True).click()
    assert page.get_by_text("Status ændret fra «Aktiv» til «Sat i bero»").is_visible()
    shoot(page, "06-aendringer")
    page.get_by_role("link", name="Min log").click()
    shoot(page, "07-min-log")

    page.get_by_role("link", name="Min spærring").click()
    page.get_by_label("Organisation, der ikke må se mine planer").select_option(
        label="Horsens Kommune"
    )
    page.get_by_label("Fra og med").fill("2026-01-01")
    page.get_by_label("Til og med").fill("2027-12-31")
    page.get_by_role("button", name="Opret spærring").click()
    assert page.get_by_role("status").inner_text().strip() == "Spærringen er oprettet."
    active = page.locator(".optouts .card")
    assert active.count() == 1
    assert "Horsens Kommune" in active.inner_text()
    shoot(page, "08-min-spaerring")

    page.get_by_role("button", name=re.compile("Tilbagekald spærringen")).click()
    assert page.get_by_role("status").inner_text().strip() == "Spærringen er tilbagekaldt."
    assert page.get_by_text("Du har ingen aktive spærringer.").is_visible()


def test_keyboard_users_reach_the_content_first_with_a_visible_focus(page: Any) -> None:
    sign_in(page, "Pia Berggren")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Gå til indhold"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")


def test_session_cookie_is_httponly_and_lax(page: Any) -> None:
    sign_in(page, "Pia Berggren")
    cookies = {c["name"]: c for c in page.context.cookies()}
    cookie = cookies["esp_portal"]  # local http: ESP_SESSION_COOKIE_SECURE=false
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""
