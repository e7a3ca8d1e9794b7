"""RFID polling cost: our driver vs the stock mfrc522 SimpleMFRC522, on the same emulated MFRC522.

    python bench/bench_rfid.py [--seconds 10] [--json]

Counts SPI transfers per idle poll and per successful read, and measures CPU time (time.process_time,
whole process, emulator included) and SPI transfers per second over --seconds of idle polling.
Ours polls at the daemon's default rate (20 Hz: a card held 100 ms is seen and confirmed), the stock
library at 10 Hz. Targets: <= 20 transfers per idle poll, <= 1 % of a core while idle.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers.mfrc522_emu import EmulatedCard, Mfrc522Emulator  # noqa: E402
from drivers.pi_fakes import fake_gpio, simulated_spi  # noqa: E402

UID4, UID7 = bytes.fromhex("DEADBEEF"), bytes.fromhex("04A1B2C3D4E5F6")


def transfers(emu: Mfrc522Emulator, fn) -> tuple[int, object]:
    before = emu.transfers
    result = fn()
    return emu.transfers - before, result


def cpu_share(run, seconds: float, emu: Mfrc522Emulator) -> tuple[float, float]:
    """CPU seconds used by `run(stop_event)` over `seconds` of wall time, as a fraction of a core,
    and the SPI transfers per second it made."""
    stop = threading.Event()
    cpu0, wall0, xfers0 = time.process_time(), time.monotonic(), emu.transfers
    worker = threading.Thread(target=run, args=(stop,), daemon=True)
    worker.start()
    stop.wait(seconds)
    stop.set()
    worker.join(timeout=30)
    wall = time.monotonic() - wall0
    return (time.process_time() - cpu0) / wall, (emu.transfers - xfers0) / wall


OUR_RATE_HZ = 20.0      # the daemon's default rfid.poll_hz


def bench_ours(emu: Mfrc522Emulator, seconds: float) -> dict:
    from drivers.rfid import RfidReader
    from drivers.rfid_poller import RfidPoller
    with RfidReader() as reader:
        idle, _ = transfers(emu, reader.read_uid)
        emu.present(EmulatedCard(UID4))
        hit4, uid4 = transfers(emu, reader.read_uid)
        emu.remove()
        emu.present(EmulatedCard(UID7))
        hit7, uid7 = transfers(emu, reader.read_uid)
        emu.remove()

        def run(stop: threading.Event) -> None:
            poller = RfidPoller(reader, on_tap=print, on_fault=print, on_recovered=print,
                                rate_hz=OUR_RATE_HZ).start()    # its own thread, as in the daemon
            stop.wait()
            poller.close()

        share, rate = cpu_share(run, seconds, emu)
    return dict(idle=idle, hit4=f"{hit4} ({uid4.hex().upper()})", hit7=f"{hit7} ({uid7.hex().upper()})",
                share=share, xfer_rate=rate)


def bench_stock(emu: Mfrc522Emulator, seconds: float) -> tuple[dict, dict]:
    fake_gpio().mode = None
    simple = importlib.import_module("mfrc522.SimpleMFRC522").SimpleMFRC522()
    idle, _ = transfers(emu, simple.read_id_no_block)
    emu.present(EmulatedCard(UID4))
    hit4, id4 = transfers(emu, simple.read_id_no_block)
    emu.remove()
    emu.present(EmulatedCard(UID7))
    hit7, id7 = transfers(emu, simple.read_id_no_block)
    emu.remove()

    def paced(stop: threading.Event) -> None:       # the best a caller can do: sleep in between
        while not stop.is_set():
            simple.read_id_no_block()
            stop.wait(0.1)

    def shipped(stop: threading.Event) -> None:     # read_id() as shipped: loops without sleeping
        threading.Thread(target=lambda: (stop.wait(), emu.present(EmulatedCard(UID4))),
                         daemon=True).start()
        simple.read_id()

    paced_share, paced_rate = cpu_share(paced, seconds, emu)
    shipped_share, shipped_rate = cpu_share(shipped, seconds, emu)
    emu.remove()
    simple.READER.Close_MFRC522()
    id4_hex = f"{id4:010X}" if id4 else "-"
    id7_hex = f"{id7:010X}" if id7 else "-"
    base = dict(idle=idle, hit4=f"{hit4} ({id4_hex}: BCC appended)",
                hit7=f"{hit7} ({id7_hex}: cascade level 1 only)")
    return (dict(base, share=paced_share, xfer_rate=paced_rate),
            dict(base, share=shipped_share, xfer_rate=shipped_rate))


TARGET_IDLE_XFERS, TARGET_IDLE_SHARE = 20, 0.01


def json_rows(ours: dict, paced: dict, shipped: dict) -> list[dict]:
    """The headline metrics as bench/run_all.py rows (reference: the stock library, same emulator)."""
    def xfers(hit: str) -> int:
        return int(hit.split()[0])

    return [
        {"metric": "idle poll: SPI transfers", "ours": ours["idle"], "reference": paced["idle"],
         "target": f"<= {TARGET_IDLE_XFERS}", "met": ours["idle"] <= TARGET_IDLE_XFERS},
        {"metric": f"idle CPU @ {OUR_RATE_HZ:g} Hz (stock 10 Hz), % of a core",
         "ours": f"{ours['share'] * 100:.2f} %",
         "reference": f"{paced['share'] * 100:.2f} % paced, {shipped['share'] * 100:.1f} % read_id()",
         "target": f"<= {TARGET_IDLE_SHARE * 100:g} %", "met": ours["share"] <= TARGET_IDLE_SHARE},
        {"metric": f"idle SPI transfers/s @ {OUR_RATE_HZ:g} Hz (stock 10 Hz)",
         "ours": f"{ours['xfer_rate']:.0f}",
         "reference": f"{paced['xfer_rate']:.0f} paced, {shipped['xfer_rate']:.0f} read_id()",
         "target": None, "met": None},
        {"metric": "read, 4-byte UID: SPI transfers", "ours": xfers(ours["hit4"]),
         "reference": paced["hit4"].split()[0] + " (BCC left in UID)", "target": None, "met": None},
        {"metric": "read, 7-byte UID: SPI transfers", "ours": xfers(ours["hit7"]),
         "reference": paced["hit7"].split()[0] + " (wrong UID: level 1 only)", "target": None, "met": None},
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="idle polling time measured per row (default 10)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON (bench/run_all.py)")
    args = parser.parse_args()
    emu = Mfrc522Emulator()
    with simulated_spi(emu, rst_pin=25):
        fake_gpio().mode = None
        ours = bench_ours(emu, args.seconds)
        paced, shipped = bench_stock(emu, args.seconds)
    if args.json:
        print(json.dumps(json_rows(ours, paced, shipped)))
        return 0
    rows = [(f"ours: RfidReader + RfidPoller @ {OUR_RATE_HZ:g} Hz", ours),
            ("stock: read_id_no_block() @ 10 Hz", paced),
            ("stock: SimpleMFRC522.read_id() as shipped", shipped)]
    head = ("driver", "SPI xfers / idle poll", "SPI xfers / read, 4-byte UID",
            "SPI xfers / read, 7-byte UID", "SPI xfers/s idle", "CPU s / min idle", "% of a core")
    table = [head] + [(name, str(r["idle"]), r["hit4"], r["hit7"], f"{r['xfer_rate']:.0f}",
                       f"{r['share'] * 60:.2f}", f"{r['share'] * 100:.2f} %") for name, r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    line = lambda row: "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"  # noqa
    print(line(table[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table[1:]:
        print(line(row))
    print(f"\n{args.seconds:g} s measured per row, scaled to a minute; Python "
          f"{sys.version.split()[0]}; CPU includes the emulator. Targets: <= 20 transfers per idle "
          f"poll (ours: {ours['idle']}), <= 1 % of a core idle (ours: {ours['share'] * 100:.2f} %).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
