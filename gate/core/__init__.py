"""The pure domain core: door state machine, access decision, card/keypad/screening flows, the
alarms book, actions, events, records vocabulary, pass values and credential MAC maths.

Imports only the standard library and itself: no sqlite3, paho, gpiozero, sockets, threads or
wall clock. Events and an injected clock come in, actions go out.
"""
