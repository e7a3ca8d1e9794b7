"""The MQTT side of a gate: the paho session, the journal outbox, the retained status, the bounded
command path (queue, parser, service), command verification (signatures, replay window and floor)
and the remote actions those commands carry.

May import `gate.store`, `gate.core` and `gate.clock`; never runtime or cli. The station reuses `signing`.
"""
