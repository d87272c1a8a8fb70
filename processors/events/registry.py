"""The schema registry: every ``.avsc`` under :data:`avro_schemas.SCHEMA_DIR`, parsed once.

Files are found by layout, not listed by hand:

* ``common/<fullname>.avsc`` — shared named types. A schema that references one by name gets
  its definition injected at the first use (``fastavro.schema.load_schema`` with a repository),
  so every loaded schema is self-contained and its Parsing Canonical Form is the spec's.
* ``events/<event_type>.v<N>.avsc`` — the event schemas, keyed by ``(event_type, N)``.
* ``internal/<stem>[.v<N>].avsc`` — internal records, keyed by Avro full name and version.

Timestamps are plain ``long`` epoch milliseconds in Python: each entry keeps a second parse of
its schema with the ``logicalType`` annotations removed (``wire_schema``), which is what the
codec reads and writes with. Logical types are not part of the canonical form, so both parses
have the same fingerprint.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.repository.base import AbstractSchemaRepository, SchemaRepositoryError
from fastavro.schema import load_schema, to_parsing_canonical_form

from avro_schemas import SCHEMA_DIR
from processors.events.avrogen import Reader, Writer, compile_reader, compile_writer
from processors.events.fingerprint import schema_fingerprint, single_object_header

_EVENT_FILE = re.compile(
    r"^(?P<type>[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)\.v(?P<version>[1-9][0-9]*)\.avsc$"
)
_INTERNAL_FILE = re.compile(r"^(?P<stem>[a-z][a-z0-9_]*)(?:\.v(?P<version>[1-9][0-9]*))?\.avsc$")
_NAMED = frozenset({"record", "error", "enum", "fixed"})


@dataclass(frozen=True, eq=False)
class SchemaEntry:
    """One loaded schema file.

    ``name`` is the Avro full name of the top-level record; ``event_type`` is None for internal
    records. ``schema`` is the parsed schema with logical types, ``wire_schema`` the parse the
    codec uses, ``names`` maps each named type's full name to its definition in ``schema``.
    """

    name: str
    version: int
    event_type: str | None
    path: str
    schema: dict[str, Any]
    wire_schema: dict[str, Any]
    names: Mapping[str, Any]
    canonical_form: str
    fingerprint: bytes
    header: bytes
    #: Avro binary writers (of a mapping, of a model) and reader generated from
    #: ``wire_schema`` (no header).
    write: Writer = field(repr=False)
    write_model: Writer = field(repr=False)
    read: Reader = field(repr=False)

    @property
    def is_event(self) -> bool:
        """True for event schemas, False for internal records."""
        return self.event_type is not None


class _Repository(AbstractSchemaRepository):
    """In-memory schema source for ``load_schema``; hands out copies (loading mutates them)."""

    def __init__(self, docs: Mapping[str, Any]) -> None:
        self._docs = docs

    def load(self, name: str) -> Any:
        if name not in self._docs:
            raise SchemaRepositoryError(f"no schema named {name!r}")
        return copy.deepcopy(self._docs[name])


def _fullname(doc: Mapping[str, Any]) -> str:
    name = str(doc["name"])
    namespace = doc.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _strip_logical(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strip_logical(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k != "logicalType" and not k.startswith("__")}
    if isinstance(out.get("type"), dict | list):
        out["type"] = _strip_logical(out["type"])
    if "fields" in out:
        out["fields"] = [{**f, "type": _strip_logical(f["type"])} for f in out["fields"]]
    for key in ("items", "values"):
        if key in out:
            out[key] = _strip_logical(out[key])
    return out


def _collect_names(schema: Any, names: dict[str, Any]) -> None:
    if isinstance(schema, list):
        for branch in schema:
            _collect_names(branch, names)
    elif isinstance(schema, dict):
        if schema.get("type") in _NAMED:
            names[schema["name"]] = schema
        for f in schema.get("fields", ()):
            _collect_names(f["type"], names)
        for key in ("items", "values"):
            if key in schema:
                _collect_names(schema[key], names)


def _entry(repo: _Repository, doc_key: str, event_type: str | None, version: int) -> SchemaEntry:
    schema = load_schema(doc_key, repo=repo)
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise ValueError(f"{doc_key}: the top-level schema must be a record")
    wire = parse_schema(_strip_logical(schema), named_schemas={})
    if not isinstance(wire, dict):  # pragma: no cover - a record parses to a dict
        raise ValueError(f"{doc_key}: unexpected parse result")
    pcf = to_parsing_canonical_form(schema)
    if to_parsing_canonical_form(wire) != pcf:  # pragma: no cover - guards _strip_logical
        raise ValueError(f"{doc_key}: stripping logical types changed the canonical form")
    names: dict[str, Any] = {}
    _collect_names(schema, names)
    fp = schema_fingerprint(pcf)
    return SchemaEntry(
        name=str(schema["name"]),
        version=version,
        event_type=event_type,
        path=doc_key,
        schema=schema,
        wire_schema=wire,
        names=names,
        canonical_form=pcf,
        fingerprint=fp,
        header=single_object_header(fp),
        write=compile_writer(wire),
        write_model=compile_writer(wire, from_objects=True),
        read=compile_reader(wire),
    )


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


class EventRegistry:
    """All known schemas, indexed by (event_type, version), fingerprint and record name."""

    def __init__(self, entries: Iterable[SchemaEntry]) -> None:
        self._entries = tuple(entries)
        self._by_fp: dict[bytes, SchemaEntry] = {}
        self._events: dict[tuple[str, int], SchemaEntry] = {}
        self._records: dict[tuple[str, int], SchemaEntry] = {}
        for e in self._entries:
            if e.fingerprint in self._by_fp:
                raise ValueError(
                    f"{e.path} and {self._by_fp[e.fingerprint].path} share a fingerprint"
                )
            self._by_fp[e.fingerprint] = e
            index = self._events if e.event_type is not None else self._records
            ident = (e.event_type or e.name, e.version)
            if ident in index:
                raise ValueError(f"{e.path} and {index[ident].path} are both {ident}")
            index[ident] = e
        # Looked up for every record the engine writes: resolved once here.
        self._latest_record: dict[str, SchemaEntry] = {}
        for (name, _), e in sorted(self._records.items()):
            self._latest_record[name] = e

    @classmethod
    def load(cls, schema_dir: Path = SCHEMA_DIR) -> EventRegistry:
        """Load and parse every schema under ``schema_dir`` (layout in the module docstring)."""
        docs: dict[str, Any] = {}
        for path in sorted((schema_dir / "common").glob("*.avsc")):
            doc = _read_json(path)
            if _fullname(doc) != path.stem:
                raise ValueError(f"{path}: a common type's file is named <fullname>.avsc")
            docs[path.stem] = doc
        plan: list[tuple[str, str | None, int]] = []
        for path in sorted((schema_dir / "events").glob("*.avsc")):
            m = _EVENT_FILE.match(path.name)
            if m is None:
                raise ValueError(f"{path}: event schemas are named <event_type>.v<N>.avsc")
            plan.append((f"events/{path.name}", m["type"], int(m["version"])))
            docs[plan[-1][0]] = _read_json(path)
        for path in sorted((schema_dir / "internal").glob("*.avsc")):
            m = _INTERNAL_FILE.match(path.name)
            if m is None:
                raise ValueError(f"{path}: internal schemas are named <stem>[.v<N>].avsc")
            plan.append((f"internal/{path.name}", None, int(m["version"] or 1)))
            docs[plan[-1][0]] = _read_json(path)
        repo = _Repository(docs)
        return cls(_entry(repo, key, event_type, version) for key, event_type, version in plan)

    def event(self, event_type: str, version: int) -> SchemaEntry | None:
        """The schema of ``event_type`` at ``version``, or None."""
        return self._events.get((event_type, version))

    def latest(self, event_type: str) -> SchemaEntry | None:
        """The highest version of ``event_type``, or None."""
        versions = self.event_types().get(event_type)
        return self._events[(event_type, versions[-1])] if versions else None

    def by_fingerprint(self, fingerprint: bytes) -> SchemaEntry | None:
        """The schema whose CRC-64-AVRO fingerprint (8 little-endian bytes) is given, or None."""
        return self._by_fp.get(bytes(fingerprint))

    def record(self, name: str, version: int | None = None) -> SchemaEntry | None:
        """An internal record schema by Avro full name; the latest version unless given."""
        if version is not None:
            return self._records.get((name, version))
        return self._latest_record.get(name)

    def event_types(self) -> dict[str, tuple[int, ...]]:
        """Every known event type with its versions, ascending."""
        out: dict[str, list[int]] = {}
        for event_type, version in sorted(self._events):
            out.setdefault(event_type, []).append(version)
        return {k: tuple(v) for k, v in out.items()}

    def entries(self) -> tuple[SchemaEntry, ...]:
        """All loaded schemas, events first, in file order."""
        return self._entries

    def __iter__(self) -> Iterator[SchemaEntry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


@cache
def default_registry() -> EventRegistry:
    """The registry of the packaged schemas, loaded on first use and shared."""
    return EventRegistry.load(SCHEMA_DIR)
