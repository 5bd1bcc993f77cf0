"""The delivery worker: walks the outbox for each Subscription and notifies its endpoint.

At least once, in order per subscription, never lost: a worker leases a subscription,
handshakes it (`requested` → `active`), then takes its next changes from the outbox below
the commit horizon, one at a time. A change is notified only if the subscription's owner,
acting as itself now, may see the resource and it matches the criteria (the same SQL
search a GET runs: one matcher); an opt-out, a hidden label or a lost relation stops it.
A failed delivery is retried with exponential backoff, and the cursor does not move past
it; after the retry horizon the subscription turns `error`. A worker that dies leaves its
lease to expire and another one carries on. Every delivery attempt is audited.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson

from app.access.authorities import Authorities
from app.access.decision import AccessDenied
from app.access.policy import AccessPolicy
from app.access.principal import InvalidClaims, Principal
from app.audit.recorder import AUDIT_WRITER, Access, AuditTrail
from app.fhir.instant import now_utc
from app.fhir.outcome import FhirError
from app.fhir.subscription import (
    FHIR_JSON,
    EndpointPolicy,
    EventType,
    Status,
    SubscriptionRequest,
    notification_bundle,
    parse_subscription,
)
from app.interactions.access_setup import ExternalRegistries, build_policy
from app.interactions.context import RequestContext
from app.interactions.polling import work_until, worker_name
from app.interactions.request import FhirRequest
from app.storage.access_facts import AccessFacts
from app.storage.subscriptions import OutboxEvent, SubscriptionState
from app.storage.unit_of_work import Storage

log = logging.getLogger("esp.subscriptions")
WORKER = AccessPolicy.internal("subscription-worker")
NOTIFY = "subscription-notification"
HANDSHAKE = "subscription-handshake"


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    retry_horizon: timedelta = timedelta(hours=24)
    retry_base: timedelta = timedelta(seconds=1)
    retry_max: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(seconds=60)
    poll_seconds: float = 1.0
    batch: int = 20
    subscriptions_per_round: int = 10


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    detail: str


def _headers(channel_headers: tuple[str, ...]) -> dict[str, str]:
    """`Name: value` strings of Subscription.channel.header (CR/LF refused on write)."""
    headers = {"Content-Type": FHIR_JSON}
    for line in channel_headers:
        name, colon, value = line.partition(":")
        if colon and name.strip() and "\r" not in line and "\n" not in line:
            headers[name.strip()] = value.strip()
    return headers


class DeliveryWorker:
    """One delivery worker (several may run, on several nodes: leases keep them apart)."""

    def __init__(
        self,
        storage: Storage,
        http: httpx.AsyncClient,
        *,
        endpoints: EndpointPolicy,
        registries: ExternalRegistries,
        authorities: Authorities,
        settings: DeliverySettings | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.storage = storage
        self.http = http
        self.endpoints = endpoints
        self.registries = registries
        self.authorities = authorities
        self.settings = settings or DeliverySettings()
        self.name = worker_name()
        self.audit = AuditTrail()
        self._wake = asyncio.Event()
        self._clock = clock

    async def nudge(self) -> None:
        """Something was written: look now rather than at the next poll."""
        self._wake.set()

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; a failing round is logged and retried next poll."""
        await work_until(stop, self.run_once, self._wake, self.settings.poll_seconds, log)

    async def run_once(self) -> int:
        """One round: lease the subscriptions that have work, work each; how many."""
        async with self.storage.unit_of_work(WORKER, write=True) as repo:
            now = self._now(repo.stamp)
            claimed = await repo.subscription_ledger.claim(
                self.name, now, self.settings.lease, self.settings.subscriptions_per_round
            )
        for state in claimed:
            try:
                await self._work(state)
            except Exception:
                log.exception("delivery for Subscription/%s failed", state.res_id)
            finally:
                async with self.storage.unit_of_work(WORKER, write=True) as repo:
                    await repo.subscription_ledger.release(state, self.name)
        return len(claimed)

    def _now(self, stamp: datetime) -> datetime:
        return self._clock() if self._clock is not None else stamp

    # -- one subscription ------------------------------------------------------------

    async def _work(self, state: SubscriptionState) -> None:
        async with self.storage.unit_of_work(WORKER, write=False) as repo:
            current = await repo.read("Subscription", state.res_id, deleted_ok=True)
            horizon = await repo.commit_horizon()
        content = current.content
        if content is None or content.get("status") not in ("requested", "active"):
            return
        url = f"{self.storage.base_url}/Subscription/{state.res_id}"
        try:
            request = parse_subscription(content, self.storage.base_url)
            self.endpoints.check(request.channel.endpoint)
        except FhirError as exc:  # rules changed since it was written
            await self._set_status(state, content, "error", exc.issues[0].diagnostics)
            return
        if state.status == "requested":
            await self._handshake(state, content, request, url)
            return
        events = await self._events(state, horizon)
        # Stop well inside the lease: past it another worker may take the subscription.
        deadline = time.monotonic() + self.settings.lease.total_seconds() / 2
        for event in events:
            if time.monotonic() > deadline:
                return
            patients = await self._visible_patients(state, request, event)
            if patients is None:
                async with self.storage.unit_of_work(WORKER, write=True) as repo:
                    await repo.subscription_ledger.advance(state, event, notified=False)
                state = replace(state, cursor_at=event.last_updated, cursor_seq=event.seq)
                continue
            number = state.events + 1
            focus = f"{self.storage.base_url}/{event.reference}"
            attempt = await self._post(
                request,
                url,
                "active",
                "event-notification",
                number,
                [(number, event.last_updated, focus)],
            )
            await self._audit(state, event, patients, attempt)
            if not attempt.ok:
                await self._failed(state, content, attempt.detail)
                return
            async with self.storage.unit_of_work(WORKER, write=True) as repo:
                await repo.subscription_ledger.advance(state, event, notified=True)
            state = replace(
                state,
                cursor_at=event.last_updated,
                cursor_seq=event.seq,
                events=number,
                attempts=0,
                first_failure_at=None,
            )

    async def _events(self, state: SubscriptionState, horizon: datetime) -> list[OutboxEvent]:
        async with self.storage.unit_of_work(WORKER, write=False) as repo:
            return await repo.subscription_ledger.events(state, horizon, self.settings.batch)

    async def _handshake(
        self,
        state: SubscriptionState,
        content: dict[str, Any],
        request: SubscriptionRequest,
        url: str,
    ) -> None:
        attempt = await self._post(request, url, "requested", "handshake", state.events, [])
        owner = _owner(state)
        async with self.storage.unit_of_work(AUDIT_WRITER, write=True) as repo:
            await self.audit.record_outcome(
                repo,
                owner or WORKER.principal,
                interaction=HANDSHAKE,
                outcome="0" if attempt.ok else "8",
                rule=HANDSHAKE,
                message=f"Handshake with {request.channel.endpoint}: {attempt.detail}",
                patients=(),
                request_id=f"deliver-{self.name}",
                resources=(f"Subscription/{state.res_id}",),
            )
        if attempt.ok:
            await self._set_status(state, content, "active", None)
            async with self.storage.unit_of_work(WORKER, write=True) as repo:
                await repo.subscription_ledger.succeeded(state)
        else:
            await self._failed(state, content, attempt.detail)

    async def _post(
        self,
        request: SubscriptionRequest,
        url: str,
        status: Status,
        event_type: EventType,
        events_since_start: int,
        events: list[tuple[int, datetime, str]],
    ) -> Attempt:
        bundle = notification_bundle(
            url,
            status=status,
            event_type=event_type,
            events_since_start=events_since_start,
            events=events,
            timestamp=now_utc(),
        )
        try:
            response = await self.http.post(
                request.channel.endpoint,
                content=orjson.dumps(bundle),
                headers=_headers(request.channel.headers),
            )
        except httpx.HTTPError as exc:
            return Attempt(False, f"{type(exc).__name__}")
        if 200 <= response.status_code < 300:
            return Attempt(True, f"HTTP {response.status_code}")
        return Attempt(False, f"HTTP {response.status_code}")

    async def _visible_patients(
        self, state: SubscriptionState, request: SubscriptionRequest, event: OutboxEvent
    ) -> set[str] | None:
        """The patients of the changed resource if the owner, acting now, may see it and
        it matches the criteria (the search a GET would run); None otherwise."""
        owner = _owner(state)
        if owner is None:
            return None
        ctx = RequestContext(request_id=f"deliver-{self.name}", principal=owner)
        req = FhirRequest(method="GET", resource_type=event.res_type, resource_id=event.res_id)

        async def policy_for(facts: AccessFacts) -> AccessPolicy:
            return await build_policy(facts, ctx, req, self.registries, self.authorities)

        criteria = [*request.criteria, ("_id", event.res_id)]
        try:
            async with self.storage.unit_of_work(policy_for, write=False) as repo:
                found = await repo.find(event.res_type, criteria, interaction="search", limit=1)
                if not found:
                    return None
                return (await repo.compartments([found[0][0]])).get(found[0][0], set())
        except AccessDenied:  # e.g. the child turned 15: custody no longer verified
            return None

    async def _audit(
        self,
        state: SubscriptionState,
        event: OutboxEvent,
        patients: set[str],
        attempt: Attempt,
    ) -> None:
        owner = _owner(state) or WORKER.principal
        async with self.storage.unit_of_work(AUDIT_WRITER, write=True) as repo:
            if attempt.ok:
                access = Access(
                    owner,
                    NOTIFY,
                    NOTIFY,
                    [(event.res_pk, f"{event.res_type}/{event.res_id}")],
                    f"deliver-{self.name}",
                )
                await self.audit.record_accesses(repo, [access])
            else:
                await self.audit.record_outcome(
                    repo,
                    owner,
                    interaction=NOTIFY,
                    outcome="8",
                    rule=NOTIFY,
                    message=f"Notification not delivered ({attempt.detail}); it will be retried",
                    patients=patients,
                    request_id=f"deliver-{self.name}",
                    resources=(f"{event.res_type}/{event.res_id}",),
                )

    async def _failed(self, state: SubscriptionState, content: dict[str, Any], error: str) -> None:
        async with self.storage.unit_of_work(WORKER, write=True) as repo:
            now = self._now(repo.stamp)
            first = state.first_failure_at or now
            delay = min(self.settings.retry_base * (2**state.attempts), self.settings.retry_max)
            await repo.subscription_ledger.failed(state, error, now, now + delay)
        if now - first >= self.settings.retry_horizon:
            await self._set_status(
                state, content, "error", f"No delivery since {first.isoformat()}: {error}"
            )

    async def _set_status(
        self, state: SubscriptionState, content: dict[str, Any], status: Status, error: str | None
    ) -> None:
        """Write the server-owned status (and error) as a new version of the Subscription."""
        changed = {key: value for key, value in content.items() if key != "error"}
        changed["status"] = status
        if error:
            changed["error"] = error
        async with self.storage.unit_of_work(WORKER, write=True) as repo:
            await repo.update(changed, state.res_id, method="PUT", allow_create=False)
            await self.audit.record_provenance(repo)


def _owner(state: SubscriptionState) -> Principal | None:
    try:
        return Principal.restore(state.principal)
    except (InvalidClaims, KeyError):
        log.error("Subscription/%s has an unreadable owner", state.res_id)
        return None
