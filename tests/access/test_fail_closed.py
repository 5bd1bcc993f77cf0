"""Fail closed by construction (issue #13 part 7, PRINCIPLES.md principle 3).

No code path can read data without the one predicate: a unit of work needs a policy,
the repository fixes its predicate when it is built and keeps its connection private,
and "see everything" exists only for the internal principal, which only the service's
own jobs use. These tests read the source, so a new entry point that tries a shortcut
fails here before it ships.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from app.access.authorities import Authorities
from app.access.decision import RowFilter
from app.access.policy import AccessPolicy
from app.access.principal import InvalidClaims, Principal
from app.access.rules import Rule
from app.storage.repository import Repository
from app.storage.tables import metadata
from app.storage.unit_of_work import Storage
from tests.support.tokens import TokenFactory

APP = Path(__file__).resolve().parents[2] / "app"


def _calls(name: str) -> set[str]:
    """Modules (relative to app/) that call or reference `<something>.name`."""
    found = set()
    for path in APP.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == name:
                found.add(str(path.relative_to(APP)))
    return found


TOKENS = TokenFactory("http://testserver/fhir")


def _importers(module: str) -> set[str]:
    """Modules (relative to app/) that import from `module`."""
    found = set()
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == module:
                found.add(str(path.relative_to(APP)))
            if isinstance(node, ast.Import) and any(a.name == module for a in node.names):
                found.add(str(path.relative_to(APP)))
    return found


def test_everything_is_granted_only_to_the_internal_principal() -> None:
    assert _calls("everything") == {"access/policy.py"}
    assert _calls("allow_all") <= {"access/decision.py", "storage/access_sql.py"}
    policy = AccessPolicy(TOKENS.principal(TOKENS.system_claims()))
    assert not policy.read_filter("CarePlan", "read").allow_all
    assert AccessPolicy.internal("test").read_filter("CarePlan", "read").allow_all


# The service's own jobs: the loader, the audit writer, the delivery worker (its ledger;
# changes are matched under the subscription owner's restored policy) and the export jobs
# (their ledger and the commit horizon only; every page is read under the exporting
# client's restored policy: tests/events/test_export.py).
INTERNAL_JOBS = {
    "access/policy.py",
    "loader.py",
    "audit/recorder.py",
    "subscriptions/worker.py",
    "interactions/export.py",
}


def test_only_the_services_own_jobs_run_as_the_internal_principal() -> None:
    assert _calls("internal") <= INTERNAL_JOBS


def test_no_token_can_make_an_internal_principal() -> None:
    claims = {**TOKENS.system_claims(), "dk_user_type": "internal"}
    with pytest.raises(InvalidClaims):
        Principal.from_claims(claims)


def test_a_unit_of_work_and_a_repository_cannot_be_had_without_a_policy() -> None:
    unit = inspect.signature(Storage.unit_of_work).parameters["access"]
    assert unit.default is inspect.Parameter.empty
    built = inspect.signature(Repository.__init__).parameters["policy"]
    assert built.default is inspect.Parameter.empty and built.kind is built.KEYWORD_ONLY
    # Its predicate is built in the constructor; its connection (and the policy facts')
    # is private, and no code outside storage/ can even name the resource tables.
    assert "_visibility" in inspect.getsource(Repository.__init__)
    # The subscription and export ledgers get the connection from the repository, for
    # internal jobs only (tests/events); they read no contents.
    assert _calls("_conn") <= {
        "storage/access_facts.py",
        "storage/repository.py",
        "storage/subscriptions.py",
        "storage/exports.py",
    }
    outside = {p for p in _importers("app.storage.tables") if not p.startswith("storage/")}
    assert outside == set()


def test_an_unknown_principal_kind_gets_nothing() -> None:
    # A professional without an organisation: never produced by from_claims.
    scopes = TOKENS.principal(TOKENS.system_claims()).scopes
    principal = Principal(user_type="professional", issuer="x", subject="y", scopes=scopes)
    decision = AccessPolicy(principal, Authorities()).read_filter("CarePlan", "read")
    assert decision == RowFilter.nothing(decision.rule)


TABLES = "|".join(t.name for t in metadata.sorted_tables)


def _row_filters() -> list[tuple[str, RowFilter]]:
    org = AccessPolicy(
        TOKENS.principal(TOKENS.system_claims()),
        Authorities(relation=frozenset({"1", "2"}), custody=frozenset({"1"})),
        confirmed_patient_ids=("p1",),
    )
    custody = RowFilter(
        rule=Rule.CUSTODY,
        patient_cprs=("0101010101",),
        excluded_labels=(("s", "c"),),
        hide_what_labels_lead_to=True,
        granular=((("status", "active"),),),
    )
    return [
        (t, f)
        for t in ("CarePlan", "Consent", "AuditEvent", "Patient")
        for f in (org.read_filter(t, "read"), custody)
    ]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_every_subquery_of_the_predicate_is_correlated_to_the_row_it_guards(
    dialect: str,
) -> None:
    """A subquery that names an outer table but is not correlated to it joins the whole
    table instead (`FROM share, resource`): true for every row, i.e. fail open. So every
    table alias is declared in exactly one FROM. Checked for the predicate at the top of a
    query and nested in a chain, on both dialects."""
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql, sqlite

    from app.storage.access_sql import compile_row_filter
    from app.storage.search_predicates import MATCH
    from app.storage.tables import resource, search_reference

    nested = resource.alias("nested_1")

    compiled_dialect = postgresql.dialect() if dialect == "postgresql" else sqlite.dialect()
    # Patient-scoped too: its once-per-statement subqueries name only their own table.
    for (resource_type, row_filter), scoped in itertools.product(_row_filters(), (False, True)):

        def predicate(t: str, r: Any, f: RowFilter = row_filter, s: bool = scoped) -> Any:
            return compile_row_filter(f, t, r, dialect, "http://testserver/fhir", patient_scoped=s)

        top = select(MATCH.c.pk).where(predicate(resource_type, MATCH))
        targets = select(nested.c.res_id).where(predicate(resource_type, nested))
        ref = search_reference.alias("ref")
        chain = select(MATCH.c.pk).where(
            MATCH.c.pk.in_(select(ref.c.res_pk).where(ref.c.target_id.in_(targets)))
        )
        for statement in (top, chain):
            sql = str(statement.compile(dialect=compiled_dialect))
            declared = re.findall(rf"\b(?:{TABLES}) AS (\w+)\b", sql)
            twice = {alias for alias in declared if declared.count(alias) > 1}
            assert declared and not twice, (resource_type, row_filter, twice, sql)
            assert not re.search(rf"(?:FROM|,|JOIN) (?:{TABLES})\b(?! AS)", sql), sql


def _audit_filters() -> list[RowFilter]:
    """What the policy gives for AuditEvents (citizen, custody holder, organisation) and a
    custody filter with labels and granular scopes, as the audit log compiles them."""
    custody = RowFilter(
        rule=Rule.CUSTODY,
        patient_cprs=("0101010101",),
        excluded_labels=(("s", "c"),),
        hide_what_labels_lead_to=True,
        granular=((("outcome", "0"),), (("agent-name", "x"),)),
    )
    citizen = AccessPolicy(TOKENS.principal(TOKENS.citizen_claims("0101010101")))
    org = AccessPolicy(TOKENS.principal(TOKENS.system_claims()))
    return [
        custody,
        citizen.read_filter("AuditEvent", "search-type"),
        org.read_filter("AuditEvent", "search-type"),
    ]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_audit_log_predicate_is_correlated_and_fails_closed(dialect: str) -> None:
    """AuditEvents live in their own table (audit_log): their predicate is compiled in
    access_sql too, with every subquery correlated to the row it guards; an organisation,
    or any filter the audit log has no rule for, reads nothing."""
    from dataclasses import replace

    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql, sqlite

    from app.storage.access_sql import compile_audit_filter
    from app.storage.audit_search import AUDIT

    compiled_dialect = postgresql.dialect() if dialect == "postgresql" else sqlite.dialect()
    base = "http://testserver/fhir"
    custody, citizen, org = _audit_filters()
    for row_filter in (custody, citizen):
        sql = str(
            select(AUDIT.c.pk)
            .where(compile_audit_filter(row_filter, AUDIT, dialect, base))
            .compile(dialect=compiled_dialect)
        )
        declared = re.findall(rf"\b(?:{TABLES}) AS (\w+)\b", sql)
        twice = {alias for alias in declared if declared.count(alias) > 1}
        assert declared and not twice, (row_filter, twice, sql)
        assert not re.search(rf"(?:FROM|,|JOIN) (?:{TABLES})\b(?! AS)", sql), sql
        assert "audit_entity" in sql and "patient_cpr" in sql, sql
    assert "plan_link" in str(compile_audit_filter(custody, AUDIT, dialect, base))
    for closed in (
        org,
        replace(citizen, patient_cprs=()),
        replace(citizen, org_sor="1"),
        replace(citizen, owner_key="k"),
        replace(citizen, targets=()),
        RowFilter.nothing(Rule.SCOPE),
    ):
        sql = str(
            select(AUDIT.c.pk)
            .where(compile_audit_filter(closed, AUDIT, dialect, base))
            .compile(dialect=compiled_dialect, compile_kwargs={"literal_binds": True})
        )
        assert re.search(r"WHERE (false|0 = 1)$", sql), (closed, sql)


def test_no_audit_log_read_can_be_built_without_the_callers_condition() -> None:
    """Every read of the audit log takes the caller's condition as a required argument;
    the one unconditional lookup is the refusal audit's (repository.hidden_pk), and the
    unconditional listing is for tests and operators only, never a request."""
    from app.storage import audit_log

    for read in (audit_log.search, audit_log.history, audit_log.alongside, audit_log.find):
        condition = inspect.signature(read).parameters["condition"]
        assert condition.default is inspect.Parameter.empty, read
    source = inspect.getsource(Repository)
    assert source.count("audit_log.find(") == 2
    assert "audit_log.find(self._conn, resource_id, None)" in inspect.getsource(
        Repository.hidden_pk
    )
    assert _calls("every_event") == set()
    users = {
        str(path.relative_to(APP))
        for path in APP.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and (
            node.module == "app.storage.audit_log"
            or (node.module == "app.storage" and any(a.name == "audit_log" for a in node.names))
        )
    }
    assert users == {"storage/repository.py"}
    # Rendering rows (audit_rows) reads nothing; an AuditEvent a search includes is read
    # under the search's own predicate, which access_sql compiles for the audit table.
    assert _importers("app.storage.audit_search") <= {
        "storage/access_sql.py",
        "storage/audit_log.py",
        "storage/audit_rows.py",
        "storage/search_include.py",
    }
    # The search predicate, given an audit table, is the audit log's own condition.
    from app.storage.access_sql import Visibility, compile_audit_filter
    from app.storage.audit_search import AUDIT

    citizen = AccessPolicy(TOKENS.principal(TOKENS.citizen_claims("0101010101")))
    visibility = Visibility(citizen, dialect="sqlite", base_url="http://testserver/fhir")
    row_filter = citizen.read_filter("AuditEvent", "search-type")
    assert visibility.predicate("search-type")("AuditEvent", AUDIT) is compile_audit_filter(
        row_filter, AUDIT, "sqlite", "http://testserver/fhir"
    )
    include = (APP / "storage" / "search_include.py").read_text(encoding="utf-8")
    assert include.count("select(AUDIT_INCLUDED)") == 1
    assert "compiler.security(AUDIT_EVENT, AUDIT_INCLUDED)" in include
