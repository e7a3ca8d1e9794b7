"""Resident feedback wired to the gate: committed records and feedback signals in, prompts and
display frames out, on worker threads.

`on_record` runs inside the controller's commit, before the relay moves, so it only picks the
message and hands it over: the voice and the display each have a thread and a one-slot mailbox.
The guard's override shows on the OSDP keypad's own display; a duress override looks the same.
"""
from __future__ import annotations

import base64
import io
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

from gate.clock import Clock
from gate.config.schema import Config
from gate.core.errors import InputError
from gate.core.prompts import IDLE, Outcome, message_for_signal, outcome_for_record
from gate.feedback.pack import PromptPack
from gate.feedback.player import PromptPlayer
from gate.feedback.screen import Screen
from gate.i18n import text
from gate.rules.schedules import WeeklySchedule

log = logging.getLogger("gate.feedback")

# Keys a reload (SIGHUP) applies at once; the audio device and the display need a restart.
RELOADABLE = ("feedback.language", "feedback.voice", "feedback.volume", "feedback.quiet_hours",
              "feedback.quiet_volume", "feedback.prompts_dir", "feedback.display_seconds")
KEYPAD_TEXT_SECONDS = 5


def prompts_dir(cfg: Config) -> Path:
    return cfg.path(cfg.feedback.prompts_dir) if cfg.feedback.prompts_dir else cfg.storage_dir / "prompts"


def detail_line(outcome: Outcome) -> str | None:
    """The display's bottom line: the masked name and the temperature, whichever are known."""
    parts = []
    if outcome.masked_name:
        parts.append(outcome.masked_name)
    if outcome.temperature_c is not None:
        parts.append(f"{outcome.temperature_c:.1f}°C")
    return "  ".join(parts) or None


class Feedback:
    """The voice (`player`, None without a sound card), the display (`screen`, None without one)
    and the guard keypad's display (`keypad`, an OsdpPanel or None)."""

    def __init__(self, cfg: Config, clock: Clock, *, sink=None, display=None, font: Path | None = None,
                 keypad=None):
        self.clock = clock
        self.keypad = keypad
        self.sink = sink
        self.display = display
        self.apply(cfg)
        self.player = None
        if sink is not None:
            self.player = PromptPlayer(sink, PromptPack(prompts_dir(cfg)), language=lambda: self.language,
                                       text_of=text, volume=self.volume_now)
        self.screen = None
        if display is not None and font is not None:
            self.screen = Screen(display, font, lambda: text(IDLE, self.language),
                                 hold_seconds=cfg.feedback.display_seconds, monotonic=clock.monotonic)

    def start(self) -> "Feedback":
        if self.player is not None:
            self.player.start()
        if self.screen is not None:
            self.screen.start()
        return self

    def apply(self, cfg: Config) -> None:
        """Take a (re)loaded config: language, voice, volumes, quiet hours, prompts folder."""
        f = cfg.feedback
        text(IDLE, f.language)  # fails loudly now, not at the next tap, if the catalogue is missing
        self.cfg = cfg
        self.language = f.language
        self.voice = f.voice
        self._quiet = WeeklySchedule.parse(f.quiet_hours)
        self._tz = ZoneInfo(cfg.gate.timezone)
        if getattr(self, "player", None) is not None:
            self.player.pack = PromptPack(prompts_dir(cfg))
        if getattr(self, "screen", None) is not None:
            self.screen.hold_seconds = f.display_seconds
            self.screen.refresh_idle()

    def volume_now(self) -> float:
        f = self.cfg.feedback
        quiet = not self._quiet.always and self._quiet.allows(self.clock.wall(), self._tz)
        return f.quiet_volume if quiet else f.volume

    # --- inputs (controller thread: must return at once) ----------------------------------------
    def on_record(self, rec) -> None:
        outcome = outcome_for_record(rec.type, rec.fields)
        if outcome is None:
            return
        self._give(outcome)
        if rec.type == "override" and self.keypad is not None:
            # The same text for a duress PIN: nothing at the gate may tell the guard's attacker.
            self.keypad.send_text(text(outcome.message_id, "en"), KEYPAD_TEXT_SECONDS)

    def on_signal(self, pattern: str) -> None:
        message = message_for_signal(pattern)
        if message is not None:
            self._give(Outcome(message))

    def _give(self, outcome: Outcome) -> None:
        if self.voice and self.player is not None:
            self.player.say(outcome.message_id)  # never a name: the pack holds fixed sentences only
        if self.screen is not None:
            self.screen.show(text(outcome.message_id, self.language), detail_line(outcome))

    # --- simulation ---------------------------------------------------------------------------
    def sim_state(self) -> dict:
        last = self.player.last if self.player is not None else None
        state = {"prompt": last.text if last else None,
                 "display": self.screen.text if self.screen is not None else None,
                 "language": self.language}
        if last is not None:
            state["prompt_file"], state["prompt_seconds"] = last.file, last.duration_s
        played = getattr(self.sink, "played", None)
        if played is not None:
            state["prompts_played"] = [{"file": p.file, "duration_s": p.duration_s, "volume": p.volume,
                                        "completed": p.completed} for p in played[-10:]]
        return state

    def sim_display(self, png: bool = True) -> dict:
        """What the display shows now: its text and, with `png`, the frame as a base64 PNG."""
        if self.screen is None or self.display.frame is None:
            raise InputError('display: this gate has no display (feedback.display.type = "none")')
        out = {"text": self.screen.text, "width": self.display.size[0], "height": self.display.size[1]}
        if png:
            buf = io.BytesIO()
            self.display.frame.convert("1").save(buf, format="PNG")
            out["png_base64"] = base64.b64encode(buf.getvalue()).decode("ascii")
        return out

    def close(self) -> None:
        for part in (self.player, self.screen, self.display):
            if part is not None:
                try:
                    part.close()
                except Exception:
                    log.exception("closing %r failed", part)


def build_feedback(cfg: Config, clock: Clock, *, simulated: bool, keypad=None) -> Feedback:
    """The feedback of one gate. A missing sound card or display is logged and left out: the gate
    runs without them (`gatectl doctor` names the part)."""
    from drivers.audio import AlsaSink, RecordingSink
    from drivers.display import Display, find_font

    sink = None
    try:
        sink = RecordingSink() if simulated else AlsaSink(cfg.feedback.audio_device)
    except Exception as exc:
        log.error("feedback: no voice: %s", exc)
    display, font = None, None
    d = cfg.feedback.display
    if d.type != "none":
        try:
            font = find_font(str(cfg.path(d.font)) if d.font else "")
            display = Display("dummy" if simulated else d.type, i2c_bus=d.i2c_bus, address=d.address,
                              rotate=d.rotate)
        except Exception as exc:
            log.error("feedback: no display: %s", exc)
            display = None
    has_text = keypad if keypad is not None and hasattr(keypad, "send_text") else None
    return Feedback(cfg, clock, sink=sink, display=display, font=font, keypad=has_text)
