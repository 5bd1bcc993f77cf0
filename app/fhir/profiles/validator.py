"""Walk a resource against a compiled profile and collect OperationOutcome issues
(R4 validation.html, profiling.html#slicing, references.html#contained)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.fhir.outcome import Issue, IssueCode, Severity, error
from app.fhir.profiles.canonical import is_ours
from app.fhir.profiles.elements import Constraint, ElementRule, SliceKey, TypeRef
from app.fhir.profiles.invariants import Invariants, Resolver
from app.fhir.profiles.matching import (
    Item,
    items,
    matches_fixed,
    matches_pattern,
    reference_type,
    values_at,
)
from app.fhir.profiles.terminology import Terminology

HL7_BASE = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(frozen=True, slots=True)
class CompiledProfile:
    """A profile ready to validate with: its rule tree (merged with our ancestors)."""

    url: str
    name: str
    type: str
    root: ElementRule


@dataclass(frozen=True, slots=True)
class Definitions:
    """Everything a validation run reads: compiled profiles, terminology, invariants."""

    profiles: Mapping[str, CompiledProfile]
    terminology: Terminology
    invariants: Invariants

    def type_of(self, profile_url: str) -> str | None:
        """The resource type a (target) profile constrains; None for a foreign profile we lack."""
        if profile_url in self.profiles:
            return self.profiles[profile_url].type
        if profile_url.startswith(HL7_BASE):
            return profile_url[len(HL7_BASE) :]
        return None


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _key_matches(value: Any, key: SliceKey) -> bool:
    found = values_at(value, key.path)
    if key.kind == "fixed":
        return any(matches_fixed(v, key.value) for v in found)
    return any(matches_pattern(v, key.value) for v in found)


class Validation:
    """One validation of a resource (and the contained resources it references)."""

    def __init__(
        self,
        defs: Definitions,
        container: Mapping[str, Any],
        container_path: str,
        resolve: Resolver | None,
        depth: int = 0,
    ) -> None:
        self.defs = defs
        self.container = container
        self.container_path = container_path
        self.resolve = resolve
        self.depth = depth
        self.issues: list[Issue] = []
        self._resource: Mapping[str, Any] = container
        self._done: set[tuple[str, str]] = set()

    def run(self, profile: CompiledProfile, resource: Mapping[str, Any], path: str) -> list[Issue]:
        """Validate `resource` (at `path`) against `profile`; returns the issues so far."""
        outer, self._resource = self._resource, resource
        try:
            self._item(profile.root, Item(resource, path))
        finally:
            self._resource = outer
        return self.issues

    def _error(self, code: IssueCode, message: str, path: str, rule: str) -> None:
        self.issues.append(error(code, message, path, rule))

    # Elements -------------------------------------------------------------------------------

    def _item(self, rule: ElementRule, item: Item) -> None:
        value = item.value
        if rule.is_choice and rule.types and item.type_code not in {t.code for t in rule.types}:
            allowed = ", ".join(t.code for t in rule.types)
            self._error(
                "structure",
                f"{rule.id}: type {item.type_code} is not allowed here (allowed: {allowed})",
                item.path,
                rule.id,
            )
            return
        if rule.fixed is not None and not matches_fixed(value, rule.fixed[1]):
            self._error(
                "value",
                f"{rule.id}: must be exactly {_show(rule.fixed[1])}, found {_show(value)}",
                item.path,
                rule.id,
            )
        if rule.pattern is not None and not matches_pattern(value, rule.pattern[1]):
            self._error(
                "value",
                f"{rule.id}: must match the pattern {_show(rule.pattern[1])}, found {_show(value)}",
                item.path,
                rule.id,
            )
        if rule.binding is not None and rule.binding.strength == "required":
            self._binding(rule, item)
        if rule.types:
            self._types(rule, item)
        for constraint in rule.constraints:
            self._constraint(rule, constraint, item)
        if isinstance(value, Mapping):
            for child in rule.children.values():
                self._child(child, value, item.path)

    def _child(self, rule: ElementRule, parent: Mapping[str, Any], parent_path: str) -> None:
        found, extension_only = items(parent, rule.name, parent_path)
        where = f"{parent_path}.{rule.name[:-3] if rule.is_choice else rule.name}"
        self._cardinality(rule, len(found) or int(extension_only), found, where)
        if rule.slices:
            self._slices(rule, found, where)
        for item in found:
            self._item(rule, item)

    def _cardinality(self, rule: ElementRule, count: int, found: list[Item], where: str) -> None:
        what = f"slice {rule.id}" if rule.slice_name else rule.id
        if count < rule.min:
            self._error(
                "required", f"{what}: at least {rule.min} required, found {count}", where, rule.id
            )
        if rule.max is not None and count > rule.max:
            path = found[rule.max].path if len(found) > rule.max else where
            message = (
                "is not allowed" if rule.max == 0 else f"at most {rule.max} allowed, found {count}"
            )
            self._error("structure", f"{what}: {message}", path, rule.id)

    def _slices(self, rule: ElementRule, found: list[Item], where: str) -> None:
        assigned: dict[str, list[Item]] = {name: [] for name in rule.slices}
        for item in found:
            for name, slice_rule in rule.slices.items():
                if all(_key_matches(item.value, key) for key in slice_rule.slice_keys):
                    assigned[name].append(item)
                    break
            else:
                if rule.closed:
                    self._error(
                        "structure",
                        f"{rule.id}: matches none of the slices of a closed slicing",
                        item.path,
                        rule.id,
                    )
        for name, slice_rule in rule.slices.items():
            self._cardinality(slice_rule, len(assigned[name]), assigned[name], where)
            for item in assigned[name]:
                self._item(slice_rule, item)

    # Bindings -------------------------------------------------------------------------------

    def _binding(self, rule: ElementRule, item: Item) -> None:
        assert rule.binding is not None
        terminology, vs, value = self.defs.terminology, rule.binding.value_set, item.value
        if not terminology.knows(vs):
            return  # a foreign value set: not checked (ours are verified when the catalog loads)
        if isinstance(value, str):
            ok, path, shown = terminology.contains(vs, None, value), item.path, value
        elif isinstance(value, Mapping) and ("coding" in value or "code" not in value):
            codings = [c for c in value.get("coding", []) if isinstance(c, Mapping)]
            ok = any(
                terminology.contains(vs, c.get("system"), str(c.get("code", ""))) for c in codings
            )
            systems = terminology.systems(vs)
            index = next((i for i, c in enumerate(codings) if c.get("system") in systems), None)
            path = item.path if index is None else f"{item.path}.coding[{index}].code"
            shown = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in codings) or "no coding"
        elif isinstance(value, Mapping):
            ok = terminology.contains(vs, value.get("system"), str(value.get("code", "")))
            path, shown = f"{item.path}.code", f"{value.get('system')}|{value.get('code')}"
        else:
            ok, path, shown = False, item.path, _show(value)
        if not ok:
            self._error(
                "code-invalid",
                f"{rule.id}: {shown} is not in the required value set {vs}",
                path,
                rule.id,
            )

    # Types: profiles and references ---------------------------------------------------------

    def _types(self, rule: ElementRule, item: Item) -> None:
        references = [t for t in rule.types if t.code == "Reference"]
        if references and isinstance(item.value, Mapping):
            self._reference(rule, item, references)
        for type_ref in rule.types:
            if type_ref.code == "Reference":
                continue
            for url in type_ref.profiles:
                profile = self.defs.profiles.get(url)
                if profile is not None:
                    self._item(profile.root, item)
                elif is_ours(url):
                    self._error(
                        "processing", f"{rule.id}: unknown profile {url}", item.path, rule.id
                    )

    def _reference(self, rule: ElementRule, item: Item, references: list[TypeRef]) -> None:
        value: Mapping[str, Any] = item.value
        targets = [p for t in references for p in t.target_profiles]
        types = {self.defs.type_of(p) for p in targets}
        allowed = None if not targets or None in types else {t for t in types if t}
        declared = value.get("type")
        if isinstance(declared, str) and allowed and declared not in allowed:
            self._error(
                "invalid",
                f"{rule.id}: reference type {declared} is not one of {sorted(allowed)}",
                item.path,
                rule.id,
            )
            return
        reference = value.get("reference")
        if not isinstance(reference, str):
            return
        if reference.startswith("#"):
            contained = list(self.container.get("contained", []))
            index = next((i for i, c in enumerate(contained) if c.get("id") == reference[1:]), None)
            if index is None:
                self._error(
                    "not-found",
                    f"{rule.id}: contained resource {reference} not found",
                    item.path,
                    rule.id,
                )
                return
            self._target(
                rule,
                item,
                contained[index],
                f"{self.container_path}.contained[{index}]",
                targets,
                allowed,
            )
            return
        literal_type = reference_type(reference)
        if literal_type and allowed and literal_type not in allowed:
            self._error(
                "invalid",
                f"{rule.id}: reference to {literal_type} is not allowed (allowed: "
                f"{', '.join(sorted(allowed))})",
                item.path,
                rule.id,
            )
            return
        if self.resolve is not None and self.depth == 0:
            resolved = self.resolve(reference)
            if resolved is not None:
                self._target(rule, item, resolved, None, targets, allowed)

    def _target(
        self,
        rule: ElementRule,
        item: Item,
        target: Mapping[str, Any],
        contained_path: str | None,
        targets: list[str],
        allowed: set[str] | None,
    ) -> None:
        """Check a contained or resolved target's type and its conformance to a target profile."""
        resource_type = str(target.get("resourceType"))
        if allowed and resource_type not in allowed:
            self._error(
                "invalid",
                f"{rule.id}: reference to {resource_type} is not allowed (allowed: "
                f"{', '.join(sorted(allowed))})",
                item.path,
                rule.id,
            )
            return
        candidates = [
            self.defs.profiles[p]
            for p in targets
            if p in self.defs.profiles and self.defs.profiles[p].type == resource_type
        ]
        if not candidates:
            return
        if contained_path is not None and len(candidates) == 1:
            # Contained resources are part of this resource: report their issues in place.
            key = (contained_path, candidates[0].url)
            if key not in self._done:
                self._done.add(key)
                self.run(candidates[0], target, contained_path)
            return
        first: Issue | None = None
        for profile in candidates:
            sub = (
                Validation(self.defs, self.container, self.container_path, self.resolve, self.depth)
                if contained_path is not None
                else Validation(self.defs, target, resource_type, None, self.depth + 1)
            )
            errors = [
                i
                for i in sub.run(profile, target, contained_path or resource_type)
                if i.severity == "error"
            ]
            if not errors:
                return
            first = first or errors[0]
        assert first is not None
        shown = item.value.get("reference", resource_type)
        names = " or ".join(p.name for p in candidates)
        where = f" at {first.expression[0]}" if first.expression else ""
        self._error(
            "invalid",
            f"{rule.id}: {shown} does not conform to {names}: {first.diagnostics}{where}",
            item.path,
            rule.id,
        )

    # Invariants -----------------------------------------------------------------------------

    def _constraint(self, rule: ElementRule, constraint: Constraint, item: Item) -> None:
        outcome = self.defs.invariants.check(
            constraint.expression,
            item.value,
            rule.path,
            self._resource,
            self.container,
            self.resolve if self.depth == 0 else None,
        )
        if outcome.error is not None:
            self._error(
                "processing",
                f"{constraint.key}: could not be evaluated ({outcome.error})",
                item.path,
                constraint.key,
            )
        elif outcome.incomplete:
            self.issues.append(
                Issue(
                    "information",
                    "informational",
                    f"{constraint.key} not checked: a reference it needs could not be "
                    f"resolved ({constraint.human})",
                    (item.path,),
                    constraint.key,
                )
            )
        elif not outcome.passed:
            severity: Severity = "error" if constraint.severity == "error" else "warning"
            self.issues.append(
                Issue(
                    severity,
                    "invariant",
                    f"{constraint.key}: {constraint.human}",
                    (item.path,),
                    constraint.key,
                )
            )
