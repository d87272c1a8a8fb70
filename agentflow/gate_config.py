"""Builds the gate from settings: the policy file and the signing secrets.

Secrets come from ``AGENTFLOW_SIGNING_KEYS`` (JSON) or ``AGENTFLOW_SIGNING_KEYS_FILE``, shaped
``{source: {key_id: secret}}``; keys starting with ``_`` are comments. They are never logged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agentflow.errors import UserError
from agentflow.settings import GateSettings, Settings, SigningSettings
from processors.events import KeyRing
from processors.gate import Gate, GatePolicy, PolicyError, load_policy


def _read_json(path: Path, what: str, hint: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{what} {path} does not exist; {hint}") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{what} {path} is not valid JSON: {exc}") from None


def load_gate_policy(settings: GateSettings) -> GatePolicy:
    """The gate policy from ``AGENTFLOW_POLICY_FILE``; a UserError naming what is wrong."""
    data = _read_json(
        settings.policy_file,
        "the gate policy file",
        "set AGENTFLOW_POLICY_FILE (see config/policy.json)",
    )
    try:
        return load_policy(data)
    except PolicyError as exc:
        raise UserError(f"{settings.policy_file}: {exc}") from None


def load_keyring(settings: SigningSettings, revoked: Iterable[str] = ()) -> KeyRing:
    """The sources' signing keys; ids in ``revoked`` are kept but refused."""
    if settings.signing_keys is not None:
        try:
            raw = json.loads(settings.signing_keys.get_secret_value())
        except ValueError:
            raise UserError("AGENTFLOW_SIGNING_KEYS is not valid JSON") from None
    elif settings.signing_keys_file is not None:
        raw = _read_json(
            settings.signing_keys_file,
            "the signing keys file",
            "set AGENTFLOW_SIGNING_KEYS_FILE to an existing file",
        )
    else:
        raise UserError(
            "no signing keys: set AGENTFLOW_SIGNING_KEYS or AGENTFLOW_SIGNING_KEYS_FILE to JSON "
            '{"source": {"key_id": "secret"}} (config/signing-keys.dev.json for development)'
        )
    if not isinstance(raw, dict) or not all(
        isinstance(v, dict) and all(isinstance(s, str) for s in v.values())
        for k, v in raw.items()
        if not k.startswith("_")
    ):
        raise UserError('signing keys must be JSON {"source": {"key_id": "secret"}}')
    sources = {k: v for k, v in raw.items() if not k.startswith("_")}
    try:
        return KeyRing.from_mapping(sources, revoked=tuple(revoked))
    except ValueError as exc:
        raise UserError(f"signing keys: {exc}") from None


def load_gate(settings: Settings) -> Gate:
    """The gate with its policy and keys; a UserError naming the problem if either is bad."""
    policy = load_gate_policy(settings.gate)
    return Gate(policy, load_keyring(settings.signing, policy.revoked_key_ids))
