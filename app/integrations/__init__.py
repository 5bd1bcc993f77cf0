"""Adapters to external national services (custody registry, treatment-relation service).

Each port is a Protocol with a real httpx implementation and a small fake; one
contract test runs over both (PRINCIPLES.md principle 9).
"""
