"""Errors raised by drivers. Each also subclasses the matching built-in."""


class DriverError(Exception):
    """Base class of every driver error."""


class DeviceFault(DriverError, OSError):
    """A device did not answer, answered garbage, or reported an error of its own."""


class DeviceConfigError(DriverError, ValueError):
    """A driver was built with settings it cannot work with (pin clash, bad address...)."""
