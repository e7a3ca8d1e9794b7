"""`gatectl demo`: the simulated gate with everything it needs, in one command.

Creates the command secret when missing, starts a private mosquitto on the configured loopback port
when no broker answers there (stopped again on exit), with `--station` also the station (`serve`:
consumer and officers' web console, an officer `demo` created on first use), then runs the daemon in
the foreground.
"""
from __future__ import annotations

import secrets
import socket
import subprocess
import sys

from gate.cli.daemon_lock import hold_for_process
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


def gatectl_command() -> str:
    """How to run this very gatectl from the current folder (the venv's, not whatever is on PATH)."""
    import os
    import shlex
    from pathlib import Path

    exe = Path(sys.argv[0])
    if exe.name != "gatectl":
        return f"{shlex.quote(sys.executable)} -m gate.cli"
    exe = exe if exe.is_absolute() else Path.cwd() / exe
    try:
        shown = os.path.relpath(exe)
    except ValueError:
        shown = str(exe)
    if not shown.startswith(".."):
        shown = shown if "/" in shown else "./" + shown
    return shlex.quote(shown if not shown.startswith("..") else str(exe))


def demo_hints(config: str, unlock_seconds: float) -> str:
    """Copy-paste correct commands for a second terminal (temperature first: screening is on)."""
    g, c = gatectl_command(), config
    return (
        "demo: the gate is starting. In another terminal (same folder) try:\n"
        f"  {g} passes -c {c} add DEADBEEF --name 'Wang Li' --household 3-201\n"
        f"  {g} sim -c {c} temp 36.6\n"
        f"  {g} sim -c {c} tap DEADBEEF && {g} sim -c {c} door open && {g} sim -c {c} door close\n"
        f"  {g} events -c {c}\n"
        f"demo: a grant releases the lock for {unlock_seconds:g} s (lock.unlock_seconds): open the door "
        "within that, or the opening is forced_open")


def cmd_demo(args) -> int:
    from gate.cli.run import cmd_run

    cfg = load_config(args.config, check_paths=False)
    if cfg.hardware.mode != "simulated":
        raise InputError(f"{args.config}: demo needs hardware.mode = \"simulated\", got {cfg.hardware.mode!r}")
    cfg.storage_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    hold_for_process(cfg.storage_dir)   # before the broker: a second demo changes nothing
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
    ensure_prompt_pack(cfg)
    station = start_station(args.station) if args.station else None
    print(demo_hints(args.config, cfg.lock.unlock_seconds), file=sys.stderr)
    try:
        return cmd_run(args)
    finally:
        if station is not None:
            stop_child(station)
        if broker is not None:
            broker.close()


def ensure_prompt_pack(cfg) -> None:
    """The residents' spoken prompts for the demo gate, rendered once (espeak-ng) when missing; a demo
    without espeak-ng still runs, and says how to get the voice."""
    from gate.feedback.hub import prompts_dir
    from gate.feedback.pack import PromptBuildError, PromptPack

    if not cfg.feedback.voice:
        return
    pack = PromptPack(prompts_dir(cfg))
    languages = sorted({cfg.feedback.language, "zh-CN", "en"})
    if not any(pack.missing(lang) for lang in languages):
        return
    try:
        report = pack.build(languages)
    except (PromptBuildError, OSError) as exc:
        print(f"demo: no spoken prompts ({exc}); the gate runs without them", file=sys.stderr)
        return
    print(f"demo: rendered {len(report.rendered)} spoken prompts into {pack.root}", file=sys.stderr)


def start_station(station_config: str) -> subprocess.Popen:
    """`gatectl station -c STATION serve` as a child (stopped with the demo); an officer `demo` with a
    fresh random password is created when the station has no officer yet, and the password printed."""
    from gate.station.accounts import Accounts
    from gate.station.config import load_station_config

    scfg = load_station_config(station_config)
    login = ""
    with Accounts(scfg.store) as accounts:
        if not accounts.officers():
            password = secrets.token_urlsafe(9)
            accounts.add_officer("demo", password, role="supervisor")
            login = f" (log in as demo, password {password}; more: gatectl station -c {station_config} officers add)"
    child = subprocess.Popen([sys.executable, "-m", "gate.cli", "station", "-c", station_config, "serve"])
    print(f"demo: the station runs (pid {child.pid}): http://{scfg.web.host}:{scfg.web.port}/{login}",
          file=sys.stderr)
    return child


def stop_child(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the simulated gate with a local broker (creates the secret)")
    p.add_argument("-c", "--config", default="config/simulated.toml", metavar="CONFIG",
                   help="a simulated gate config (default config/simulated.toml)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="log verbosity on stderr (default info)")
    p.add_argument("--station", metavar="STATION.toml",
                   help="also run the station (consumer and web console) with this config, e.g. "
                        "config/station-demo.toml; needs the station extra")
    p.set_defaults(func=cmd_demo)
