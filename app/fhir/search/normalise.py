"""String normalisation for FHIR string search (R4 search.html#string).

FHIR string search is case- and accent-insensitive. For Danish data we fold case
and strip diacritics, but keep æ, ø and å as the distinct letters they are in
Danish (`Søren` does not match `Soren`, `Åse` does not match `Ase`). Following
Danish collation (DS 377), ä and ö fold to æ and ø, and aa is *not* folded to å.
Whitespace runs collapse to one space.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

_DANISH = {"æ", "ø", "å"}
_FOLD = {"ä": "æ", "ö": "ø", "ǿ": "ø", "ǽ": "æ"}
MAX_LENGTH = 512


@lru_cache(maxsize=4096)  # displays and names repeat across resources; a pure function
def normalise(value: str) -> str:
    """The search form of `value`: casefolded, accents removed except æ ø å."""
    out: list[str] = []
    for char in unicodedata.normalize("NFC", value).casefold():
        char = _FOLD.get(char, char)
        if char in _DANISH:
            out.append(char)
            continue
        for part in unicodedata.normalize("NFD", char):
            if not unicodedata.combining(part):
                out.append(part)
    return " ".join("".join(out).split())[:MAX_LENGTH]
