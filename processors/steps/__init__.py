"""The pure part of running a step: scoping its view, rendering its instructions, validating
its output, and the ``step.completed`` / ``step.failed`` event that answers its command.

Every step runner uses these, so a command gets the same answer (and the same event id) from
whichever runner answers it, however often it is redelivered.
"""

from processors.steps.answers import (
    STEP_SOURCE,
    InvalidOutputError,
    completed_event,
    failed_event,
    result_event_id,
    validated_output,
)
from processors.steps.view import render_instructions, scoped_view

__all__ = [
    "STEP_SOURCE",
    "InvalidOutputError",
    "completed_event",
    "failed_event",
    "render_instructions",
    "result_event_id",
    "scoped_view",
    "validated_output",
]
