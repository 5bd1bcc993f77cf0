"""The portal's pages over HTTP (no browser): what each persona sees, and what they do not."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.portal import data
from tests.portal.conftest import csrf_token, login

CPR_IN_TEXT = re.compile(r"(?<!\d)\d{6}-?\d{4}(?!\d)")


def child_links(html: str) -> list[str]:
    return re.findall(r'href="(/portal/born/[^/"]+)/planer"', html)


def test_citizen_sees_own_plans_grouped_by_kind(browser_client: TestClient) -> None:
    login(browser_client, "pia")
    html = browser_client.get("/portal/planer").text
    assert '<html lang="da">' in html
    assert "Udskrivningsaftaler og koordinationsplaner" in html
    assert "Forløbsplaner" in html
    assert "Forløbsplan for KOL" in html
    assert "Sat i bero" in html  # the updated KOL plan's status
    assert "Skanderborg Lægecenter" in html  # responsible organisation by name
    assert "Antal cigaretter pr. dag" in html  # a goal's target
    assert "senest 1. februar 2027" in html  # its due date
    assert "Udføres af" in html


def test_parent_sees_child_under_15_and_refusal_for_child_over_15(
    browser_client: TestClient,
) -> None:
    login(browser_client, "kirsten")
    html = browser_client.get("/portal/born").text
    assert "Lars Berggren" in html
    assert "Gitte" in html
    assert "fyldt 15 år" in html
    assert "sundhedslovens § 39 a" in html
    links = child_links(html)
    assert len(links) == 1  # only Lars opens; Gitte has no link and no data
    plans = browser_client.get(f"{links[0]}/planer").text
    assert "Genoptræningsplan efter hoftebrud" in plans
    assert not CPR_IN_TEXT.search(plans)


def test_hidden_plan_is_absent_from_the_parents_html(
    browser_client: TestClient, families: dict[str, Any]
) -> None:
    login(browser_client, "kirsten")
    link = child_links(browser_client.get("/portal/born").text)[0]
    for page in ("planer", "aendringer", "log"):
        html = browser_client.get(f"{link}/{page}").text
        assert "Skjult plan" not in html
        for plan_id in families["hidden_plans"]:
            assert plan_id not in html


def test_parent_without_custody_sees_no_child(browser_client: TestClient) -> None:
    login(browser_client, "anders")
    html = browser_client.get("/portal/born").text
    assert "Ali" not in html
    assert child_links(html) == []
    assert "Der er ingen børn under 15 år" in html


def test_another_familys_child_cannot_be_reached_by_editing_the_url(
    portal_app: Any, browser_client: TestClient
) -> None:
    login(browser_client, "kirsten")
    kirstens_child = child_links(browser_client.get("/portal/born").text)[0]
    with TestClient(portal_app, base_url="https://testserver") as other:
        login(other, "anders")
        for page in ("planer", "aendringer", "log"):
            answer = other.get(f"{kirstens_child}/{page}")
            assert answer.status_code == 404
            assert "Lars" not in answer.text
        # Forged ids: a Patient id or a CPR number in place of the opaque id.
        for forged in (data.LARS, "1", "AAAAAAAAAAAA"):
            assert other.get(f"/portal/born/{forged}/planer").status_code == 404


def test_a_parent_cannot_revoke_another_citizens_opt_out_by_editing_the_form(
    portal_app: Any, browser_client: TestClient
) -> None:
    login(browser_client, "pia")
    page = browser_client.get("/portal/spaerring").text
    sor = re.findall(r'<option value="(\d+)">', page)[0]
    browser_client.post(
        "/portal/spaerring",
        data={
            "organisation": sor,
            "start": "2026-01-01",
            "end": "",
            "csrf_token": csrf_token(page),
        },
    )
    page = browser_client.get("/portal/spaerring").text
    consent_id = re.findall(r'/portal/spaerring/([^/"]+)/tilbagekald', page)[0]
    with TestClient(portal_app, base_url="https://testserver") as other:
        login(other, "kirsten")
        token = csrf_token(other.get("/portal/spaerring").text)
        answer = other.post(
            f"/portal/spaerring/{consent_id}/tilbagekald", data={"csrf_token": token}
        )
        assert answer.status_code in (403, 404, 502)
    assert consent_id in browser_client.get("/portal/spaerring").text  # still active


def test_citizen_creates_and_revokes_an_opt_out(browser_client: TestClient) -> None:
    login(browser_client, "pia")
    page = browser_client.get("/portal/spaerring").text
    assert "Du har ingen aktive spærringer" in page
    sor = re.search(r'<option value="(\d+)">Horsens Kommune</option>', page)
    assert sor
    created = browser_client.post(
        "/portal/spaerring",
        data={
            "organisation": sor.group(1),
            "start": "2026-01-01",
            "end": "2027-12-31",
            "csrf_token": csrf_token(page),
        },
    )
    assert "Spærringen er oprettet" in created.text
    assert "Horsens Kommune" in created.text
    assert "1. januar 2026 til 31. december 2027" in created.text
    consent_id = re.findall(r'/portal/spaerring/([^/"]+)/tilbagekald', created.text)[0]
    revoked = browser_client.post(
        f"/portal/spaerring/{consent_id}/tilbagekald", data={"csrf_token": csrf_token(created.text)}
    )
    assert "Spærringen er tilbagekaldt" in revoked.text
    assert "Du har ingen aktive spærringer" in revoked.text


def test_an_opt_out_with_an_end_before_its_start_is_refused(browser_client: TestClient) -> None:
    login(browser_client, "pia")
    page = browser_client.get("/portal/spaerring").text
    sor = re.findall(r'<option value="(\d+)">', page)[0]
    answer = browser_client.post(
        "/portal/spaerring",
        data={
            "organisation": sor,
            "start": "2027-01-01",
            "end": "2026-01-01",
            "csrf_token": csrf_token(page),
        },
    )
    assert answer.status_code == 400
    assert "Slutdatoen skal ligge efter startdatoen" in answer.text


def test_min_log_shows_the_parents_own_viewing(browser_client: TestClient) -> None:
    login(browser_client, "kirsten")
    link = child_links(browser_client.get("/portal/born").text)[0]
    browser_client.get(f"{link}/planer")
    html = browser_client.get(f"{link}/log").text
    assert "Dig (som forælder)" in html
    assert re.search(r"Søgte i [a-zæøå, ]*planer", html)
    assert not CPR_IN_TEXT.search(html)


def test_changes_show_what_changed_when_and_by_whom(browser_client: TestClient) -> None:
    login(browser_client, "pia")
    html = browser_client.get("/portal/aendringer").text
    assert "Version 2" in html
    assert "Status ændret fra «Aktiv» til «Sat i bero»" in html
    assert "Aktivitet fjernet" in html
    assert data.HOSPITAL_NAME in html  # the organisation that wrote version 2


def test_sixteen_year_old_uses_the_portal_herself(browser_client: TestClient) -> None:
    login(browser_client, "gitte")
    assert "Forløbsplan for type 2-diabetes" in browser_client.get("/portal/planer").text
    assert "Opret spærring" in browser_client.get("/portal/spaerring").text


def test_min_log_highlights_an_emergency_override(
    portal_app: Any, browser_client: TestClient, families: dict[str, Any]
) -> None:
    issuer = portal_app.state.auth.dev_token_issuer
    nurse = issuer.dev_token(
        {
            "dk_user_type": "professional",
            "dk_org_sor": data.HOSPITAL_SOR,
            "dk_acting_cpr": "3001749995",
            "dk_authorization_id": "0C5VJ",
            "scope": "user/*.rs",
            "dk_consent_override": True,
            "dk_override_reason": "Akut indlæggelse, bevidstløs",
        }
    )["access_token"]
    plan = families["pia_plans"][0]
    answer = browser_client.get(
        f"/fhir/CarePlan/{plan}", headers={"Authorization": f"Bearer {nurse}"}
    )
    assert answer.status_code == 200
    login(browser_client, "pia")
    html = browser_client.get("/portal/log").text
    row = re.search(r'<tr class="override">(.*?)</tr>', html, re.S)
    assert row, "the override is not highlighted"
    assert "Værdispring: Akut indlæggelse, bevidstløs" in row.group(1)
    assert f"Sundhedsperson, {data.HOSPITAL_NAME}" in row.group(1)
    assert "3001749995" not in html


def test_the_log_never_shows_the_parent_who_opened_the_hidden_plan(
    portal_app: Any, browser_client: TestClient, families: dict[str, Any]
) -> None:
    # Hedensted Kommune is named in the hidden plan (its care team), so the plan is shared
    # with it; its reading is in Lars' log, but a custody holder must not learn of it
    # (sundhedsloven §37 stk. 2): neither on the portal nor through the API.
    issuer = portal_app.state.auth.dev_token_issuer
    hedensted = issuer.dev_token(
        {"dk_user_type": "system", "dk_org_sor": "6038311000016006", "scope": "system/*.rs"}
    )["access_token"]
    hidden = families["hidden_plans"][0]
    answer = browser_client.get(
        f"/fhir/CarePlan/{hidden}", headers={"Authorization": f"Bearer {hedensted}"}
    )
    assert answer.status_code == 200
    login(browser_client, "kirsten")
    link = child_links(browser_client.get("/portal/born").text)[0]
    html = browser_client.get(f"{link}/log").text
    assert "Hedensted" not in html and hidden not in html
    assert data.HOSPITAL_NAME in html  # the visible plan's push is still in the log
