"""`gatectl demo`: the simulated gate with everything it needs, in one command.

Creates the command secret when missing, starts a private mosquitto on the configured loopback port
when no broker answers there (stopped again on exit), then runs the daemon in the foreground.
"""
from __future__ import annotations

import socket
import sys

from gate.config.schema import load_config
from gate.core.errors import InputError
from gate.runtime.local_broker import MosquittoBroker
from gate.uplink.signing import write_secret


def _broker_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def ensure_secret(path) -> bool:
    """Create a random 0600 secret file if there is none. True when one was created."""
    if path.exists():
        return False
    write_secret(path)
    return True


def cmd_demo(args) -> int:
    from gate.cli.run import cmd_run

    cfg = load_config(args.config, check_paths=False)
    if cfg.hardware.mode != "simulated":
        raise InputError(f"{args.config}: demo needs hardware.mode = \"simulated\", got {cfg.hardware.mode!r}")
    cfg.storage_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    broker = None
    if cfg.mqtt.enabled:
        secret = cfg.path(cfg.mqtt.command_secret_file)
        if ensure_secret(secret):
            print(f"demo: created the station command secret {secret} (mode 0600)", file=sys.stderr)
        if not _broker_answers(cfg.mqtt.host, cfg.mqtt.port):
            if cfg.mqtt.host not in ("127.0.0.1", "localhost", "::1"):
                raise InputError(f"mqtt.host: no broker answers on {cfg.mqtt.host}:{cfg.mqtt.port}")
            broker = MosquittoBroker(cfg.mqtt.port, persistence=True).start()
            print(f"demo: started mosquitto (pid {broker.pid}) on 127.0.0.1:{cfg.mqtt.port}", file=sys.stderr)
    print(
        "demo: the gate is starting. In another terminal try:\n"
        f"  gatectl passes -c {args.config} add DEADBEEF --name 'Wang Li' --household 3-201\n"
        f"  gatectl sim -c {args.config} tap DEADBEEF\n"
        f"  gatectl sim -c {args.config} door open; gatectl sim -c {args.config} door close\n"
        f"  gatectl events -c {args.config}",
        file=sys.stderr,
    )
    try:
        return cmd_run(args)
    finally:
        if broker is not None:
            broker.close()


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the simulated gate with a local broker (creates the secret)")
    p.add_argument("-c", "--config", default="config/simulated.toml")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_demo)
