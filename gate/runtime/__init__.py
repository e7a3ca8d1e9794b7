"""The running daemon: the composition root (`daemon`), the controller that applies the core's
actions, the hardware factories (Pi and simulated), the sim control socket, reload, sd_notify and
the local broker for the demo.

May import every floor below (config, uplink, store, rules, core), `drivers` and `firmware_bridge`;
never `gate.cli` or `gate.station`.
"""
