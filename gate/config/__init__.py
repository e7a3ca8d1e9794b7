"""The gate's configuration: the TOML schema as frozen dataclasses (`schema`), the loader that
names every problem by key path (`loader`), cross-key checks and the domain settings derived
from a config (`checks`), and the example file renderer (`doc`).

May import `gate.core` and `gate.rules` (their settings); never store, uplink, runtime or cli.
"""
