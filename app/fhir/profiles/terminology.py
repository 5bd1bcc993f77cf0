"""Code system and value set membership for required bindings (R4 valueset.html#compose).

Our own code systems are held in full, so their codes are checked exactly. External systems
(SKS-D, ICPC-2, ...) are not distributed as code lists: an include of such a system accepts
any code of the system, `is-a` is taken as a code-prefix test (SKS and ICPC-2 hierarchies are
prefix based) and `regex` tests the code's format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class TerminologyError(ValueError):
    """A CodeSystem or ValueSet this module cannot interpret."""


@dataclass(frozen=True, slots=True)
class CodeSystemIndex:
    """The codes of a code system we hold, with their is-a parents."""

    url: str
    codes: frozenset[str]
    parents: Mapping[str, str]
    complete: bool

    @classmethod
    def of(cls, resource: Mapping[str, Any]) -> CodeSystemIndex:
        codes: set[str] = set()
        parents: dict[str, str] = {}

        def walk(concepts: Iterable[Mapping[str, Any]], parent: str | None) -> None:
            for concept in concepts:
                code = str(concept["code"])
                codes.add(code)
                if parent is not None:
                    parents[code] = parent
                walk(concept.get("concept", []), code)

        walk(resource.get("concept", []), None)
        return cls(
            str(resource["url"]), frozenset(codes), parents, resource.get("content") == "complete"
        )

    def subsumes(self, ancestor: str, code: str) -> bool:
        """Whether `code` is `ancestor` or one of its descendants (hierarchyMeaning is-a)."""
        current: str | None = code
        while current is not None:
            if current == ancestor:
                return True
            current = self.parents.get(current)
        return False


@dataclass(frozen=True, slots=True)
class _Filter:
    prop: str
    op: str
    value: str
    pattern: re.Pattern[str] | None

    def matches(self, code: str, system: CodeSystemIndex | None) -> bool:
        if self.op == "regex":
            return self.pattern is not None and self.pattern.fullmatch(code) is not None
        if self.op == "=":
            return code == self.value
        if self.op in ("is-a", "descendent-of"):
            if self.op == "descendent-of" and code == self.value:
                return False
            if system is not None:
                return system.subsumes(self.value, code)
            return code.startswith(self.value)
        raise TerminologyError(f"unsupported ValueSet filter op {self.op!r}")  # pragma: no cover


_SUPPORTED_OPS = {"regex", "=", "is-a", "descendent-of"}


@dataclass(frozen=True, slots=True)
class _Include:
    system: str | None
    concepts: frozenset[str] | None
    filters: tuple[_Filter, ...]
    value_sets: tuple[str, ...]


def _compile_include(include: Mapping[str, Any], vs_url: str) -> _Include:
    filters = []
    for f in include.get("filter", []):
        op, prop, value = str(f["op"]), str(f["property"]), str(f["value"])
        if op not in _SUPPORTED_OPS or prop not in ("code", "concept"):
            raise TerminologyError(f"{vs_url}: unsupported filter {prop} {op}")
        pattern = re.compile(value) if op == "regex" else None
        filters.append(_Filter(prop, op, value, pattern))
    concepts = include.get("concept")
    return _Include(
        system=include.get("system"),
        concepts=frozenset(str(c["code"]) for c in concepts) if concepts else None,
        filters=tuple(filters),
        value_sets=tuple(str(v).split("|")[0] for v in include.get("valueSet", [])),
    )


class Terminology:
    """Answers "is (system, code) in value set V?" for the value sets of the catalog."""

    def __init__(
        self, code_systems: Iterable[Mapping[str, Any]], value_sets: Iterable[Mapping[str, Any]]
    ) -> None:
        self._systems = {str(cs["url"]): CodeSystemIndex.of(cs) for cs in code_systems}
        self._value_sets: dict[str, tuple[tuple[_Include, ...], tuple[_Include, ...]]] = {}
        for vs in value_sets:
            url = str(vs["url"])
            compose = vs.get("compose")
            if not compose:
                raise TerminologyError(f"{url}: a ValueSet needs a compose")
            self._value_sets[url] = (
                tuple(_compile_include(i, url) for i in compose.get("include", [])),
                tuple(_compile_include(i, url) for i in compose.get("exclude", [])),
            )
        for url, (includes, excludes) in self._value_sets.items():
            for part in (*includes, *excludes):
                missing = [v for v in part.value_sets if v not in self._value_sets]
                if missing:
                    raise TerminologyError(f"{url}: includes unknown value set(s) {missing}")

    def knows(self, value_set: str) -> bool:
        """Whether the value set is one we can check."""
        return value_set in self._value_sets

    def systems(self, value_set: str) -> frozenset[str]:
        """The code systems a value set draws on."""
        includes, _ = self._value_sets.get(value_set, ((), ()))
        return frozenset(i.system for i in includes if i.system)

    def contains(self, value_set: str, system: str | None, code: str, _depth: int = 0) -> bool:
        """Whether `code` (of `system`; None for a plain code or string) is in `value_set`."""
        if _depth > 10 or not code:
            return False
        includes, excludes = self._value_sets[value_set]
        return any(self._in(i, system, code, _depth) for i in includes) and not any(
            self._in(e, system, code, _depth) for e in excludes
        )

    def _in(self, include: _Include, system: str | None, code: str, depth: int) -> bool:
        if include.system is not None:
            if system is not None and system != include.system:
                return False
            known = self._systems.get(include.system)
            if known is not None and known.complete and code not in known.codes:
                return False
            if include.concepts is not None and code not in include.concepts:
                return False
            if not all(f.matches(code, known) for f in include.filters):
                return False
        return all(self.contains(v, system, code, depth + 1) for v in include.value_sets)
