"""FHIRPath invariants (ElementDefinition.constraint, R4 conformance-rules.html#constraints) with
fhirpathpy, compiled once, plus `resolve()` and `memberOf()` (R4 fhirpath.html#functions).

`resolve()` finds contained resources (`#id`) and, when the caller gave a resolver, referenced
ones; a reference it cannot resolve marks the evaluation as incomplete, so a failing constraint
that depended on it is reported as "not checked" rather than as an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from app.fhir.profiles.terminology import Terminology

Resolver = Callable[[str], dict[str, Any] | None]

_R4: dict[str, Any] = models["r4"]
_PATH_TO_TYPE: Mapping[str, str] = _R4["path2Type"]


@dataclass(slots=True)
class Evaluation:
    """What one constraint evaluation may look at, and whether a reference stayed unresolved."""

    container: Mapping[str, Any]
    resolve: Resolver | None
    terminology: Terminology
    unresolved: bool = False


_current: ContextVar[Evaluation | None] = ContextVar("esp_profiles_evaluation", default=None)


def _resolve(inputs: list[Any]) -> list[Any]:
    state = _current.get()
    if state is None:  # pragma: no cover - only called from inside `Invariants.check`
        return []
    found: list[Any] = []
    for value in inputs:
        reference = value.get("reference") if isinstance(value, Mapping) else value
        if not isinstance(reference, str):
            continue
        target: Any = None
        if reference.startswith("#"):
            target = next(
                (c for c in state.container.get("contained", []) if c.get("id") == reference[1:]),
                None,
            )
        elif state.resolve is not None:
            target = state.resolve(reference)
        if target is None:
            state.unresolved = True
        else:
            found.append(target)
    return found


def _member_of(inputs: list[Any], value_set: str) -> list[bool]:
    state = _current.get()
    if state is None or not inputs or not state.terminology.knows(value_set):
        return []
    terminology = state.terminology

    def member(value: Any) -> bool:
        if isinstance(value, str):
            return terminology.contains(value_set, None, value)
        if isinstance(value, Mapping) and "coding" in value:
            return any(member(c) for c in value["coding"])
        if isinstance(value, Mapping):
            return terminology.contains(value_set, value.get("system"), str(value.get("code", "")))
        return False

    return [all(member(v) for v in inputs)]


_FUNCTIONS = {
    "userInvocationTable": {
        "resolve": {"fn": _resolve, "arity": {0: []}},
        "memberOf": {"fn": _member_of, "arity": {1: ["String"]}},
    }
}


def fhirpath_type(element_path: str) -> str:
    """The path fhirpathpy types a node by: the data type (`Identifier`) or the backbone path."""
    type_name = _PATH_TO_TYPE.get(element_path)
    if type_name is None or type_name in ("BackboneElement", "Element"):
        return element_path
    return type_name


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one constraint: passed, or failed (possibly only for want of a reference)."""

    passed: bool
    incomplete: bool = False
    error: str | None = None


class Invariants:
    """Compiled FHIRPath expressions, by expression text."""

    def __init__(self, terminology: Terminology) -> None:
        self._terminology = terminology
        self._compiled: dict[str, Callable[..., list[Any]]] = {}

    def compile(self, expression: str) -> None:
        """Parse once, and dry-run on an empty collection: fhirpathpy reports unknown functions and
        wrong arities only when evaluating, and we want them when the catalog loads."""
        if expression not in self._compiled:
            compiled = fhirpathpy.compile(expression, _R4, _FUNCTIONS)
            compiled(cast(Any, []), {})
            self._compiled[expression] = compiled

    def check(
        self,
        expression: str,
        focus: Any,
        element_path: str,
        resource: Mapping[str, Any],
        container: Mapping[str, Any],
        resolve: Resolver | None,
    ) -> Outcome:
        """Evaluate a constraint on one focus value; only a result of exactly `true` passes."""
        self.compile(expression)
        node: Any = focus
        if isinstance(focus, dict):
            node = ResourceNode.create_node(focus, fhirpath_type(element_path))  # type: ignore[no-untyped-call]
        state = Evaluation(container, resolve, self._terminology)
        token = _current.set(state)
        try:
            result = self._compiled[expression](
                node, {"resource": resource, "rootResource": container}
            )
        except Exception as exc:  # fhirpathpy raises bare Exceptions
            return Outcome(False, error=f"{type(exc).__name__}: {exc}")
        finally:
            _current.reset(token)
        passed = result == [True]
        return Outcome(passed, incomplete=not passed and state.unresolved)
