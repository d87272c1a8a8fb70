"""The topic catalog and the tool that makes the broker match it."""

from topics.admin import DriftReport, ensure_topics
from topics.catalog import TopicSpec, by_role, catalog, changelog_spec, changelog_topic

__all__ = [
    "DriftReport",
    "TopicSpec",
    "by_role",
    "catalog",
    "changelog_spec",
    "changelog_topic",
    "ensure_topics",
]
