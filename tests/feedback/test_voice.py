"""The voice: the prompt pack (espeak-ng, site recordings), the player (newest replaces stale, quiet
hours), the sinks (ALSA through aplay on its null device, the recording sink of simulation)."""
from __future__ import annotations

import json
import shutil
import wave
from datetime import datetime, timezone
from pathlib import Path

import pytest

from feedbackkit import gatectl
from gatefixture import GateProcess, wait_for

from drivers.audio import AlsaSink, RecordingSink, scaled_wav, wav_duration
from drivers.errors import DeviceConfigError
from gate.clock import FakeClock
from gate.config.schema import parse_config
from gate.feedback.hub import Feedback
from gate.feedback.pack import MANIFEST, SPOKEN, PromptPack
from gate.i18n import text

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("prompts")
    PromptPack(root).build(["zh-CN", "en"])
    return root


@needs_espeak
def test_the_pack_holds_every_prompt_in_both_languages(pack_dir):
    for lang in ("zh-CN", "en"):
        assert PromptPack(pack_dir).missing(lang) == []
        with wave.open(str(pack_dir / lang / "door_held_open.wav")) as w:
            assert w.getframerate() == 22050 and w.getsampwidth() == 2
        assert wav_duration(pack_dir / lang / "door_held_open.wav") > 0.5
        manifest = json.loads((pack_dir / lang / MANIFEST).read_text(encoding="utf-8"))
        assert manifest["door_held_open"] == text("door_held_open", lang)
    assert not (pack_dir / "zh-CN" / "idle.wav").exists()  # the idle screen is never spoken


@needs_espeak
def test_a_site_recording_is_kept_and_a_changed_text_is_rendered_again(tmp_path, pack_dir):
    root = tmp_path / "prompts"
    shutil.copytree(pack_dir, root)
    recording = root / "zh-CN" / "granted.wav"
    manifest_path = root / "zh-CN" / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    del manifest["granted"]  # the site replaced it with its own recording
    manifest["fever"] = "an older text"
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    recording.write_bytes(scaled_wav(pack_dir / "en" / "granted.wav", 1.0))
    before = recording.read_bytes()
    report = PromptPack(root).build(["zh-CN"])
    assert report.recordings == ["zh-CN/granted.wav"] and recording.read_bytes() == before
    assert report.rendered == ["zh-CN/fever.wav"]
    assert len(report.unchanged) == len(SPOKEN) - 2


@needs_espeak
def test_gatectl_prompts_build_and_status(tmp_path):
    gate = GateProcess(tmp_path, port=1)
    done = gatectl("prompts", "-c", str(gate.config), "status")
    assert done.returncode == 1 and "zh-CN: missing" in done.stdout and "build --language zh-CN" in done.stdout
    done = gatectl("prompts", "-c", str(gate.config), "build")
    assert done.returncode == 0, done.stdout
    assert f"{len(SPOKEN)} rendered" in done.stdout
    done = gatectl("prompts", "-c", str(gate.config), "status")
    assert done.returncode == 0 and "complete for zh-CN" in done.stdout
    assert (gate.storage / "prompts" / "zh-CN" / "fever.wav").is_file()


def _feedback(pack_dir: Path, toml: str = "", clock=None):
    cfg = parse_config(__import__("tomllib").loads(f'[storage]\ndir = "{pack_dir.parent}"\n'
                                                   f'[feedback]\nprompts_dir = "{pack_dir}"\n' + toml),
                       pack_dir.parent, check_paths=False)
    sink = RecordingSink(real_time=False)  # plays take no time; held ones block until released
    return Feedback(cfg, clock or FakeClock(), sink=sink).start(), sink


class _Rec:
    def __init__(self, type_, **fields):
        self.type, self.fields = type_, fields


@needs_espeak
def test_the_newest_prompt_replaces_a_stale_one(pack_dir):
    feedback, sink = _feedback(pack_dir)
    try:
        sink.hold()
        feedback.on_record(_Rec("access_granted", name="王小明"))
        assert sink.wait_playing()
        feedback.on_record(_Rec("access_refused", reason="expired"))  # stale before it was ever played
        feedback.on_record(_Rec("access_refused", reason="unknown_card"))
        sink.release()
        assert sink.wait_played(2)
        wait_for(lambda: sink.playing is None, 10, "playback done")
        files = [Path(p.file).name for p in sink.played]
        assert files == ["granted.wav", "refused_unknown_card.wav"]
        assert sink.played[0].completed is False and sink.played[1].completed is True
        assert feedback.sim_state()["prompt"] == text("refused_unknown_card", "zh-CN")
    finally:
        feedback.close()


@needs_espeak
def test_quiet_hours_lower_the_volume_in_local_time(pack_dir):
    # 15:30 UTC is 23:30 in Shanghai: inside "daily 22:00-07:00"
    clock = FakeClock(datetime(2026, 12, 2, 15, 30, tzinfo=timezone.utc))
    feedback, sink = _feedback(pack_dir, 'volume = 0.9\nquiet_volume = 0.2\nquiet_hours = ["daily 22:00-07:00"]\n'
                                         '[gate]\ntimezone = "Asia/Shanghai"\n', clock)
    try:
        assert feedback.volume_now() == 0.2
        clock.advance(9 * 3600)  # 08:30 in Shanghai
        assert feedback.volume_now() == 0.9
        feedback.on_signal("prealarm")
        assert sink.wait_played(1)
        assert sink.played[0].volume == 0.9 and sink.played[0].file.endswith("door_held_open.wav")
    finally:
        feedback.close()


@needs_espeak
def test_voice_off_speaks_nothing(pack_dir):
    feedback, sink = _feedback(pack_dir, "voice = false\n")
    try:
        feedback.on_record(_Rec("access_granted"))
        assert not sink.wait_playing(0.3)
        assert feedback.sim_state()["prompt"] is None
    finally:
        feedback.close()


@needs_espeak
def test_scaled_samples_follow_the_volume(pack_dir):
    source = pack_dir / "en" / "granted.wav"
    with wave.open(str(source)) as w:
        loud = w.readframes(w.getnframes())
    import array
    import io

    half = scaled_wav(source, 0.5)
    with wave.open(io.BytesIO(half)) as w:
        quiet = w.readframes(w.getnframes())
    a, b = array.array("h", loud), array.array("h", quiet)
    assert len(a) == len(b) and max(map(abs, b)) == pytest.approx(max(map(abs, a)) / 2, abs=1)


@pytest.mark.skipif(shutil.which("aplay") is None, reason="aplay (alsa-utils) not installed")
@needs_espeak
def test_the_alsa_sink_plays_through_aplay(pack_dir):
    AlsaSink("null").play(pack_dir / "zh-CN" / "granted.wav", 0.5)  # ALSA's null device: a real aplay run
    with pytest.raises(DeviceConfigError, match="no-such-device"):
        AlsaSink("no-such-device").play(pack_dir / "zh-CN" / "granted.wav")


def test_a_missing_aplay_is_named():
    with pytest.raises(DeviceConfigError, match="alsa-utils"):
        AlsaSink(aplay="aplay-not-installed-here")
