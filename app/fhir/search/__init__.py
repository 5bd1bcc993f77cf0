"""FHIR R4 search: parameter registry, index extraction, query parsing (R4 search.html)."""
