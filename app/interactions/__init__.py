"""FHIR interactions, independent of HTTP (Medplum's fhir-router).

The HTTP routes, batch/transaction entries and the `load` command all go
through `FhirService.execute`, so each interaction has one implementation.
"""
