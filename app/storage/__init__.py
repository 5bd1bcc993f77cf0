"""The repository: SQLAlchemy tables, indexer, search compiler; the one place that runs SQL."""
