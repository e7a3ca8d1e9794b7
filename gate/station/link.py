"""Wait for the broker: a station command that runs for hours (`watch`) keeps retrying a broker that
is not there yet, with backoff, instead of exiting (`serve` has its own supervisor in web/server.py)."""
from __future__ import annotations

import logging
import threading
from typing import Any

from gate.station.commands import StationLinkError
from gate.station.config import StationConfig
from gate.station.consumer import StationConsumer

log = logging.getLogger("gate.station.link")


def start_consumer_retrying(cfg: StationConfig, stop: threading.Event, *, connect_timeout: float = 5.0,
                            max_delay: float = 30.0, **consumer_args: Any) -> StationConsumer | None:
    """A started StationConsumer once the broker answers (1 s doubling to `max_delay` between tries),
    or None when `stop` is set first."""
    delay = 1.0
    while not stop.is_set():
        consumer = StationConsumer(cfg, **consumer_args)
        try:
            return consumer.start(timeout=connect_timeout)
        except StationLinkError as exc:
            log.warning("%s; retrying in %g s", exc, delay)
            if stop.wait(delay):
                return None
            delay = min(delay * 2, max_delay)
    return None
