"""`gatectl run`: the gate daemon in the foreground, under systemd or a terminal."""
from __future__ import annotations

import logging
import signal
import sys
import threading

from gate.cli.daemon_lock import hold_for_process
from gate.config.schema import load_config

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def cmd_run(args) -> int:
    import os

    from gate.runtime.daemon import GateDaemon
    from gate.runtime.sdnotify import Notifier

    cfg = load_config(args.config)
    hold_for_process(cfg.storage_dir)   # exit 2 if another daemon runs on this storage dir
    # Under systemd, journald stamps every line itself (JOURNAL_STREAM is set for us).
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format=stamp + "%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    log = logging.getLogger("gate")
    stop = threading.Event()
    notifier = Notifier.from_env(unset=True)  # no-op unless started by systemd (Type=notify)
    daemon = GateDaemon(cfg)
    # Pinged from the main loop: a stalled loop misses WatchdogSec and systemd restarts the gate.
    daemon.loop_hooks.append(notifier.watchdog)
    # A reader thread that died is reported as a device fault and restarted (it should never die).
    daemon.loop_hooks.append(lambda: daemon.rfid_poller is not None and daemon.rfid_poller.ensure_alive())

    def on_signal(signum, _frame):
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()
        daemon.request_stop()

    def reloaded(future) -> None:
        # Runs on the main loop thread once the reload was applied or refused.
        exc = future.exception()
        notifier.ready(f"reload failed: {exc}" if exc else future.result().summary())

    def on_hup(_signum, _frame):
        log.info("signal SIGHUP: reloading %s", args.config)
        notifier.reloading()
        daemon.reload(args.config).add_done_callback(reloaded)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hup)
    try:
        notifier.status("starting: claiming the hardware")
        daemon.start()
        notifier.ready(f"gate {cfg.gate.id} running ({cfg.hardware.mode})")
        daemon.run(stop)
    finally:
        notifier.stopping("stopping: engaging the lock")
        daemon.close()
        notifier.close()
    return EXIT_OK
