"""Subscriptions: delivering rest-hook notifications of changes (docs/events.md)."""
