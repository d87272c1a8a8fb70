"""The edge: ``agentflow serve``, an ASGI app that takes events over HTTP.

* ``POST /v1/events``: an agentflow envelope as JSON, signed with the HMAC headers
  (``af-key-id``, ``af-signature``) as a Kafka producer would sign it;
* ``POST /v1/webhooks/{source}``: a provider's webhook (GitHub, Stripe, a generic HMAC header),
  verified with the provider's own signature and mapped to an envelope by a declarative
  mapping (:mod:`edge.webhooks`), then signed for the source.

Each is answered 202 only once the broker acknowledged the record on the ingress topic, 4xx
with the gate's reason code for what can be refused at the edge, 429 over a source's rate and
503 while the broker is unavailable. The gate still checks everything again.
"""
