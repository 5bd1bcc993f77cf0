"""OperationOutcome issues and the exception that carries them.

Every error the service reports is a FHIR OperationOutcome
(R4 operationoutcome.html); `FhirError` is how any layer raises one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["fatal", "error", "warning", "information"]

# The system of `issue.details.coding`: the name of the rule that produced the issue
# (an access rule, a FHIR or profile constraint key, a profile element id, an input rule).
RULE_SYSTEM = "http://esp-careplans.dk/fhir/CodeSystem/rule"

# R4 issue-type codes we use (http://hl7.org/fhir/issue-type).
IssueCode = Literal[
    "invalid",
    "structure",
    "required",
    "value",
    "invariant",
    "security",
    "login",
    "forbidden",
    "processing",
    "not-supported",
    "duplicate",
    "multiple-matches",
    "not-found",
    "deleted",
    "too-long",
    "code-invalid",
    "conflict",
    "transient",
    "lock-error",
    "timeout",
    "too-costly",
    "business-rule",
    "exception",
    "informational",
    "incomplete",
    "throttled",
]


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome.issue."""

    severity: Severity
    code: IssueCode
    diagnostics: str
    expression: tuple[str, ...] = ()
    # The rule that produced the issue (constraint key, element id, policy rule name).
    rule: str | None = None

    def to_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code}
        if self.rule:
            issue["details"] = {
                "coding": [{"system": RULE_SYSTEM, "code": self.rule}],
                "text": self.rule,
            }
        issue["diagnostics"] = self.diagnostics
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


def error(
    code: IssueCode, diagnostics: str, expression: str | None = None, rule: str | None = None
) -> Issue:
    return Issue("error", code, diagnostics, (expression,) if expression else (), rule)


def warning(
    code: IssueCode, diagnostics: str, expression: str | None = None, rule: str | None = None
) -> Issue:
    return Issue("warning", code, diagnostics, (expression,) if expression else (), rule)


def information(diagnostics: str, expression: str | None = None) -> Issue:
    return Issue("information", "informational", diagnostics, (expression,) if expression else ())


def operation_outcome(issues: Iterable[Issue], *, id_: str | None = None) -> dict[str, Any]:
    outcome: dict[str, Any] = {"resourceType": "OperationOutcome"}
    if id_:
        outcome["id"] = id_
    outcome["issue"] = [i.to_fhir() for i in issues] or [information("All OK").to_fhir()]
    return outcome


@dataclass
class FhirError(Exception):
    """An error answered with an HTTP status and an OperationOutcome."""

    status: int
    issues: Sequence[Issue]
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(i.diagnostics for i in self.issues)

    @classmethod
    def of(
        cls,
        status: int,
        code: IssueCode,
        diagnostics: str,
        expression: str | None = None,
        rule: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> FhirError:
        return cls(status, [error(code, diagnostics, expression, rule)], headers or {})


def bad_request(
    diagnostics: str, expression: str | None = None, rule: str | None = None
) -> FhirError:
    return FhirError.of(400, "invalid", diagnostics, expression, rule)


def not_found(diagnostics: str) -> FhirError:
    return FhirError.of(404, "not-found", diagnostics)
