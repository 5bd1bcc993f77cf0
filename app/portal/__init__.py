"""The citizen web client at /portal (docs/portal.md).

It reads and writes only through the FHIR API with the citizen's own token
(import-linter forbids storage, interactions, access and audit here).
"""

from app.portal.routes import portal_router, portal_static

__all__ = ["portal_router", "portal_static"]
