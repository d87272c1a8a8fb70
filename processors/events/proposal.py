"""The hash of an approval's proposal: what binds a reviewer's answer to what they were shown.

An ``approval.requested`` carries the proposal (field -> text) a reviewer may edit. A client
that shows it hashes it with :func:`proposal_hash` and sends the hash in its
``approval.granted``/``approval.denied`` v2 (``proposal_hash``); the engine refuses an answer
whose hash is not the pending proposal's (``stale_approval``). Any language can compute it:
sha256, hex, of the proposal as canonical JSON (keys sorted, ``,`` and ``:`` with no spaces,
UTF-8, non-ASCII unescaped).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from processors.events.common import FieldChange


def canonical_json(value: object) -> str:
    """``value`` as canonical JSON: keys sorted, no spaces, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def proposal_hash(proposal: Mapping[str, str]) -> str:
    """sha256 hex of ``proposal`` as canonical JSON (see the module docstring)."""
    return hashlib.sha256(canonical_json(dict(proposal)).encode()).hexdigest()


def changes_text(changes: Sequence[FieldChange]) -> str:
    """A reviewer's edits as canonical JSON, sorted by field: equal edits, equal text."""
    rows = sorted(([c.field, c.old_value, c.new_value] for c in changes), key=lambda r: str(r[0]))
    return canonical_json(rows)
