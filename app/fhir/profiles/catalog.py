"""The profile catalog: our StructureDefinitions, CodeSystems, ValueSets and OperationDefinitions,
loaded once from fhir_profiles/, and the entry point to validate a resource against them
(R4 profiling.html)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from app.fhir.outcome import Issue, error, information
from app.fhir.profiles.canonical import PLAN_PROFILES, PLAN_TYPE_SYSTEM, is_ours
from app.fhir.profiles.elements import (
    ProfileDefinitionError,
    compile_profile,
    iter_rules,
    merge_differentials,
)
from app.fhir.profiles.invariants import Invariants, Resolver
from app.fhir.profiles.terminology import Terminology
from app.fhir.profiles.validator import CompiledProfile, Definitions, Validation

# Definitions we need but do not publish (e.g. DK-core's municipality codes) live here.
DEPENDENCIES_DIR = "dependencies"

Resource = dict[str, Any]


def _read(path: Path) -> Resource:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "resourceType" not in data:
        raise ProfileDefinitionError(f"{path}: not a FHIR resource")
    return data


def _cached(resolve: Resolver) -> Resolver:
    """Ask the caller's resolver at most once per reference during one validation."""
    seen: dict[str, Resource | None] = {}

    def lookup(reference: str) -> Resource | None:
        if reference not in seen:
            seen[reference] = resolve(reference)
        return seen[reference]

    return lookup


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class ProfileCatalog:
    """Our conformance resources by canonical URL, with each profile compiled once."""

    def __init__(
        self, published: Sequence[Resource], dependencies: Sequence[Resource] = ()
    ) -> None:
        self._published = tuple(published)
        by_type: dict[str, dict[str, Resource]] = {
            "StructureDefinition": {},
            "CodeSystem": {},
            "ValueSet": {},
            "OperationDefinition": {},
        }
        for resource in self._published:
            kind = by_type.get(str(resource["resourceType"]))
            if kind is None:
                raise ProfileDefinitionError(
                    f"{resource.get('id')}: unexpected {resource['resourceType']}"
                )
            if resource["url"] in kind:
                raise ProfileDefinitionError(f"duplicate canonical URL {resource['url']}")
            kind[str(resource["url"])] = resource
        self.structure_definitions: Mapping[str, Resource] = MappingProxyType(
            by_type["StructureDefinition"]
        )
        self.code_systems: Mapping[str, Resource] = MappingProxyType(by_type["CodeSystem"])
        self.value_sets: Mapping[str, Resource] = MappingProxyType(by_type["ValueSet"])
        self.operation_definitions: Mapping[str, Resource] = MappingProxyType(
            by_type["OperationDefinition"]
        )
        extra = [r for r in dependencies if r["resourceType"] == "CodeSystem"]
        terminology = Terminology([*self.code_systems.values(), *extra], self.value_sets.values())
        invariants = Invariants(terminology)
        profiles = {url: self._compile(sd) for url, sd in self.structure_definitions.items()}
        self._check(profiles, terminology, invariants)
        self._defs = Definitions(MappingProxyType(profiles), terminology, invariants)

    @classmethod
    def load(cls, directory: str | Path) -> ProfileCatalog:
        """Load every *.json directly in `directory` (published) and in its dependencies/ folder."""
        root = Path(directory)
        published = [_read(p) for p in sorted(root.glob("*.json"))]
        dependencies = [_read(p) for p in sorted((root / DEPENDENCIES_DIR).glob("*.json"))]
        return cls(published, dependencies)

    def resources(self) -> Iterator[Resource]:
        """The conformance resources we publish (treat as read-only)."""
        return iter(self._published)

    @property
    def profiles(self) -> Mapping[str, CompiledProfile]:
        """Compiled profiles by canonical URL."""
        return self._defs.profiles

    # Loading --------------------------------------------------------------------------------

    def _chain(self, sd: Resource) -> list[Resource]:
        """The profile and its ancestors among our profiles, ancestor first."""
        chain = [sd]
        while (
            base := self.structure_definitions.get(str(chain[0].get("baseDefinition")))
        ) is not None:
            if base in chain:
                raise ProfileDefinitionError(f"{sd['url']}: circular baseDefinition")
            chain.insert(0, base)
        base_url = str(chain[0].get("baseDefinition"))
        if is_ours(base_url):
            raise ProfileDefinitionError(f"{sd['url']}: unknown baseDefinition {base_url}")
        return chain

    def _compile(self, sd: Resource) -> CompiledProfile:
        if sd.get("derivation") != "constraint":
            raise ProfileDefinitionError(f"{sd['url']}: only constraint profiles are supported")
        root = compile_profile(str(sd["type"]), merge_differentials(self._chain(sd)))
        return CompiledProfile(str(sd["url"]), str(sd["name"]), str(sd["type"]), root)

    @staticmethod
    def _check(
        profiles: Mapping[str, CompiledProfile], terminology: Terminology, invariants: Invariants
    ) -> None:
        """Fail at load, not at validation: our references must exist and invariants must parse."""
        for profile in profiles.values():
            for rule in iter_rules(profile.root):
                for constraint in rule.constraints:
                    try:
                        invariants.compile(constraint.expression)
                    except Exception as exc:
                        raise ProfileDefinitionError(f"{constraint.key}: {exc}") from exc
                if (
                    rule.binding
                    and is_ours(rule.binding.value_set)
                    and not terminology.knows(rule.binding.value_set)
                ):
                    raise ProfileDefinitionError(
                        f"{rule.id}: unknown value set {rule.binding.value_set}"
                    )
                for type_ref in rule.types:
                    for url in (*type_ref.profiles, *type_ref.target_profiles):
                        if is_ours(url) and url not in profiles:
                            raise ProfileDefinitionError(f"{rule.id}: unknown profile {url}")

    # Validation -----------------------------------------------------------------------------

    def profiles_for(self, resource: Mapping[str, Any]) -> list[str]:
        """The profiles `resource` must conform to: ours in meta.profile, and always the plan
        profile of a CarePlan's plan-type category."""
        return self._select(resource)[0]

    def _select(self, resource: Mapping[str, Any]) -> tuple[list[str], list[Issue]]:
        resource_type = str(resource.get("resourceType"))
        urls: list[str] = []
        issues: list[Issue] = []
        meta = resource.get("meta")
        declared_profiles = meta.get("profile", []) if isinstance(meta, Mapping) else []
        for i, declared in enumerate(declared_profiles):
            url, where = str(declared).split("|")[0], f"{resource_type}.meta.profile[{i}]"
            profile = self.profiles.get(url)
            if profile is None and is_ours(url):
                issues.append(
                    error("not-supported", f"Unknown profile {url}", where, "meta.profile")
                )
            elif profile is None:
                issues.append(
                    information(f"Profile {url} is not known here and was not checked", where)
                )
            elif profile.type != resource_type:
                issues.append(
                    error(
                        "invalid",
                        f"Profile {url} is for {profile.type}, not {resource_type}",
                        where,
                        "meta.profile",
                    )
                )
            elif url not in urls:
                urls.append(url)
        if resource_type == "CarePlan":
            for ci, category in enumerate(_list(resource.get("category"))):
                codings = _list(category.get("coding")) if isinstance(category, Mapping) else []
                for ki, coding in enumerate(codings):
                    if not isinstance(coding, Mapping) or coding.get("system") != PLAN_TYPE_SYSTEM:
                        continue
                    plan_profile = PLAN_PROFILES.get(str(coding.get("code")))
                    if plan_profile is None:
                        issues.append(
                            error(
                                "code-invalid",
                                f"Unknown plan type {coding.get('code')!r}",
                                f"CarePlan.category[{ci}].coding[{ki}].code",
                                "plan-type",
                            )
                        )
                    elif plan_profile not in urls:
                        urls.append(plan_profile)
        return urls, issues

    def validate(
        self,
        resource: Mapping[str, Any],
        profile_urls: Sequence[str] | None = None,
        *,
        resolve: Resolver | None = None,
    ) -> list[Issue]:
        """Validate against `profile_urls` (None: `profiles_for`); returns the issues, [] if valid.

        `resolve` gets a reference as written (`urn:uuid:…`, `Type/id`, an absolute URL or a
        conditional `Type?query`) and returns the resource or None. Contained resources are always
        checked; without `resolve`, checks that need another resource (targetProfile conformance,
        `resolve()` in invariants) are skipped, the latter with an information issue."""
        if profile_urls is None:
            urls, issues = self._select(resource)
        else:
            urls, issues = [], []
            for url in (u.split("|")[0] for u in profile_urls):
                if url in self.profiles:
                    urls.append(url)
                else:
                    issues.append(
                        error("not-supported", f"Unknown profile {url}", None, "meta.profile")
                    )
        resolve = _cached(resolve) if resolve is not None else None
        resource_type = str(resource.get("resourceType"))
        for url in urls:
            profile = self.profiles[url]
            if profile.type != resource_type:
                issues.append(
                    error(
                        "invalid",
                        f"Profile {url} is for {profile.type}, not {resource_type}",
                        resource_type,
                        "meta.profile",
                    )
                )
                continue
            issues.extend(
                Validation(self._defs, resource, resource_type, resolve).run(
                    profile, resource, resource_type
                )
            )
        return list(dict.fromkeys(issues))
