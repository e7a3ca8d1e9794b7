"""`gatectl prompts` (the spoken prompt pack) and `gatectl sim display` (what the display shows)."""
from __future__ import annotations

import base64
import json
from pathlib import Path

from gate.cli.run import EXIT_FAIL, EXIT_OK
from gate.config.schema import load_config
from gate.core.errors import InputError
from gate.i18n import LANGUAGES


def cmd_prompts(args) -> int:
    from gate.feedback.hub import prompts_dir
    from gate.feedback.pack import PromptBuildError, PromptPack

    cfg = load_config(args.config, check_paths=False)
    pack = PromptPack(prompts_dir(cfg))
    languages = args.language or [cfg.feedback.language]
    if args.prompts_action == "build":
        try:
            report = pack.build(languages, force=args.force)
        except PromptBuildError as exc:
            print(f"gatectl prompts build: {exc}")
            return EXIT_FAIL
        except OSError as exc:
            print(f"gatectl prompts build: {pack.root}: {exc.strerror or exc}")
            return EXIT_FAIL
        print(f"{pack.root}: {len(report.rendered)} rendered, {len(report.unchanged)} unchanged, "
              f"{len(report.recordings)} site recording(s) kept")
        for label in report.recordings:
            print(f"  kept recording {label}")
    missing = {lang: pack.missing(lang) for lang in languages}
    for lang, ids in missing.items():
        if ids:
            print(f"{lang}: missing {', '.join(ids)} (run: gatectl prompts -c CONFIG build --language {lang})")
    if args.prompts_action == "status" and not any(missing.values()):
        print(f"{pack.root}: complete for {', '.join(languages)}")
    return EXIT_FAIL if any(missing.values()) else EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser("prompts", help="the spoken prompt pack: build it with espeak-ng, or check it")
    p.add_argument("-c", "--config", required=True, help="the gate's configuration file")
    acts = p.add_subparsers(dest="prompts_action", required=True)
    for name, text in (("build", "render every prompt with espeak-ng (site recordings are kept)"),
                       ("status", "list the prompts the pack lacks (exit 1 when any)")):
        a = acts.add_parser(name, help=text)
        a.add_argument("--language", action="append", choices=LANGUAGES,
                       help="a language to build or check (repeatable; default: feedback.language)")
        if name == "build":
            a.add_argument("--force", action="store_true", help="render again, replacing site recordings too")
    p.set_defaults(func=cmd_prompts)


def cmd_sim_display(args) -> int:
    """`gatectl sim display [--png FILE]`: print what the display shows; save its frame as a PNG."""
    from gate.runtime.simcontrol import send_sim

    cfg = load_config(args.config, check_paths=False)
    if cfg.hardware.mode != "simulated":
        raise InputError(f"{args.config}: hardware.mode is {cfg.hardware.mode!r}; sim needs \"simulated\"")
    result = send_sim(cfg.storage_dir, "display", {"png": bool(args.png)})
    if args.png:
        data = base64.b64decode(result.pop("png_base64"))
        Path(args.png).write_bytes(data)
        result["png"] = str(args.png)
    result.pop("png_base64", None)
    print(json.dumps(result, ensure_ascii=False, sort_keys=True))
    return EXIT_OK


def add_sim_display_parser(acts) -> None:
    d = acts.add_parser("display", help="what the display shows now (text; --png saves the frame)")
    d.add_argument("--png", metavar="FILE", help="save the 128x64 frame as a PNG file")
    d.set_defaults(func=cmd_sim_display)
