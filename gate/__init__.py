"""Compound gate controller and its police station, in floors that import downwards only:

    cli → runtime → config → (uplink → store, rules) → core        station → (uplink.signing, core)

`gate.clock` (the monotonic and wall clocks every floor is handed) is a leaf any floor but the core
may import. docs/architecture.md has the picture; tests/test_import_graph.py keeps it standing.
"""
