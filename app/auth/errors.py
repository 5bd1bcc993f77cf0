"""Configuration errors of the authentication room (trusted issuers, clients, keys)."""

from __future__ import annotations


class ConfigError(ValueError):
    """The authentication configuration is unusable: the service refuses to start."""
