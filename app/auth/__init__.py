"""Authentication only: a bearer token becomes a Principal (RFC 6750, SMART App Launch v2).

Also hosts the embedded development issuer (SMART Backend Services) and the
client registry it authenticates against. Policy lives in `app.access`.
"""
