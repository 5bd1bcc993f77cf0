"""The Bulk Data export worker (docs/bulk.md)."""
