"""The serial link to peripheral firmware: an OSDP control panel (libosdp) over pyserial. Never imports `gate`."""
