"""Token: `[system|]code` over code, boolean, Coding, CodeableConcept, Identifier and
ContactPoint (R4 search.html#token), with :not, :text and :of-type."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from app.fhir.outcome import bad_request
from app.fhir.search.definitions import CODE_SYSTEMS
from app.fhir.search.normalise import normalise
from app.fhir.search.syntax import split_unescaped, unescape
from app.fhir.search.types.base import Row, SearchType, ValueContext, clip

OF_TYPE_SUFFIX = ":of-type"  # Identifier.type rows, under `<param>:of-type`


@dataclass(frozen=True, slots=True)
class TokenValue:
    """`code`, `system|code`, `|code` (no_system) or `system|` (code None)."""

    system: str | None
    code: str | None
    no_system: bool = False


def parse(raw: str, ctx: ValueContext) -> TokenValue | None:
    parts = split_unescaped(raw, "|")
    if ctx.modifier == "text":
        return TokenValue(None, normalise(unescape(raw)))
    if ctx.modifier == "of-type":
        if len(parts) != 3 or not all(parts):
            raise bad_request(f"'{ctx.name}' expects system|code|value", ctx.name)
        system, code, ident = (unescape(p) for p in parts)
        return TokenValue(clip(system, 255), clip(f"{code}|{ident}", 255))
    if len(parts) == 1:
        return TokenValue(None, clip(unescape(parts[0]), 255))
    if len(parts) != 2:
        raise bad_request(f"'{ctx.name}' expects [system|]code", ctx.name)
    system, code = unescape(parts[0]), unescape(parts[1])
    if not system and not code:
        raise bad_request(f"'{ctx.name}' needs a system or a code", ctx.name)
    value = TokenValue(clip(system, 255) or None, clip(code, 255) or None, no_system=not system)
    return _implicit_system(value, ctx)


def _implicit_system(value: TokenValue, ctx: ValueContext) -> TokenValue | None:
    """`system|code` on a `code` element: its own system is implied (stored codes carry
    none, R4 search.html#token); any other system matches nothing."""
    implied = CODE_SYSTEMS.get((ctx.resource_type, ctx.param.name))
    if implied is None or value.system is None:
        return value
    return TokenValue(None, value.code) if value.system == implied else None


def rows(param: str, value: Any) -> Iterator[Row]:
    if isinstance(value, bool):
        yield {"system": None, "code": "true" if value else "false", "text": None}
    elif isinstance(value, str):
        yield {"system": None, "code": clip(value, 255), "text": None}
    elif isinstance(value, dict):
        if "coding" in value or ("text" in value and "value" not in value):
            text = value.get("text")
            for coding in value.get("coding") or []:
                if isinstance(coding, dict):
                    yield from _coding(coding, text)
            if isinstance(text, str):
                yield {"system": None, "code": None, "text": normalise(text)}
        elif "code" in value:
            yield from _coding(value, None)
        elif "value" in value:
            yield from _identifier(param, value)


def _coding(coding: dict[str, Any], fallback_text: Any) -> Iterator[Row]:
    display = coding.get("display") or fallback_text
    yield {
        "system": clip(coding.get("system"), 255),
        "code": clip(coding.get("code"), 255),
        "text": normalise(display) if isinstance(display, str) else None,
    }


def _identifier(param: str, ident: dict[str, Any]) -> Iterator[Row]:
    value = ident.get("value")
    raw_type = ident.get("type")
    id_type: dict[str, Any] = raw_type if isinstance(raw_type, dict) else {}
    type_text = id_type.get("text")
    yield {
        "system": clip(ident.get("system"), 255),
        "code": clip(value, 255),
        "text": normalise(type_text) if isinstance(type_text, str) else None,
    }
    for coding in id_type.get("coding") or []:  # for :of-type (R4 search.html#modifiers)
        if isinstance(coding, dict) and isinstance(value, str):
            yield {
                "param": param + OF_TYPE_SUFFIX,
                "system": clip(coding.get("system"), 255),
                "code": clip(f"{coding.get('code')}|{value}", 255),
                "text": None,
            }


def code_matches(system: str | None, code: str | None, v: TokenValue) -> bool:
    """One (system, code) pair against `[system|]code`; shared with reference:identifier."""
    if v.code is not None and code != v.code:
        return False
    if v.no_system:
        return system is None
    return v.system is None or system == v.system


def matches(row: Row, v: TokenValue, modifier: str | None) -> bool:
    if modifier == "text":
        text = row["text"]
        return text is not None and text.startswith(v.code or "")
    return code_matches(row["system"], row["code"], v)


TYPE = SearchType(
    name="token",
    modifiers=frozenset({"missing", "not", "text", "of-type"}),
    columns=("system", "code", "text"),
    parse=parse,
    rows=rows,
    matches=matches,
)
