"""Tests use the same private-broker code as `gatectl demo`."""
from gate.runtime.local_broker import MosquittoBroker, free_port, mosquitto_binary  # noqa: F401
