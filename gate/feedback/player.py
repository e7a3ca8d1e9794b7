"""Spoken prompts on their own thread: the newest prompt replaces a stale one, never the main loop
waits for a sound card. A prompt asked for while another plays cuts it short."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

log = logging.getLogger("gate.feedback.voice")


@dataclass(frozen=True)
class Spoken:
    """The last prompt handed to the sound card."""

    message_id: str
    text: str
    file: str
    duration_s: float
    volume: float


class PromptPlayer:
    """Plays `pack.file(lang, message_id)` through `sink` at `volume()`. `say()` returns at once."""

    def __init__(self, sink, pack, *, language, text_of, volume):
        self.sink = sink
        self.pack = pack
        self.language = language  # callables: read at play time, so a reload takes effect at once
        self.text_of = text_of
        self.volume = volume
        self.last: Spoken | None = None
        self.missing: set[str] = set()
        self._cond = threading.Condition()
        self._pending: str | None = None
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="feedback-voice", daemon=True)

    def start(self) -> "PromptPlayer":
        self._thread.start()
        return self

    def say(self, message_id: str) -> None:
        with self._cond:
            self._pending = message_id
            busy = self._busy
            self._cond.notify()
        if busy:
            self.sink.stop()  # stale: the resident already hears the next outcome

    def _run(self) -> None:
        from drivers.audio import wav_duration

        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._pending is not None)
                if self._closed:
                    return
                message_id, self._pending = self._pending, None
                self._busy = True
            try:
                lang = self.language()
                path = self.pack.file(lang, message_id)
                if path is None:
                    if (lang, message_id) not in self.missing:
                        self.missing.add((lang, message_id))
                        log.warning("no prompt file for %s in %s (run gatectl prompts build)", message_id, lang)
                    continue
                volume = self.volume()
                with self._cond:
                    if self._pending is not None:
                        continue  # already stale before it started
                self.last = Spoken(message_id, self.text_of(message_id, lang), str(path),
                                   round(wav_duration(path), 3), volume)
                self.sink.play(path, volume)
            except Exception:  # a broken sound card must not stop the gate
                log.exception("prompt %s failed", message_id)
            finally:
                with self._cond:
                    self._busy = False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self.sink.stop()
        close = getattr(self.sink, "close", None)
        if close is not None:
            close()
        if self._thread.is_alive():
            self._thread.join(2.0)
