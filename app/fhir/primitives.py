"""Request values the database and FHIR's primitive types can hold.

PostgreSQL `text` and `jsonb` cannot store U+0000 (psycopg raises
UntranslatableCharacter), and no UTF-8 codec can encode a lone surrogate, so both
are refused where they enter: search parameters, ids in the path, headers, JSON.
Integers the client sends (`_count`, version ids) are ASCII digits of bounded
length: Python's `str.isdigit()` also accepts `²` and `٣`, and an unbounded
`int()` both costs and overflows the database's 32-bit columns.
"""

from __future__ import annotations

import re

from app.fhir.outcome import FhirError, bad_request

# FHIR integer is a signed 32-bit value (R4 datatypes.html#integer); so are version ids here.
MAX_INTEGER = 2**31 - 1
# Characters no text column can hold: NUL and the UTF-16 surrogates.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# R4 datatypes.html#string: no code points below 32 except tab, LF and CR; plus surrogates.
_NOT_FHIR_STRING = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_DIGITS = re.compile(r"[0-9]+")
# R4 datatypes.html#id.
ID_PATTERN = r"^[A-Za-z0-9\-.]{1,64}$"
_ID = re.compile(ID_PATTERN)


def _described(char: str) -> str:
    return f"U+{ord(char):04X}"


def printable(value: str) -> str:
    """`value` with unstorable characters shown as U+FFFD, for diagnostics and expressions."""
    return _NOT_FHIR_STRING.sub("\ufffd", value)


def check_storable(value: str, expression: str, what: str) -> None:
    """400 naming `expression` when `value` holds a character no text column can store."""
    found = _UNSTORABLE.search(value)
    if found:
        raise bad_request(
            f"{printable(what)} holds the character {_described(found.group())} at position "
            f"{found.start()}, which is not allowed",
            printable(expression),
            rule="unstorable-character",
        )


def fhir_string_problem(value: str) -> str | None:
    """Why `value` is not a FHIR string (a control character or a surrogate), or None."""
    found = _NOT_FHIR_STRING.search(value)
    if found is None:
        return None
    return (
        f"the character {_described(found.group())} at position {found.start()} is not "
        "allowed in a FHIR string"
    )


def parse_count(raw: str, name: str, maximum: int) -> int:
    """A non-negative ASCII integer, clamped to `maximum` (R4 search.html#count)."""
    if not _DIGITS.fullmatch(raw):
        raise bad_request(f"{name} must be a non-negative integer (ASCII digits)", name)
    # More digits than `maximum` has means "more than the maximum": no need to convert.
    if len(raw.lstrip("0")) > len(str(maximum)):
        return maximum
    return min(int(raw), maximum)


def parse_version_id(raw: str) -> int | None:
    """A version id as a number; None when it is digits but beyond any version we store.

    400 when it is not ASCII digits: our version ids are the integers 1, 2, 3, ...
    """
    if not _DIGITS.fullmatch(raw):
        raise bad_request(
            f"The version id '{printable(raw)}' is not a version of this server "
            "(a positive integer of ASCII digits)",
            "_history",
        )
    stripped = raw.lstrip("0")
    if len(stripped) > len(str(MAX_INTEGER)) or int(raw) > MAX_INTEGER:
        return None
    return int(raw)


def parse_etag_version(digits: str, header: str) -> int:
    """The version of an `If-Match` ETag; 412 when no version could ever be that high."""
    version = parse_version_id(digits)
    if version is None:
        raise FhirError.of(
            412, "conflict", f"{header} names version {digits}, which does not exist", header
        )
    return version


def check_id(value: str, expression: str = "id") -> None:
    """400 naming `expression` when `value` is not a FHIR id (it can name no resource)."""
    check_storable(value, expression, "The resource id in the URL")
    if not _ID.match(value):
        raise bad_request(
            f"'{printable(value)}' is not a FHIR id (1 to 64 of A-Z, a-z, 0-9, '-', '.')",
            expression,
        )
