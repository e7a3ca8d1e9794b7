"""SIA DC-09 alarm transmission (the premises side): frames, encryption, the event map, a durable
outbox and the receiver links that deliver it until each message is acknowledged.

May import `gate.core` and `gate.clock` only, so the gate's runtime and the station both use it;
`cryptography` is imported only when a receiver has a key.
"""
