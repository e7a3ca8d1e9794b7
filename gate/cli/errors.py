"""One line for an expected operating-system error: the path, what went wrong, what to do."""
from __future__ import annotations

import errno
import sqlite3
import sys

EXIT_FAIL = 1

_HINTS = {
    errno.EACCES: "run as the gate's user (sudo -u gate …) or create it with: "
                  "sudo install -d -o gate -g gate -m 0750 {path}",
    errno.EPERM: "run as the gate's user (sudo -u gate …) or fix the owner: sudo chown gate:gate {path}",
    errno.ENOENT: "create the folder (sudo install -d -o gate -g gate -m 0750 {parent}) or fix the path "
                  "in the config",
    errno.ENOSPC: "the disk is full: free space (journalctl --vacuum-size=…, old files) and try again",
    errno.EROFS: "the file system is read-only: check the SD card (dmesg) or the mount",
    errno.ENOTDIR: "a part of the path is a file, not a folder: fix the path in the config",
}


def report_os_error(exc: BaseException) -> int:
    """Print `gatectl: PATH: problem; hint` on stderr and return exit code 1."""
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        hint = ("the disk is full: free space and try again" if "full" in text
                else "another program holds the database; try again" if "locked" in text
                else "run gatectl doctor -c CONFIG")
        print(f"gatectl: database error: {text}; {hint}", file=sys.stderr)
        return EXIT_FAIL
    path = getattr(exc, "filename", None)
    reason = getattr(exc, "strerror", None) or str(exc)
    code = getattr(exc, "errno", None)
    where = f"{path}: " if path else ""
    hint = _HINTS.get(code, "")
    if hint:
        from pathlib import Path

        shown = path or "the folder"
        hint = "; " + hint.format(path=shown, parent=Path(str(shown)).parent)
    print(f"gatectl: {where}{reason}{hint}", file=sys.stderr)
    return EXIT_FAIL


def storage_hint(exc: BaseException) -> str:
    """A hint for a database error that is really the disk's (full, or a file size limit)."""
    text = str(exc)
    if "disk is full" in text or "disk I/O error" in text:
        return "; the disk may be full or failing: check free space (df -h) and dmesg"
    return ""
