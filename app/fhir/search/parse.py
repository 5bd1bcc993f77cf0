"""Parse a FHIR search query into a typed `SearchRequest` (R4 search.html).

Parse, then compile (PRINCIPLES 6): this module knows FHIR's query syntax and the
registry; app.storage.search_sql turns the result into one SQL statement.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import cast

import orjson

from app.fhir.outcome import FhirError, Issue, bad_request, warning
from app.fhir.primitives import check_storable, parse_count
from app.fhir.search.model import (
    Chain,
    Criterion,
    Filter,
    Has,
    Include,
    SearchRequest,
    SortKey,
    SummaryMode,
    TotalMode,
)
from app.fhir.search.registry import (
    SearchParam,
    reference_targets,
    search_params,
    searchable_types,
    stored_types,
)
from app.fhir.search.syntax import split_unescaped
from app.fhir.search.types import ValueContext
from app.fhir.search.types.reference import is_type_modifier
from app.fhir.search.values import check_modifier, parse_value

MAX_CHAIN_DEPTH = 2  # `a.b.c`: two references traversed
MAX_HAS_DEPTH = 2
MAX_VALUES = 100  # ORed values per parameter
# Presentation / transport parameters that do not change which rows match.
PRESENTATION = frozenset({"_count", "_total", "_summary", "_elements", "_format", "_pretty"})
IGNORED = frozenset({"_format", "_pretty", "_cursor"})
_ELEMENT = re.compile(r"^[a-z][A-Za-z0-9]*$")


class _Parser:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def criterion(self, rtype: str, name: str, raw: str, depth: int = 0) -> Criterion | None:
        """`name=raw` on `rtype`; None when every value is empty (ignored, R4)."""
        if name.startswith("_has:"):
            return self.has(rtype, name, raw, depth)
        head, dot, tail = name.partition(".")
        pname, _, modifier = head.partition(":")
        param = _param(rtype, pname, name)
        if dot:
            return self.chain(rtype, name, param, modifier or None, tail, raw, depth)
        check_modifier(param, name, modifier or None)
        return self.filter(rtype, name, param, modifier or None, raw)

    def filter(
        self, rtype: str, name: str, param: SearchParam, modifier: str | None, raw: str
    ) -> Filter | None:
        if modifier == "missing":
            if raw not in ("true", "false"):
                raise bad_request(f"':missing' takes true or false ('{name}')", name)
            return Filter(name, param.name, param.type, "missing", missing=raw == "true")
        parts = [p for p in split_unescaped(raw, ",") if p != ""]
        if not parts:
            return None
        if len(parts) > MAX_VALUES:
            raise FhirError.of(400, "too-costly", f"Too many values for '{name}'", name)
        ctx = ValueContext(name, param, modifier, rtype, self.base_url)
        parsed = [parse_value(part, ctx) for part in parts]
        values = tuple(v for v in parsed if v is not None)  # None: can match no row
        if is_type_modifier(modifier):
            modifier = None  # the type is now part of each value
        return Filter(name, param.name, param.type, modifier, values)

    def chain(
        self,
        rtype: str,
        name: str,
        param: SearchParam,
        type_mod: str | None,
        tail: str,
        raw: str,
        depth: int,
    ) -> Chain | None:
        if param.type != "reference":
            raise bad_request(f"'{param.name}' is not a reference: cannot chain '{name}'", name)
        if depth >= MAX_CHAIN_DEPTH:
            raise FhirError.of(
                400, "too-costly", f"Chains deeper than {MAX_CHAIN_DEPTH}: '{name}'", name
            )
        if type_mod is not None:
            check_modifier(param, name, type_mod)
            if not type_mod[:1].isupper():
                raise bad_request(f"Modifier :{type_mod} cannot be chained in '{name}'", name)
        candidates = [type_mod] if type_mod else list(reference_targets(param))
        next_name = re.split(r"[.:]", tail, maxsplit=1)[0]
        targets = [
            t for t in candidates if next_name.startswith("_has") or next_name in search_params(t)
        ]
        if not targets:
            raise bad_request(
                f"No target of '{param.name}' has a parameter '{next_name}' ('{name}')", name
            )
        inner: list[tuple[str, Criterion]] = []
        for target in targets:
            criterion = self.criterion(target, tail, raw, depth + 1)
            if criterion is None:
                return None
            inner.append((target, criterion))
        return Chain(name, param.name, tuple(inner))

    def has(self, rtype: str, name: str, raw: str, depth: int) -> Has | None:
        parts = name.split(":", 3)
        if len(parts) != 4 or not all(parts):
            raise bad_request(f"'{name}' must be _has:Type:reference:parameter", name)
        _, source, ref, rest = parts
        if depth >= MAX_HAS_DEPTH:
            raise FhirError.of(400, "too-costly", f"_has nested deeper than {MAX_HAS_DEPTH}", name)
        if source not in stored_types():
            raise bad_request(f"Unknown resource type '{source}' in '{name}'", name)
        param = search_params(source).get(ref)
        if param is None or param.type != "reference":
            raise bad_request(f"'{ref}' is not a reference parameter of {source} ('{name}')", name)
        if rtype not in param.targets and "Any" not in param.targets:
            raise bad_request(f"{source}.{ref} cannot refer to a {rtype} ('{name}')", name)
        criterion = self.criterion(source, rest, raw, depth + 1)
        return None if criterion is None else Has(name, source, ref, criterion)


def _param(rtype: str, pname: str, name: str) -> SearchParam:
    param = search_params(rtype).get(pname)
    if param is None:
        raise FhirError.of(
            400,
            "not-supported",
            f"Unknown or unsupported search parameter '{pname}' for {rtype}",
            name,
        )
    return param


def _types(resource_types: Sequence[str], params: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    types = list(resource_types) or list(stored_types())
    for name, value in params:
        if name == "_type":
            wanted = [t.strip() for t in value.split(",") if t.strip()]
            unknown = [t for t in wanted if t not in searchable_types()]
            if unknown:
                raise bad_request(
                    f"Unknown resource type(s) in _type: {', '.join(unknown)}", "_type"
                )
            types = [t for t in wanted if t in types] if resource_types else wanted
    return tuple(dict.fromkeys(types))


def _include(value: str, name: str, types: tuple[str, ...], reverse: bool) -> list[Include]:
    iterate = name.endswith((":iterate", ":recurse"))
    if value == "*":
        return (
            [
                Include(t, p.name, None, iterate)
                for t in types
                for p in search_params(t).values()
                if p.type == "reference"
            ]
            if not reverse
            else []
        )
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise bad_request(f"'{value}' must be Type:parameter[:target]", name)
    source, pname = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if source not in searchable_types():
        raise bad_request(f"Unknown resource type '{source}' in {name}", name)
    if not reverse and not iterate and source not in types:
        raise bad_request(f"{name}={value}: {source} is not a searched type", name)
    names = [p.name for p in search_params(source).values() if p.type == "reference"]
    if pname == "*":
        return [Include(source, n, target, iterate) for n in names]
    if pname not in names:
        raise bad_request(f"'{pname}' is not a reference parameter of {source} ({name})", name)
    param = search_params(source)[pname]
    if target is not None and target not in reference_targets(param):
        raise bad_request(f"'{target}' is not a target of {source}:{pname}", name)
    return [Include(source, pname, target, iterate)]


def _sort(value: str, types: tuple[str, ...]) -> tuple[SortKey, ...]:
    keys = []
    for item in (v.strip() for v in value.split(",")):
        if not item:
            continue
        descending = item.startswith("-")
        pname = item.lstrip("-")
        found = [search_params(t).get(pname) for t in types]
        if not found or any(p is None for p in found):
            raise bad_request(f"Cannot sort by unknown parameter '{pname}'", "_sort")
        keys.append(SortKey(pname, cast(SearchParam, found[0]).type, descending))
    return tuple(keys)


def parse_search(
    resource_types: Sequence[str],
    params: Sequence[tuple[str, str]],
    *,
    base_url: str,
    lenient: bool = False,
    default_count: int = 50,
    max_count: int = 1000,
) -> SearchRequest:
    """Parse `params` for a search over `resource_types` (empty: system-level search).

    Strict by default: an unknown or unsupported parameter is a 400 naming it. With
    `lenient` it is ignored (R4 search.html#errors), reported in `warnings` and listed in
    `ignored`, and left out of `query_key`. Conditional interactions stay strict, so a
    conditional delete can never widen.
    """
    types = _types(resource_types, params)
    parser = _Parser(base_url)
    warnings: list[Issue] = []
    criteria: dict[str, list[Criterion]] = {t: [] for t in types}
    options: dict[str, object] = {"count": default_count}
    includes: list[Include] = []
    revincludes: list[Include] = []
    identity: list[tuple[str, str]] = []
    ignored: list[str] = []
    for name, value in params:
        check_storable(name, name, "A search parameter name")
        check_storable(value, name, f"The value of the search parameter '{name}'")
        if name in IGNORED:
            continue
        base = name.split(":", 1)[0]
        if base == "_type":
            continue
        if base == "_count":
            options["count"] = parse_count(value, name, max_count)
        elif base == "_total":
            if value not in ("none", "estimate", "accurate"):
                raise bad_request("_total must be none, estimate or accurate", name)
            options["total"] = value
        elif base == "_summary":
            if value not in ("true", "text", "data", "count", "false"):
                raise bad_request("_summary must be true, text, data, count or false", name)
            options["summary"] = value
        elif base == "_elements":
            elements = tuple(e.strip() for e in value.split(",") if e.strip())
            if not all(_ELEMENT.match(e) for e in elements):
                raise bad_request("_elements lists element names", name)
            options["elements"] = elements
        elif base == "_sort":
            options["sort"] = _sort(value, types)
        elif base == "_include":
            includes.extend(_include(value, name, types, reverse=False))
        elif base == "_revinclude":
            revincludes.extend(_include(value, name, types, reverse=True))
        else:
            try:
                found = [(t, parser.criterion(t, name, value)) for t in types]
            except FhirError as exc:
                if not (lenient and exc.issues[0].code == "not-supported"):
                    issues = [replace(i, expression=(name,)) for i in exc.issues]
                    raise FhirError(exc.status, issues) from exc
                # Ignored on every type, or the search would mean something else per type.
                warnings.append(
                    warning("not-supported", f"Ignored: {exc}", name, rule="unknown-parameter")
                )
                ignored.append(name)
                continue
            for rtype, criterion in found:
                if criterion is not None:
                    criteria[rtype].append(criterion)
        if name not in PRESENTATION:
            identity.append((name, value))
    key = hashlib.sha256(orjson.dumps([list(types), sorted(identity)])).hexdigest()
    return SearchRequest(
        resource_types=types,
        criteria=tuple((t, tuple(c)) for t, c in criteria.items()),
        sort=cast(tuple[SortKey, ...], options.get("sort", ())),
        count=cast(int, options["count"]),
        total=cast("TotalMode | None", options.get("total")),
        summary=cast("SummaryMode | None", options.get("summary")),
        elements=cast(tuple[str, ...], options.get("elements", ())),
        includes=tuple(dict.fromkeys(includes)),
        revincludes=tuple(dict.fromkeys(revincludes)),
        warnings=warnings,
        ignored=tuple(dict.fromkeys(ignored)),
        query_key=key,
    )
