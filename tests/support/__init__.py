"""Shared test support: databases, clients, Danish test data."""
