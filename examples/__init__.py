"""Examples that ship with agentflow: two workflows and a counter processor.

Imported only by the CLI's defaults (``AGENTFLOW_WORKFLOWS``), the demo, the bench and tests;
the framework packages never import them.
"""
