"""The police station side: a console that watches every gate over MQTT, keeps every record,
replays gaps and sends signed commands. `gatectl station ...` is wired through `cli.add_station_parser`."""
