"""Serving `P/G/cmd`: bounded queue → bounded parse → verify → action → one answer (or a summary).

The uplink worker calls `serve()` once per pass, between publishing the outbox, with a budget of
`budget_seconds` of command work (at least one command): a flood of hostile payloads costs the outbox
at most one budget per pass, so alarms go out ahead of commands however fast the junk arrives.

Answers on `P/G/cmd/result` (audit F16):
- an accepted command, or one refused by its action (`unknown_action`, `invalid_arguments`,
  `lockdown`, ...): always one answer with the detail. Only a correctly signed, fresh, new cmd_id gets
  this far, so nobody without the key can make the gate answer this way;
- a command refused by verification: one answer per payload up to `answer_limiter`'s budget per reason
  (default 20 per 10 s), then one summary answer per reason and window
  (`{"cmd_id": "", "ok": false, "reason", "error", "suppressed", "window_seconds"}`). Before the
  signature is checked (command_gate.UNAUTHENTICATED) the answer carries the bare reason and the ids
  only in a safe form (command_parse.safe_id); paths and exception text stay in the local log;
- payloads the queue had to drop (command_queue.py) are counted into the `overloaded` summaries.
Journaling of rejections has its own limiter (`rejections`, 20 per reason per minute, then a summary
record): every rejection is a fsynced security record.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable

from gate.clock import Clock
from gate.core.errors import InputError, StorageError
from gate.uplink.command_gate import UNAUTHENTICATED, CommandGate, CommandRejected, RejectionLimiter, printable_text
from gate.uplink.command_parse import parse_command, safe_id, safe_ids
from gate.uplink.command_queue import CommandQueue, QueuedCommand

log = logging.getLogger("gate.uplink")

Handler = Callable[[dict[str, Any]], "dict[str, Any] | None"]
_ENVELOPE = ("cmd_id", "gate", "issued_at", "action", "sig")
MAX_JOURNALED_ARGS = 2000
# Reasons whose detail may name files or carry exception text: the detail goes to the local log only.
_LOCAL_DETAIL = frozenset({"no_secret", "storage_error", "internal_error"})


class CommandService:
    """Runs the command side of one uplink. `journal(type, fields)` records outcomes; `answer(dict)`
    publishes on cmd/result; `handlers` maps actions to handlers (see Uplink.register_command)."""

    def __init__(self, command_gate: CommandGate | None, *, handlers: dict[str, Handler],
                 journal: Callable[[str, dict[str, Any]], None], answer: Callable[[dict[str, Any]], None],
                 clock: Clock, rejections: RejectionLimiter | None = None,
                 answer_limiter: RejectionLimiter | None = None, queue: CommandQueue | None = None,
                 budget_seconds: float = 0.05):
        self.command_gate = command_gate
        self.handlers = handlers
        self._journal, self._answer = journal, answer
        self.clock = clock
        self.rejections = rejections or RejectionLimiter(clock=clock)
        self.answers = answer_limiter or RejectionLimiter(per_window=20, window_seconds=10.0, clock=clock)
        self.queue = queue if queue is not None else CommandQueue()
        self.budget_seconds = budget_seconds
        self.handled = 0  # payloads taken from the queue so far (tests, diagnostics)

    def serve(self) -> bool:
        """Handle queued commands for up to one budget; True when more are waiting."""
        dropped = self.queue.take_dropped()
        if dropped:
            log.warning("command queue full: %d payload(s) dropped (counted in the overloaded summary)", dropped)
            self.rejections.count("overloaded", dropped)
            self.answers.count("overloaded", dropped)
        deadline = self.clock.monotonic() + self.budget_seconds
        while True:
            item = self.queue.take()
            if item is None:
                break
            self.handle(item)
            if self.clock.monotonic() >= deadline:
                break
        self.summaries()
        return bool(self.queue)

    def summaries(self, *, flush: bool = False) -> None:
        """One summary record / answer per reason whose rate-limit window ended (all with `flush`)."""
        for s in self.rejections.due(flush=flush):
            log.warning("%d more %s command rejections in %g s were not journaled individually",
                        s["suppressed"], s["reason"], s["window_seconds"])
            self._journal("command_rejected", {
                "cmd_id": "", "action": "", **s,
                "detail": f"{s['suppressed']} more rejections for {s['reason']} within "
                          f"{s['window_seconds']:g} s were not journaled individually (rate limit)",
            })
        for s in self.answers.due(flush=flush):
            self._answer({"cmd_id": "", "ok": False, "reason": s["reason"],
                          "error": f"{s['reason']}: {s['suppressed']} more within {s['window_seconds']:g} s "
                                   "not answered individually (rate limit)", **s})

    # --- one command ----------------------------------------------------------------------------
    def handle(self, item: QueuedCommand) -> None:
        self.handled += 1
        obj: Any = None
        try:
            if item.payload is None:
                raise CommandRejected("malformed", f"payload of {item.size} bytes is too large")
            obj = parse_command(item.payload)
            if self.command_gate is None:
                raise CommandRejected("no_secret", "this gate has no command verification configured")
            cmd = self.command_gate.verify_object(obj, retained=item.retained)
        except CommandRejected as rejected:
            return self._reject(rejected, obj, verified=False)
        except StorageError as exc:  # remembering the cmd_id failed
            log.error("remembering a command id failed: %s", exc)
            return self._reject(CommandRejected("storage_error", str(exc)), obj, verified=False)
        except Exception as exc:  # a verification bug must still end in an answer and a record
            log.exception("verifying a command failed")
            return self._reject(CommandRejected("internal_error", f"{type(exc).__name__}: {exc}"), obj, verified=False)
        self._execute(cmd)

    def _execute(self, cmd: dict[str, Any]) -> None:
        cmd_id, action = cmd["cmd_id"], cmd["action"]
        handler = self.handlers.get(action)
        try:
            if handler is None:
                known = ", ".join(sorted(self.handlers))
                raise CommandRejected("unknown_action", f"unknown action {printable_text(action)!r}; known: {known}")
            extra = handler(cmd) or {}
        except CommandRejected as rejected:  # the action refuses (e.g. unlock in lockdown)
            return self._reject(rejected, cmd, verified=True)
        except InputError as exc:
            return self._reject(CommandRejected("invalid_arguments", str(exc)), cmd, verified=True)
        except StorageError as exc:
            log.error("command %s %s: %s", action, cmd_id, exc)
            return self._reject(CommandRejected("storage_error", str(exc)), cmd, verified=True)
        except Exception as exc:
            log.exception("command %s %s failed", action, cmd_id)
            return self._reject(CommandRejected("internal_error", f"{type(exc).__name__}: {exc}"), cmd, verified=True)
        self._journal("command", {"cmd_id": cmd_id, "action": action, "args": _journaled_args(cmd)})
        log.info("command %s %s accepted", action, cmd_id)
        self._answer({"cmd_id": cmd_id, "ok": True, "error": "", **extra})

    def _reject(self, rejected: CommandRejected, obj: Any, *, verified: bool) -> None:
        """Journal (rate-limited) and answer one rejection. `verified`: the command passed verification
        (it burned a fresh cmd_id), so it is always answered in full."""
        reason = rejected.reason
        if reason in UNAUTHENTICATED:
            cmd_id, action = safe_ids(obj) if isinstance(obj, dict) else (safe_id(rejected.cmd_id),
                                                                          safe_id(rejected.action))
        else:
            cmd_id = printable_text(rejected.cmd_id or (obj.get("cmd_id", "") if isinstance(obj, dict) else ""))
            action = printable_text(rejected.action or (obj.get("action", "") if isinstance(obj, dict) else ""))
            cmd_id, action = (v[:128] if isinstance(v, str) else "" for v in (cmd_id, action))
        detail = printable_text(rejected.detail)
        local_only = reason in _LOCAL_DETAIL
        shown = "see the gate's log" if local_only else detail
        if self.rejections.admit(reason):
            log.warning("command %r (%s) rejected: %s: %s", cmd_id, action, reason, detail)
            self._journal("command_rejected", {"cmd_id": cmd_id, "action": action, "reason": reason, "detail": shown})
        else:
            log.debug("command %r (%s) rejected, not journaled (rate limit): %s: %s", cmd_id, action, reason, detail)
        if not verified and not self.answers.admit(reason):
            return  # counted: the summary answer covers it
        bare = reason in UNAUTHENTICATED or local_only
        self._answer({"cmd_id": cmd_id, "ok": False, "error": reason if bare else f"{reason}: {detail}",
                      "reason": reason})


def _journaled_args(cmd: dict[str, Any]) -> dict[str, Any]:
    args = {k: v for k, v in cmd.items() if k not in _ENVELOPE}
    text = json.dumps(args, ensure_ascii=False)
    if len(text) <= MAX_JOURNALED_ARGS:
        return args
    # Big pass lists: keep the shape, not every entry.
    return {k: (f"{len(v)} entries" if isinstance(v, list) else v) for k, v in args.items()}
