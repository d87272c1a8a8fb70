"""Errors the host raises; ``StartupError`` messages name the cause and the fix."""


class StartupError(RuntimeError):
    """The host cannot start: one line saying why and what to do."""


class HostError(RuntimeError):
    """The host hit a state it cannot continue from."""
