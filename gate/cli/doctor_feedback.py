"""The doctor's rows for resident feedback: the sound card, the prompt pack, the display."""
from __future__ import annotations

import shutil

from gate.cli.doctor_checks import FAIL, PASS, SKIP, WARN, CheckResult, _error_text
from gate.config.schema import Config

DISPLAY_WIRING_HINT = ("check VCC 3.3 V, GND, SDA -> GPIO2, SCL -> GPIO3; is I2C enabled (sudo raspi-config "
                       "nonint do_i2c 0)? `i2cdetect -y BUS` should show the address (3c or 3d)")


def check_audio(cfg: Config) -> CheckResult:
    """The ALSA device plays: 0.1 s of silence through `aplay -D feedback.audio_device`."""
    name = "audio"
    if not cfg.feedback.voice:
        return CheckResult(name, SKIP, "voice prompts are off (feedback.voice = false)")
    if cfg.hardware.mode == "simulated":
        return CheckResult(name, PASS, "simulated: prompts go to the recording sink")
    import io
    import subprocess
    import wave

    aplay = shutil.which("aplay")
    if aplay is None:
        return CheckResult(name, FAIL, "aplay not found", "sudo apt install alsa-utils")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(22050), w.writeframes(b"\0\0" * 2205)
    device = cfg.feedback.audio_device
    try:
        done = subprocess.run([aplay, "-q", "-D", device, "-"], input=buf.getvalue(), capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        return CheckResult(name, FAIL, f"aplay -D {device}: no answer within 10 s", "is the device busy? aplay -L")
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        return CheckResult(name, FAIL, f"aplay -D {device}: {err[-1] if err else done.returncode}",
                           "list the devices with aplay -L and set feedback.audio_device; a USB speaker "
                           "or the headphone jack (sudo raspi-config: System > Audio)")
    return CheckResult(name, PASS, f"ALSA device {device!r} plays")


def check_prompts(cfg: Config) -> CheckResult:
    """Every prompt of feedback.language has a WAV file in the pack."""
    name = "prompt pack"
    if not cfg.feedback.voice:
        return CheckResult(name, SKIP, "voice prompts are off (feedback.voice = false)")
    from gate.feedback.hub import prompts_dir
    from gate.feedback.pack import SPOKEN, PromptPack

    pack = PromptPack(prompts_dir(cfg))
    lang = cfg.feedback.language
    missing = pack.missing(lang)
    if missing:  # the gate runs (lights, buzzer, display) but speaks nothing: a warning
        return CheckResult(name, WARN, f"{pack.root}/{lang}: {len(missing)} of {len(SPOKEN)} prompts missing "
                           f"({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''})",
                           f"gatectl prompts -c CONFIG build (needs espeak-ng), or record them as {lang}/MESSAGE.wav")
    return CheckResult(name, PASS, f"{pack.root}/{lang}: all {len(SPOKEN)} prompts")


def check_display(cfg: Config) -> CheckResult:
    """The CJK font is installed and the display takes a frame (the idle screen)."""
    name = "display"
    d = cfg.feedback.display
    if d.type == "none":
        return CheckResult(name, SKIP, 'no display configured (feedback.display.type = "none")')
    from drivers.display import FONT_PACKAGE, Display, find_font

    try:
        font = find_font(str(cfg.path(d.font)) if d.font else "")
    except ValueError as exc:
        return CheckResult(name, FAIL, str(exc), f"sudo apt install {FONT_PACKAGE}")
    kind = "dummy" if cfg.hardware.mode == "simulated" else d.type
    try:
        from gate.feedback.frames import render
        from gate.i18n import text

        with Display(kind, i2c_bus=d.i2c_bus, address=d.address, rotate=d.rotate) as display:
            image, _ = render(text("idle", cfg.feedback.language), None, font, display.size)
            display.show(image)
    except ValueError as exc:  # luma.oled not installed, unknown type
        return CheckResult(name, FAIL, str(exc), "pip install 'compound-gate[feedback]'")
    except OSError as exc:
        return CheckResult(name, FAIL, _error_text(exc), DISPLAY_WIRING_HINT)
    where = "simulated (luma dummy)" if kind == "dummy" else f"{d.type} at I2C bus {d.i2c_bus} address {d.address:#04x}"
    return CheckResult(name, PASS, f"{where}: idle screen shown, font {font.name}")


def feedback_checks(cfg: Config) -> list[CheckResult]:
    return [check_audio(cfg), check_prompts(cfg), check_display(cfg)]
