"""`gatectl`: the entry point (`main`) and its subcommands (run, admin, guards, households, demo,
doctor and its checks).

The top floor: may import anything in `gate`; nothing imports it.
"""
