"""The signed-in pages: Mine planer, Mine børn, Ændringer, Min log, Min spærring.

Every page reads through the FHIR API with the token of the person it is about:
the citizen's own, or the custody token of one of their children, chosen by an
opaque per-session id (never a CPR number or a Patient id in the URL).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.portal import csrf
from app.portal.changes import plan_history
from app.portal.fhir_client import FhirClient, FhirRefusal
from app.portal.labels import COPENHAGEN
from app.portal.minlog import log_entries
from app.portal.optout import (
    OptOutError,
    active_opt_outs,
    build_opt_out,
    organisations,
)
from app.portal.plans import PLAN_INCLUDES, group_plans
from app.portal.sessions import Session
from app.portal.signin import FORBIDDEN_FORM
from app.portal.web import Portal, cpr_hash, redirect

OPT_OUT_AGE = 15
FHIR_ID = re.compile(r"^[A-Za-z0-9.-]{1,64}$")  # R4 datatypes.html#id
NOTICES = {
    "oprettet": "Spærringen er oprettet.",
    "tilbagekaldt": "Spærringen er tilbagekaldt.",
}
REFUSALS = {
    "child-15-or-over-sundhedsloven-39a": (
        "Din digitale adgang til barnets oplysninger er ophørt, fordi barnet er fyldt 15 år "
        "(sundhedslovens § 39 a)."
    ),
    "no-verified-custody": "Vi kan ikke bekræfte, at du har forældremyndighed over barnet.",
    "citizen-writes-own-opt-out": "Du kan kun oprette og tilbagekalde dine egne spærringer.",
    "custody-read-only": "Som forælder kan du se, men ikke ændre, dit barns oplysninger.",
}


@dataclass(frozen=True, slots=True)
class Subject:
    """Whose data a page shows, with the token that reads it."""

    token: str
    patient_id: str | None
    name: str
    child: str | None  # the opaque child id, None for the citizen themself

    @property
    def prefix(self) -> str:
        return f"/portal/born/{self.child}" if self.child else "/portal"


def subject(session: Session, child: str | None) -> Subject | None:
    data = session.data
    if child is None:
        return Subject(data["token"], data.get("patient_id"), data.get("name", ""), None)
    kid = (data.get("children") or {}).get(child)
    if not isinstance(kid, dict) or kid.get("state") != "ok":
        return None
    return Subject(kid["token"], kid.get("patient_id"), kid.get("name", ""), child)


def age(birth: object, today: date) -> int | None:
    if not isinstance(birth, str) or len(birth) < 10:
        return None
    born = date.fromisoformat(birth[:10])
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


Page = Callable[[Request, Session, Subject, FhirClient], Awaitable[Response]]


def page_routes(portal: Portal) -> APIRouter:
    router = APIRouter()
    config = portal.config

    async def run(request: Request, child: str | None, page: Page) -> Response:
        session = await portal.signed_in(request)
        if session is None:
            return redirect("/portal/login?udlobet=1" if request.cookies else "/portal/login")
        who = subject(session, child)
        if who is None:
            return not_found(request, session)
        request_id = str(getattr(request.state, "request_id", ""))
        async with FhirClient(request.app, config.base_url, who.token, request_id) as fhir:
            try:
                return await page(request, session, who, fhir)
            except FhirRefusal as refusal:
                if refusal.status == 401:
                    await portal.store.delete(session)
                    return redirect("/portal/login?udlobet=1")
                return portal.render(
                    request,
                    "error.html",
                    session,
                    403 if refusal.status == 403 else 502,
                    title="Ingen adgang" if refusal.status == 403 else "Noget gik galt",
                    message=REFUSALS.get(refusal.code, "Oplysningerne kan ikke vises lige nu."),
                    back="/portal/planer",
                )

    def not_found(request: Request, session: Session) -> Response:
        return portal.render(
            request,
            "error.html",
            session,
            404,
            title="Siden findes ikke",
            message="Siden findes ikke, eller du har ikke adgang til den.",
            back="/portal/planer",
        )

    async def plans(request: Request, session: Session, who: Subject, fhir: FhirClient) -> Response:
        entries = await fhir.search(
            "CarePlan", {"_include": list(PLAN_INCLUDES), "status:not": "entered-in-error"}
        )
        return portal.render(request, "plans.html", session, who=who, groups=group_plans(entries))

    async def changes(
        request: Request, session: Session, who: Subject, fhir: FhirClient
    ) -> Response:
        histories = []
        for entry in await fhir.search("CarePlan", {"_elements": "id"}):
            plan_id = entry["resource"]["id"]
            history = await fhir.search(f"CarePlan/{plan_id}/_history")
            events = await fhir.search("AuditEvent", {"entity": f"CarePlan/{plan_id}"})
            histories.append(plan_history(plan_id, history, [e["resource"] for e in events]))
        return portal.render(request, "changes.html", session, who=who, histories=histories)

    async def minlog(
        request: Request, session: Session, who: Subject, fhir: FhirClient
    ) -> Response:
        events: list[dict[str, Any]] = []
        if who.patient_id:
            bundle = await fhir.read(f"AuditEvent?patient={who.patient_id}&_sort=-date&_count=100")
            events = [e["resource"] for e in bundle.get("entry", [])]
        me = str(session.data.get("who", ""))
        entries = log_entries(events, lambda cpr: cpr_hash(cpr) == me)
        return portal.render(request, "log.html", session, who=who, entries=entries)

    @router.get("")
    async def home(request: Request) -> Response:
        return redirect("/portal/planer")

    @router.get("/planer")
    async def my_plans(request: Request) -> Response:
        return await run(request, None, plans)

    @router.get("/aendringer")
    async def my_changes(request: Request) -> Response:
        return await run(request, None, changes)

    @router.get("/log")
    async def my_log(request: Request) -> Response:
        return await run(request, None, minlog)

    @router.get("/born/{child}/planer")
    async def child_plans(request: Request, child: str) -> Response:
        return await run(request, child, plans)

    @router.get("/born/{child}/aendringer")
    async def child_changes(request: Request, child: str) -> Response:
        return await run(request, child, changes)

    @router.get("/born/{child}/log")
    async def child_log(request: Request, child: str) -> Response:
        return await run(request, child, minlog)

    @router.get("/born")
    async def children(request: Request) -> Response:
        session = await portal.signed_in(request)
        if session is None:
            return redirect("/portal/login")
        kids = [
            {"id": key, "name": kid.get("name", ""), "state": kid.get("state")}
            for key, kid in (session.data.get("children") or {}).items()
        ]
        return portal.render(request, "children.html", session, children=kids)

    async def optout_page(
        request: Request,
        session: Session,
        who: Subject,
        fhir: FhirClient,
        *,
        error: str = "",
        status: int = 200,
    ) -> Response:
        notice = next((text for key, text in NOTICES.items() if key in request.query_params), "")
        today = today_in_copenhagen()
        years = age(session.data.get("birth_date"), today)
        consents = await fhir.search("Consent", {"status": "active"}) if who.patient_id else []
        orgs = organisations(await fhir.search("Organization", {"_count": "200"}))
        return portal.render(
            request,
            "optout.html",
            session,
            status=status,
            who=who,
            opt_outs=active_opt_outs(consents),
            organisations=orgs,
            allowed=who.patient_id is not None and years is not None and years >= OPT_OUT_AGE,
            error=error,
            notice=notice,
            today=today.isoformat(),
        )

    @router.get("/spaerring")
    async def opt_outs(request: Request) -> Response:
        return await run(request, None, optout_page)

    async def checked_form(request: Request) -> tuple[Session | None, dict[str, str]]:
        session = await portal.signed_in(request)
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        if session is None:
            return None, values
        if not csrf.same_origin(request, config.origin) or not csrf.valid(
            session.csrf, values.get(csrf.FIELD)
        ):
            raise CsrfRefused(session)
        return session, values

    @router.post("/spaerring")
    async def create_opt_out(request: Request) -> Response:
        try:
            session, form = await checked_form(request)
        except CsrfRefused as refused:
            return portal.render(request, "error.html", refused.session, 403, **FORBIDDEN_FORM)
        if session is None:
            return redirect("/portal/login")

        async def create(
            request: Request, session: Session, who: Subject, fhir: FhirClient
        ) -> Response:
            orgs = {
                o.sor: o
                for o in organisations(await fhir.search("Organization", {"_count": "200"}))
            }
            org = orgs.get(form.get("organisation", ""))
            try:
                if org is None or who.patient_id is None:
                    raise OptOutError("Vælg den organisation, der ikke må se dine planer")
                today = today_in_copenhagen()
                consent = build_opt_out(
                    who.patient_id, org, form.get("start", ""), form.get("end", ""), today
                )
            except OptOutError as exc:
                return await optout_page(request, session, who, fhir, error=str(exc), status=400)
            try:
                await fhir.create(consent)
            except FhirRefusal as refusal:
                message = REFUSALS.get(refusal.code, "Spærringen kunne ikke oprettes.")
                return await optout_page(request, session, who, fhir, error=message, status=400)
            return redirect("/portal/spaerring?oprettet=1")

        return await run(request, None, create)

    @router.post("/spaerring/{consent_id}/tilbagekald")
    async def revoke_opt_out(request: Request, consent_id: str) -> Response:
        try:
            session, _ = await checked_form(request)
        except CsrfRefused as refused:
            return portal.render(request, "error.html", refused.session, 403, **FORBIDDEN_FORM)
        if session is None:
            return redirect("/portal/login")
        if not FHIR_ID.match(consent_id):
            return not_found(request, session)

        async def revoke(
            request: Request, session: Session, who: Subject, fhir: FhirClient
        ) -> Response:
            consent = await fhir.read(f"Consent/{consent_id}")
            consent["status"] = "inactive"
            await fhir.update(consent)
            return redirect("/portal/spaerring?tilbagekaldt=1")

        return await run(request, None, revoke)

    return router


class CsrfRefused(Exception):
    def __init__(self, session: Session) -> None:
        super().__init__("csrf")
        self.session = session


def today_in_copenhagen() -> date:
    return datetime.now(COPENHAGEN).date()
