"""Escaping in search values (R4 search.html#escaping): `\\,`, `\\|`, `\\$` and `\\`."""

from __future__ import annotations

import re


def split_unescaped(value: str, separator: str) -> list[str]:
    """Split on `separator` not preceded by a backslash (R4 search.html#escaping)."""
    parts, current, index = [], "", 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            current += value[index : index + 2]
            index += 2
            continue
        if char == separator:
            parts.append(current)
            current = ""
        else:
            current += char
        index += 1
    parts.append(current)
    return parts


def unescape(value: str) -> str:
    return re.sub(r"\\([,$|\\])", r"\1", value)
