"""The rejection of a station command, and the size limits every stage of command handling shares."""
from __future__ import annotations

from gate.core.errors import InputError

MAX_ID_CHARS = 128
MAX_PAYLOAD_BYTES = 1024 * 1024


class CommandRejected(InputError):
    """A command failed verification. `reason` is one of command_gate's documented codes."""

    def __init__(self, reason: str, detail: str, *, cmd_id: str = "", action: str = ""):
        self.reason, self.detail, self.cmd_id, self.action = reason, detail, cmd_id, action
        super().__init__(f"{reason}: {detail}" if detail else reason)
