"""The police station application: consumer, store, signed commands, view and its CLI, with its
own config. Run by other people on another machine than the gate.

May import `gate.core` (vocabulary), `gate.uplink.signing` and `gate.clock`; never the gate's
runtime, store or cli.
"""
