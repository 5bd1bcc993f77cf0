"""Compile a StructureDefinition's differential into element rules (R4 elementdefinition.html).

Profiles are differential-only: the base resource's own rules are checked by the R4B models, so
a profile's rules are exactly the constraints its differential (and that of any of our profiles it
derives from) adds. Supported: min/max, fixed[x], pattern[x], required bindings, type (profile and
targetProfile), constraint, and slicing with `value`/`pattern` discriminators.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class ProfileDefinitionError(ValueError):
    """A StructureDefinition uses something this validator does not support, or is inconsistent."""


@dataclass(frozen=True, slots=True)
class TypeRef:
    """ElementDefinition.type: a type code with its profiles and target profiles."""

    code: str
    profiles: tuple[str, ...] = ()
    target_profiles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Constraint:
    """ElementDefinition.constraint: a FHIRPath invariant."""

    key: str
    severity: str
    human: str
    expression: str


@dataclass(frozen=True, slots=True)
class Binding:
    """ElementDefinition.binding."""

    strength: str
    value_set: str


@dataclass(frozen=True, slots=True)
class Discriminator:
    """ElementDefinition.slicing.discriminator with the slice's value for it."""

    type: str
    path: str


@dataclass(frozen=True, slots=True)
class SliceKey:
    """What an item must have at `path` to belong to a slice: a fixed (equal) or pattern value."""

    path: str
    kind: str  # "fixed" or "pattern"
    value: Any


@dataclass(slots=True)
class ElementRule:
    """The merged rules for one element id; children by name, slices by slice name.

    Built once per profile by `compile_profile`; treated as immutable afterwards.
    """

    id: str
    path: str
    name: str
    slice_name: str | None = None
    min: int = 0
    max: int | None = None
    fixed: tuple[str, Any] | None = None
    pattern: tuple[str, Any] | None = None
    binding: Binding | None = None
    types: tuple[TypeRef, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    discriminators: tuple[Discriminator, ...] = ()
    closed: bool = False
    slice_keys: tuple[SliceKey, ...] = ()
    children: dict[str, ElementRule] = field(default_factory=dict)
    slices: dict[str, ElementRule] = field(default_factory=dict)

    @property
    def is_choice(self) -> bool:
        return self.name.endswith("[x]")


def merge_differentials(chain: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Overlay the differentials of a profile chain (ancestor first) by element id."""
    merged: dict[str, dict[str, Any]] = {}
    for sd in chain:
        for element in sd.get("differential", {}).get("element", []):
            element_id = str(element.get("id") or element["path"])
            old = merged.get(element_id, {})
            new = {**old, **element}
            keys = {c.get("key") for c in element.get("constraint", [])}
            new["constraint"] = [
                *(c for c in old.get("constraint", []) if c.get("key") not in keys),
                *element.get("constraint", []),
            ]
            merged[element_id] = new
    return list(merged.values())


def _segments(element_id: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for seg in element_id.split("."):
        name, _, slice_name = seg.partition(":")
        if "/" in slice_name or (slice_name and name.endswith("[x]")):
            raise ProfileDefinitionError(
                f"{element_id}: re-slicing and type slices are not supported"
            )
        out.append((name, slice_name or None))
    return out


def _prefixed(element: Mapping[str, Any], prefix: str) -> tuple[str, Any] | None:
    for key, value in element.items():
        if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
            return key[len(prefix) :], value
    return None


def _apply(rule: ElementRule, element: Mapping[str, Any]) -> None:
    if "min" in element:
        rule.min = int(element["min"])
    if "max" in element:
        rule.max = None if element["max"] == "*" else int(element["max"])
    rule.fixed = _prefixed(element, "fixed") or rule.fixed
    rule.pattern = _prefixed(element, "pattern") or rule.pattern
    if "binding" in element and element["binding"].get("valueSet"):
        b = element["binding"]
        rule.binding = Binding(str(b["strength"]), str(b["valueSet"]).split("|")[0])
    if "type" in element:
        rule.types = tuple(
            TypeRef(
                str(t["code"]),
                tuple(str(p).split("|")[0] for p in t.get("profile", [])),
                tuple(str(p).split("|")[0] for p in t.get("targetProfile", [])),
            )
            for t in element["type"]
        )
    rule.constraints = tuple(
        Constraint(
            str(c["key"]), str(c.get("severity", "error")), str(c["human"]), str(c["expression"])
        )
        for c in element.get("constraint", [])
        if c.get("expression")
    )
    slicing = element.get("slicing")
    if slicing:
        discriminators = tuple(
            Discriminator(str(d["type"]), str(d["path"])) for d in slicing.get("discriminator", [])
        )
        for d in discriminators:
            if d.type not in ("value", "pattern"):
                raise ProfileDefinitionError(
                    f"{rule.id}: discriminator type {d.type!r} is not supported"
                )
        if not discriminators:
            raise ProfileDefinitionError(
                f"{rule.id}: slicing without a discriminator is not supported"
            )
        rule.discriminators = discriminators
        rule.closed = slicing.get("rules") == "closed"


def _slice_key(sliced: ElementRule, slice_rule: ElementRule, d: Discriminator) -> SliceKey:
    """The value a slice has at a discriminator path (R4 profiling.html#discriminator)."""
    if (
        d.path == "url"
        and slice_rule.types
        and slice_rule.types[0].profiles
        and "url" not in slice_rule.children
    ):
        return SliceKey("url", "fixed", slice_rule.types[0].profiles[0])
    target: ElementRule | None = slice_rule
    if d.path != "$this":
        for name in d.path.split("."):
            target = target.children.get(name) if target else None
    if target is not None and target.fixed is not None:
        return SliceKey(d.path, "fixed", target.fixed[1])
    if target is not None and target.pattern is not None:
        return SliceKey(d.path, "pattern", target.pattern[1])
    raise ProfileDefinitionError(
        f"{slice_rule.id}: no fixed or pattern value at discriminator {d.path!r} of {sliced.id}"
    )


def _finish(rule: ElementRule) -> None:
    if rule.slices and not rule.discriminators:
        raise ProfileDefinitionError(f"{rule.id}: slices without slicing")
    for slice_rule in rule.slices.values():
        slice_rule.slice_keys = tuple(_slice_key(rule, slice_rule, d) for d in rule.discriminators)
        _finish(slice_rule)
    for child in rule.children.values():
        _finish(child)


def compile_profile(resource_type: str, elements: Sequence[Mapping[str, Any]]) -> ElementRule:
    """Build the rule tree of one (merged) differential; the root rule is the resource itself."""
    root = ElementRule(id=resource_type, path=resource_type, name=resource_type)
    for element in elements:
        element_id = str(element.get("id") or element["path"])
        segments = _segments(element_id)
        if segments[0][0] != resource_type:
            raise ProfileDefinitionError(f"{element_id}: not an element of {resource_type}")
        node = root
        node_id, node_path = resource_type, resource_type
        for name, slice_name in segments[1:]:
            node_id, node_path = f"{node_id}.{name}", f"{node_path}.{name}"
            child = node.children.get(name)
            if child is None:
                child = node.children[name] = ElementRule(id=node_id, path=node_path, name=name)
            node = child
            if slice_name:
                node_id = f"{node_id}:{slice_name}"
                slice_rule = node.slices.get(slice_name)
                if slice_rule is None:
                    slice_rule = node.slices[slice_name] = ElementRule(
                        id=node_id, path=node_path, name=name, slice_name=slice_name
                    )
                node = slice_rule
        _apply(node, element)
    _finish(root)
    return root


def iter_rules(rule: ElementRule) -> list[ElementRule]:
    """All rules of a tree, depth first (for precompiling invariants)."""
    out = [rule]
    for child in (*rule.children.values(), *rule.slices.values()):
        out.extend(iter_rules(child))
    return out
