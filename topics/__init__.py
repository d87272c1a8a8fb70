"""The topic catalog and the tool that makes the broker match it."""

from topics.admin import DriftReport, ensure_topics
from topics.catalog import CATALOG, CatalogEntry, TopicSpec, catalog, catalog_names, changelog_spec

__all__ = [
    "CATALOG",
    "CatalogEntry",
    "DriftReport",
    "TopicSpec",
    "catalog",
    "catalog_names",
    "changelog_spec",
    "ensure_topics",
]
