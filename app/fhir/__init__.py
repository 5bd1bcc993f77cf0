"""Pure FHIR R4 semantics: models, OperationOutcome, search parameters, profiles.

Nothing in this package imports from the rest of the application.
"""
