"""docs/interface.md is kept in step with the code: what it names exists, and the docs link it."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from gate.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "interface.md").read_text(encoding="utf-8")


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def test_the_sim_actions_the_doc_names_exist():
    sim = subparsers(subparsers(build_parser())["sim"])
    section = DOC.split("## 3. Simulation", 1)[1].split("\n## 4.", 1)[0]
    named = set(re.findall(r"^\| `([a-z]+)", section, re.M))
    assert {"tap", "temp", "door", "keys", "exit", "fire", "tamper", "state", "reader", "keypad"} <= named
    assert named <= set(sim), named - set(sim)
    assert {"--hold", "--wait", "--no-wait", "--card", "--with", "--fault"} <= options(sim["tap"])


def test_the_gate_commands_and_options_the_doc_names_exist():
    top = subparsers(build_parser())
    for command in ("run", "check-config", "sim", "passes", "guards", "events", "demo", "station"):
        assert f"`gatectl {command}" in DOC and command in top, command
    passes = subparsers(top["passes"])
    assert {"--replace", "--valid-from", "--valid-until", "--household", "--type"} <= options(passes["add"])
    assert "--encoding" in options(passes["import"])
    guards = subparsers(top["guards"])
    assert {"--duress", "--replace", "--no-duress"} <= options(guards["add"]) and {"remove", "list"} <= set(guards)
    assert {"--station", "--gate"} <= options(top["check-config"])
    assert "--version" in options(build_parser()) and "`gatectl --version`" in DOC
    station = subparsers(top["station"])
    assert {"watch", "send", "ack", "gaps"} <= set(station)
    for planned in ("serve", "officers", "history"):
        assert planned in station or re.search(rf"`?{planned}\b[^\n]*\(planned\)|\(planned\)\** `{planned}", DOC), planned


def test_docs_link_the_interface_in_the_repository():
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        assert "/work/shared" not in text and "../shared/" not in text, path
        for target in re.findall(r"\]\(([^)#]*interface\.md)", text):
            assert (path.parent / target).resolve() == (REPO / "docs" / "interface.md"), (path, target)
