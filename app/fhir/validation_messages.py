"""Pydantic's validation errors of the R4B models, said in FHIR's terms with the element path.

The models report "Field required" or "Value error, Date value string does not match
spec regex."; a FHIR client wants "CarePlan.status: the element is required (min 1)"
and "Goal.target[0].dueDate: '2024-13-01' is not a valid FHIR date" (R4 datatypes.html,
json.html). One function per pydantic error type we have seen the models raise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.fhir.outcome import IssueCode

# fhir.resources' own primitive validators: "Date value string does not match spec regex."
_PRIMITIVE_REGEX = re.compile(r"^(?P<type>[A-Za-z]+) value string does not match spec regex")
_CHOICE = re.compile(r"^Any of one field value is expected from this list \[(?P<names>[^\]]*)\]")
# R4 datatypes.html: the regexes of string and code as the models spell them.
_PATTERN_TYPES = {"[ \r\n\t\\S]+": "string", r"^[^\s]+(\s[^\s]+)*$": "code"}
# (ge, le) bounds of the models' integer types.
_INTEGER_TYPES = {1: "positiveInt", 0: "unsignedInt", -(2**31): "integer", 2**31 - 1: "integer"}


@dataclass(frozen=True, slots=True)
class Described:
    """One pydantic error as an OperationOutcome issue: its code, path and message."""

    code: IssueCode
    expression: str
    diagnostics: str


def element_path(resource_type: str, loc: tuple[int | str, ...]) -> str:
    """`('target', 0, 'dueDate')` → `Goal.target[0].dueDate` (pydantic's `root` dropped)."""
    path = resource_type
    for part in loc:
        if part == "root":
            continue
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _shown(value: Any) -> str:
    """The input as the client wrote it, shortened: strings quoted, other JSON as JSON."""
    if isinstance(value, str):
        text = f"'{value}'"
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except ValueError:
            text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _common_prefix(names: list[str]) -> str:
    """`deceasedBoolean`, `deceasedDateTime` → `deceased` (a choice element's name)."""
    first, last = min(names, default=""), max(names, default="")
    length = 0
    while length < min(len(first), len(last)) and first[length] == last[length]:
        length += 1
    return first[:length]


def _missing(err: Mapping[str, Any], path: str) -> Described:
    return Described("required", path, f"{path}: the element is required (min 1)")


def _unknown(err: Mapping[str, Any], path: str) -> Described:
    return Described(
        "structure", path, f"{path}: unknown element: not part of the R4 definition of its parent"
    )


def _value_error(err: Mapping[str, Any], path: str) -> Described:
    message = str(err["msg"]).removeprefix("Value error, ").split("\n")[0]
    primitive = _PRIMITIVE_REGEX.match(message)
    if primitive:
        name = primitive["type"]
        fhir_type = name[0].lower() + name[1:]  # DateTime → dateTime
        return Described(
            "value", path, f"{path}: {_shown(err['input'])} is not a valid FHIR {fhir_type}"
        )
    choice = _CHOICE.match(message)
    if choice:
        names = [n.strip().strip("'") for n in choice["names"].split(",")]
        given = [n for n in names if isinstance(err["input"], dict) and n in err["input"]]
        stem = _common_prefix(names)
        where = f"{path}.{stem}[x]" if stem else path
        return Described(
            "structure",
            where,
            f"{where}: a choice element takes one type, got " + ", ".join(given or names),
        )
    return Described("value", path, f"{path}: {message}")


def _integer(err: Mapping[str, Any], path: str) -> Described:
    detail = " (it has a fractional part)" if err["type"] == "int_from_float" else ""
    return Described(
        "value", path, f"{path}: {_shown(err['input'])} is not a valid FHIR integer{detail}"
    )


def _bound(err: Mapping[str, Any], path: str) -> Described:
    ctx = err.get("ctx") or {}
    limit = ctx.get("ge", ctx.get("le"))
    fhir_type = _INTEGER_TYPES.get(limit, "integer") if isinstance(limit, int) else "number"
    side = "at least" if "ge" in ctx else "at most"
    return Described(
        "value",
        path,
        f"{path}: {_shown(err['input'])} is out of range for a FHIR {fhir_type} ({side} {limit})",
    )


def _expected(kind: str) -> Callable[[Mapping[str, Any], str], Described]:
    def describe(err: Mapping[str, Any], path: str) -> Described:
        value = err["input"]
        return Described(
            "value",
            path,
            f"{path}: {kind} is expected, got {_json_kind(value)} {_shown(value)}",
        )

    return describe


def _pattern(err: Mapping[str, Any], path: str) -> Described:
    pattern = str((err.get("ctx") or {}).get("pattern", ""))
    fhir_type = _PATTERN_TYPES.get(pattern)
    if fhir_type == "string":
        return Described("value", path, f"{path}: a FHIR string may not be empty")
    if fhir_type == "code":
        return Described(
            "value",
            path,
            f"{path}: {_shown(err['input'])} is not a valid FHIR code "
            "(no leading, trailing or repeated whitespace)",
        )
    return Described(
        "value", path, f"{path}: {_shown(err['input'])} does not match the pattern {pattern}"
    )


def _list(err: Mapping[str, Any], path: str) -> Described:
    if (err.get("ctx") or {}).get("field"):  # "None is not allowed as an element of name"
        return Described("value", path, f"{path}: null is not allowed in a FHIR JSON array")
    value = err["input"]
    return Described(
        "structure",
        path,
        f"{path}: the element repeats, so a JSON array is expected, got {_json_kind(value)}",
    )


def _complex(err: Mapping[str, Any], path: str) -> Described:
    model = (err.get("ctx") or {}).get("model_class")
    if model == "FHIRPrimitiveExtension":  # `_active`: a primitive's id and extensions
        what = "an object with the primitive's id and extension (R4 json.html#primitive)"
    else:
        what = f"a {model} (a JSON object)" if model else "a JSON object"
    value = err["input"]
    return Described(
        "structure", path, f"{path}: {what} is expected, got {_json_kind(value)} {_shown(value)}"
    )


def _date(err: Mapping[str, Any], path: str) -> Described:
    return Described("value", path, f"{path}: {_shown(err['input'])} is not a valid FHIR date")


_DESCRIBE: dict[str, Callable[[Mapping[str, Any], str], Described]] = {
    "missing": _missing,
    "model_field_validation.missing": _missing,
    "extra_forbidden": _unknown,
    "value_error": _value_error,
    "int_parsing": _integer,
    "int_type": _integer,
    "int_from_float": _integer,
    "less_than_equal": _bound,
    "greater_than_equal": _bound,
    "string_type": _expected("a JSON string"),
    "string_pattern_mismatch": _pattern,
    "bool_parsing": _expected("a FHIR boolean (true or false)"),
    "bool_type": _expected("a FHIR boolean (true or false)"),
    "bytes_type": _expected("a FHIR base64Binary (a JSON string)"),
    "list_type": _list,
    "model_validation_format": _complex,
    "json_invalid": _complex,  # a string where the model wanted an object
    "date_type": _date,
    "date_from_datetime_inexact": _date,
    "date_parsing": _date,
}


def describe(err: Mapping[str, Any], resource_type: str) -> Described:
    """One pydantic error (`ValidationError.errors()` item) in FHIR's terms."""
    path = element_path(resource_type, tuple(err["loc"]))
    known = _DESCRIBE.get(str(err["type"]))
    if known is not None:
        return known(err, path)
    return Described("value", path, f"{path}: {str(err['msg']).splitlines()[0]}")
