"""Tiny faust-streaming apps that the integration tests run as worker subprocesses."""
