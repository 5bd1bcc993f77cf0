"""The HTTP adapter: routes, request context, errors as OperationOutcome, content negotiation."""
