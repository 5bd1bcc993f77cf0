"""Loading the synthetic data through the API (transaction Bundles), keeping a sample of
what was stored for the workloads to draw from."""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from bench.data import Citizen, World, organisation_bundle, transaction

FHIR_JSON = {"content-type": "application/fhir+json"}
# The subject-search patients' plans: a kind no other workload searches for (the delta
# searches ask for rehabilitation plans, the CPR search for the sample citizens' kinds).
SUBJECT_KIND = "discharge-agreement"


class PreloadError(RuntimeError):
    pass


@dataclass
class Sample:
    """A bounded, seeded reservoir of stored citizens and plans."""

    size: int = 2000
    rng: random.Random = field(default_factory=lambda: random.Random("bench-sample"))
    seen: int = 0
    # [cpr, patient id, kind, status, main condition id, goal id]
    citizens: list[list[str]] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)

    def add(self, citizen: list[str], plan_id: str) -> None:
        self.seen += 1
        if len(self.citizens) < self.size:
            self.citizens.append(citizen)
            self.plans.append(plan_id)
            return
        slot = self.rng.randrange(self.seen)
        if slot < self.size:
            self.citizens[slot] = citizen
            self.plans[slot] = plan_id


@dataclass
class Progress:
    next_index: int = 0
    resources: int = 0
    seconds: float = 0.0
    first_epoch: float = 0.0
    last_epoch: float = 0.0


_LOCATION = re.compile(r"(?:^|/)[A-Z][A-Za-z]+/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def _id(entry: dict[str, Any]) -> str:
    """The id in an entry's `response.location` (relative or absolute, R4 bundle.html)."""
    response = entry.get("response", {})
    match = _LOCATION.search(str(response.get("location", "")))
    if match is None or not str(response.get("status", "")).startswith(("200", "201")):
        raise PreloadError(f"unexpected transaction entry response: {response}")
    return match.group(1)


async def _post(client: httpx.AsyncClient, base: str, bundle: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(base, content=orjson.dumps(bundle), headers=FHIR_JSON)
    if response.status_code != 200:
        raise PreloadError(f"transaction failed: {response.status_code} {response.text[:500]}")
    body: dict[str, Any] = response.json()
    return body


async def load_organisations(client: httpx.AsyncClient, base: str, world: World) -> dict[str, str]:
    """Store every organisation once; plans then point at `Organization/<id>`."""
    answer = await _post(client, base, organisation_bundle(world.orgs))
    sor_to_id = {
        org.sor: _id(entry) for org, entry in zip(world.orgs, answer["entry"], strict=True)
    }
    world.stored(sor_to_id)
    return sor_to_id


def _batches(world: World, start: int, resources: int, per_bundle: int) -> Iterator[list[Citizen]]:
    batch: list[Citizen] = []
    for citizen in world.citizens(resources, start):
        batch.append(citizen)
        if sum(c.resources for c in batch) >= per_bundle:
            yield batch
            batch = []
    if batch:
        yield batch


async def preload(
    client: httpx.AsyncClient,
    base: str,
    world: World,
    progress: Progress,
    sample: Sample,
    resources: int,
    *,
    concurrency: int = 4,
    per_bundle: int = 50,
) -> None:
    """Add about `resources` resources: citizens from `progress.next_index` on, several per
    transaction, `concurrency` transactions in flight."""
    queue: asyncio.Queue[list[Citizen] | None] = asyncio.Queue(maxsize=concurrency * 2)
    started = time.monotonic()
    progress.first_epoch = progress.first_epoch or time.time()

    errors: list[BaseException] = []

    async def send(batch: list[Citizen]) -> None:
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [e for c in batch for e in c.bundle["entry"]],
        }
        entries = (await _post(client, base, bundle))["entry"]
        offset = 0
        for citizen in batch:
            own = entries[offset : offset + citizen.resources]
            offset += citizen.resources
            goal = next(
                i
                for i, e in enumerate(citizen.bundle["entry"])
                if e["resource"]["resourceType"] == "Goal"
            )
            ids = [_id(own[0]), _id(own[1]), _id(own[goal])]  # patient, main condition, goal
            sample.add(
                [citizen.cpr, ids[0], citizen.kind, citizen.status, ids[1], ids[2]], _id(own[-1])
            )
        progress.resources += offset

    async def sender() -> None:
        # After a failure keep draining the queue, so the producer never blocks.
        while (batch := await queue.get()) is not None:
            if not errors:
                try:
                    await send(batch)
                except Exception as exc:  # reported below, after every sender stopped
                    errors.append(exc)

    senders = [asyncio.create_task(sender()) for _ in range(concurrency)]
    for batch in _batches(world, progress.next_index, resources, per_bundle):
        progress.next_index = batch[-1].index + 1
        await queue.put(batch)
        if errors:
            break
    for _ in senders:
        await queue.put(None)
    await asyncio.gather(*senders)
    if errors:
        raise PreloadError(str(errors[0])) from errors[0]
    progress.seconds += time.monotonic() - started
    progress.last_epoch = time.time()


async def load_subjects(
    client: httpx.AsyncClient,
    base: str,
    world: World,
    author: dict[str, Any],
    tiers: tuple[int, ...],
    patients: int,
    start: int,
    per_bundle: int = 50,
) -> dict[str, list[str]]:
    """`patients` patients for every tier, each with `tier` CarePlans, written through the
    API by the organisation whose token the workloads use and naming it as the plans'
    author: it sees them as their author whatever else the access rules say. Citizens
    from index `start` on; returns tier -> patient ids."""
    out: dict[str, list[str]] = {}
    index = start
    for tier in tiers:
        for _ in range(patients):
            citizen = world.citizen(index, kind=SUBJECT_KIND)
            citizen.bundle["entry"][-1]["resource"]["author"] = author
            entries = (await _post(client, base, citizen.bundle))["entry"]
            goal = next(
                i
                for i, e in enumerate(citizen.bundle["entry"])
                if e["resource"]["resourceType"] == "Goal"
            )
            patient, condition, goal_id = _id(entries[0]), _id(entries[1]), _id(entries[goal])
            for first in range(1, tier, per_bundle):
                plans: list[tuple[str, dict[str, Any], str | None]] = []
                for n in range(first, min(tier, first + per_bundle)):
                    plan = world.careplan(
                        index * 10_000 + n, SUBJECT_KIND, patient, condition, goal_id
                    )
                    urn = f"urn:uuid:{uuid.UUID(int=index * 10_000 + n)}"
                    plans.append((urn, {**plan, "author": author}, None))
                await _post(client, base, transaction(plans))
            out.setdefault(str(tier), []).append(patient)
            index += 1
    return out
