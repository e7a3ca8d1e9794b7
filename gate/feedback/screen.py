"""The display's state on its own thread: the idle prompt, an outcome for `display_seconds`, then
the idle prompt again. Drawing and the I2C transfer (≈25 ms a frame) never run on the main loop;
a newer outcome replaces one not yet drawn."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from gate.feedback.frames import render

log = logging.getLogger("gate.feedback.display")


class Screen:
    """Shows messages on a `drivers.display.Display`. `text` is what the glass shows now."""

    def __init__(self, display, font: Path, idle_text, *, hold_seconds: float = 5.0,
                 monotonic=time.monotonic):
        self.display = display
        self.font = font
        self.idle_text = idle_text  # a callable: the idle prompt in the current language
        self.hold_seconds = hold_seconds
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._request: tuple[str, str | None] | None = None
        self._until: float | None = None  # when the outcome on the glass gives way to the idle prompt
        self._closed = False
        self.text = ""
        self._thread = threading.Thread(target=self._run, name="feedback-display", daemon=True)

    def start(self) -> "Screen":
        self._show(self.idle_text(), None)
        self._thread.start()
        return self

    def show(self, message: str, detail: str | None = None) -> None:
        """Show `message` (and `detail`: masked name, temperature) for hold_seconds. Never blocks."""
        with self._cond:
            self._request = (message, detail, True)
            self._cond.notify()

    def refresh_idle(self) -> None:
        """Draw the idle prompt again now unless an outcome is showing (after a language change)."""
        with self._cond:
            if self._until is None and self._request is None:
                self._request = (self.idle_text(), None, False)
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and self._request is None:
                    if self._until is None:
                        self._cond.wait()
                        continue
                    remaining = self._until - self._monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._closed:
                    return
                request, self._request = self._request, None
                if request is None:  # the outcome's time is up: back to idle (name and temperature go)
                    request = (self.idle_text(), None, False)
                message, detail, held = request
                self._until = self._monotonic() + self.hold_seconds if held else None
            self._show(message, detail)

    def _show(self, message: str, detail: str | None) -> None:
        try:
            image, lines = render(message, detail, self.font, self.display.size)
            self.display.show(image)
            self.text = "\n".join(lines)
        except Exception:  # a loose display cable must not stop the gate
            log.exception("display update failed")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(2.0)
