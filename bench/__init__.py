"""Throughput bench: the agentflow stream host against a raw-client limit, Quix Streams and faust.

``python -m bench`` (or ``make bench``) runs every contender on the same pre-produced input and
writes ``bench/results/latest.json``; ``python -m bench.profile_host`` profiles the host's hot
path. See ``bench/README.md``.
"""
