"""The exceptions of the event contract layer and their stable reason codes."""

from __future__ import annotations

from pydantic import ValidationError

from processors import reasons

# The reason codes live in processors.reasons, with every other component's.
DECODE_REASONS: frozenset[str] = reasons.DECODE_REASONS
ENCODE_REASONS: frozenset[str] = reasons.ENCODE_REASONS


class EventError(ValueError):
    """Base of the event layer's errors. ``reason`` is a stable code; ``detail`` is for humans."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class EventDecodeError(EventError):
    """Bytes could not be decoded into a valid event or record. The only error decoding raises."""

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in DECODE_REASONS:  # pragma: no cover - a programming error
            raise ValueError(f"{reason!r} is not a decode reason")
        super().__init__(reason, detail)


class EventEncodeError(EventError):
    """A value could not be encoded. The only error encoding raises."""

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in ENCODE_REASONS:  # pragma: no cover - a programming error
            raise ValueError(f"{reason!r} is not an encode reason")
        super().__init__(reason, detail)


def validation_detail(exc: ValidationError) -> str:
    """A pydantic error as one short line: up to five ``field.path: message`` parts."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)[:500]
