"""Small real HTTP back-ends that the example workflows' tools call."""
