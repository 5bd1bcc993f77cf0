"""The organisations whose records count as evidence (docs/authorization.md, "Sources").

A treatment relation (sundhedsloven §42a) or custody (forældreansvarsloven, sundhedsloven
§39a) is never something a writer can assert about itself: only the records of these
authorities count, e.g. the regions' contact feed and the GP list (relations) and the
CPR registry feed (custody).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Authorities:
    """SOR codes of the relation authorities and of the custody authorities."""

    relation: frozenset[str] = frozenset()
    custody: frozenset[str] = frozenset()

    def records_relations(self, sor: str | None) -> bool:
        return sor is not None and sor in self.relation

    def records_custody(self, sor: str | None) -> bool:
        return sor is not None and sor in self.custody
