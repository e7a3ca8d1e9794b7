"""Errors of the gate package. Each also subclasses the matching built-in."""


class GateError(Exception):
    """Base class of every gate error."""


class ConfigError(GateError, ValueError):
    """The configuration is invalid. `problems` holds one 'key.path: message' line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class InputError(GateError, ValueError):
    """Bad input from outside (a CSV line, a CLI argument, an MQTT payload); the message names it."""


class StorageError(GateError, OSError):
    """The local database could not be opened, checked or written."""
