"""Small example processors, used by tests and the bench."""
