"""The prompt pack: one WAV file per message and language, `DIR/LANG/MESSAGE_ID.wav`.

`gatectl prompts build` renders the pack once at install with Debian's espeak-ng (Mandarin voice
`cmn`). A site may put its own recordings there instead (clearer than any synthesiser): a file the
build did not write is never overwritten. `.rendered.json` in each language folder remembers the
text each synthesised file says, so a changed catalogue text is rendered again.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from gate.core.prompts import IDLE, MESSAGE_IDS
from gate.i18n import text

VOICES = {"zh-CN": "cmn", "en": "en"}
SPOKEN = tuple(m for m in MESSAGE_IDS if m != IDLE)  # the idle text is shown, never spoken
WORDS_PER_MINUTE = 150  # a little slower than espeak-ng's 175: elderly residents, a noisy street
MANIFEST = ".rendered.json"


class PromptBuildError(RuntimeError):
    """espeak-ng is missing or failed on a prompt."""


@dataclass
class BuildReport:
    rendered: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)  # site files left alone


class PromptPack:
    """The WAV files of one prompts folder."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def file(self, lang: str, message_id: str) -> Path | None:
        path = self.root / lang / f"{message_id}.wav"
        return path if path.is_file() else None

    def missing(self, lang: str) -> list[str]:
        return [m for m in SPOKEN if self.file(lang, m) is None]

    def build(self, languages, *, espeak: str = "espeak-ng", force: bool = False) -> BuildReport:
        exe = shutil.which(espeak)
        if exe is None:
            raise PromptBuildError(f"{espeak} not found: install the Debian package espeak-ng "
                                   "(or put recordings in the prompts folder)")
        report = BuildReport()
        for lang in languages:
            folder = self.root / lang
            folder.mkdir(parents=True, exist_ok=True)
            manifest_path = folder / MANIFEST
            manifest = _read_manifest(manifest_path)
            for message_id in SPOKEN:
                spoken = text(message_id, lang)
                target = folder / f"{message_id}.wav"
                label = f"{lang}/{message_id}.wav"
                if target.exists() and message_id not in manifest and not force:
                    report.recordings.append(label)
                    continue
                if target.exists() and manifest.get(message_id) == spoken and not force:
                    report.unchanged.append(label)
                    continue
                _render(exe, VOICES[lang], spoken, target)
                manifest[message_id] = spoken
                report.rendered.append(label)
            tmp = manifest_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, manifest_path)
        return report


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _render(exe: str, voice: str, spoken: str, target: Path) -> None:
    tmp = target.with_name(target.name + ".part")
    done = subprocess.run([exe, "-v", voice, "-s", str(WORDS_PER_MINUTE), "-w", str(tmp), "--", spoken],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0 or not tmp.is_file() or tmp.stat().st_size <= 44:
        tmp.unlink(missing_ok=True)
        raise PromptBuildError(f"espeak-ng -v {voice} failed on {target.name}: {done.stderr.strip() or done.returncode}")
    os.replace(tmp, target)
