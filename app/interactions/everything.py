"""Patient/[id]/$everything (R4 patient-operation-everything), GET and POST.

What the caller may see of one patient's compartment (the Patient and every resource in
its R4 patient compartment), as a searchset Bundle run through the search machinery: the
same predicate, paging and audit as a search, read under the `r` scope letter. A Patient
the caller may not see is 404 (its existence is not revealed); `_since`, `_type` and
`_count` narrow the result; any other parameter is a 400.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from app.fhir.instant import format_instant
from app.fhir.operations import BY_NAME
from app.fhir.outcome import bad_request
from app.fhir.search.definitions import PATIENT_COMPARTMENT
from app.fhir.search.parse import parse_search
from app.interactions.crud import visible_current
from app.interactions.history import instant_param
from app.interactions.paging import CURSOR_PARAM
from app.interactions.request import FhirRequest
from app.interactions.result import Result
from app.interactions.search import searchset
from app.interactions.session import Session
from app.storage.repository import SearchLimits

EVERYTHING = BY_NAME["everything"].segment  # as the operations table states it
_PARAMETERS = ("_since", "_type", "_count", CURSOR_PARAM)
# The Patient and the types of its compartment (R4 compartmentdefinition-patient).
COMPARTMENT_TYPES = tuple(sorted({"Patient", *PATIENT_COMPARTMENT}))


def _value(parameter: dict[str, Any], name: str) -> str:
    """The one primitive value[x] of a Parameters.parameter, as its string form."""
    values = [v for k, v in parameter.items() if k.startswith("value")]
    if len(values) != 1 or not isinstance(values[0], str | int) or isinstance(values[0], bool):
        raise bad_request(f"Parameter '{name}' needs one primitive value", name)
    return str(values[0])


def _from_body(body: Any) -> list[tuple[str, str]]:
    """POST: the operation's parameters from a Parameters resource (R4 operations.html)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise bad_request("POST $everything takes a Parameters resource", "Parameters")
    found: list[tuple[str, str]] = []
    for index, parameter in enumerate(body.get("parameter") or []):
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if not isinstance(name, str):
            raise bad_request("Each parameter needs a name", f"Parameters.parameter[{index}]")
        found.append((name, _value(parameter, name)))
    return found


def _types(raw: str | None) -> list[str]:
    if raw is None:
        return list(COMPARTMENT_TYPES)
    wanted = list(dict.fromkeys(t.strip() for t in raw.split(",") if t.strip()))
    outside = [t for t in wanted if t not in COMPARTMENT_TYPES]
    if not wanted or outside:
        raise bad_request(
            f"_type must name types of the patient compartment ({', '.join(COMPARTMENT_TYPES)})",
            "_type",
        )
    return wanted


def as_get(req: FhirRequest) -> FhirRequest:
    """The request with its parameters in the query (a POST's from its body), checked."""
    params = list(req.query) if req.method != "POST" else [*req.query, *_from_body(req.body)]
    for name, _ in params:
        if name not in _PARAMETERS:
            raise bad_request(f"Unknown or unsupported parameter '{name}' of $everything", name)
        if sum(1 for n, _ in params if n == name) > 1:
            raise bad_request(f"Parameter '{name}' is given more than once", name)
    return replace(req, method="GET", query=tuple(params), body=None)


async def everything(
    s: Session, req: FhirRequest, limits: SearchLimits, cursor_key: bytes
) -> Result:
    """The caller's view of the patient's compartment, one page at a time."""
    req = as_get(req)
    patient_id = req.resource_id or ""
    types = _types(req.param("_type"))
    since = instant_param(req, "_since")
    # 404 (audited as a refusal) for a Patient that exists but is hidden, 404/410 otherwise.
    current = await visible_current(s, "Patient", patient_id, "read")
    if current is None or current.deleted:
        await s.repo.read("Patient", patient_id)
    criteria = [("_count", v) for v in (req.param("_count"),) if v is not None]
    if since is not None:
        criteria.append(("_lastUpdated", "ge" + format_instant(since)))
    request = parse_search(
        types,
        criteria,
        base_url=s.repo.base_url,
        default_count=limits.default_count,
        max_count=limits.max_count,
    )
    request = replace(
        request, compartment=patient_id, query_key=f"{request.query_key}|Patient/{patient_id}"
    )
    s.query = f"Patient/{patient_id}/{EVERYTHING}?{urlencode(req.query)}".rstrip("?")
    return await searchset(s, req, request, limits, cursor_key, interaction="read")
