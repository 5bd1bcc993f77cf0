"""Authorization as pure policy: principal x scopes x relation x consent x custody -> a filter.

Imports nothing from the application except `app.fhir`.
"""
