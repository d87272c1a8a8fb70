"""agentflow: a Kafka-native runtime for event-driven AI-agent workflows."""

__version__ = "0.1.0"
