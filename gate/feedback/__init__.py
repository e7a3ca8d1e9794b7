"""What residents hear and see: spoken prompts (a WAV pack per language) and the display.

A floor beside gate.runtime (which wires it into the daemon): it imports config, rules (time
windows), core (the prompt vocabulary), clock, gate.i18n and the drivers, never the runtime.
"""
