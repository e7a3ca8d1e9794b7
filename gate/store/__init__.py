"""SQLite storage of a gate: the journal (and its retention), passes, guards, households and the
rules' state, on one transaction helper (`base.SqliteStore`).

May import `gate.core`, `gate.rules` (values and ports) and `gate.clock`; never uplink, runtime or cli.
"""
