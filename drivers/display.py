"""The residents' display: a 128×64 SSD1306 or SH1106 OLED on I2C through luma.oled, or luma's
`dummy` device in simulation (the same frames, kept as a PIL image).

The driver shows PIL images; what goes on them is drawn above (gate/feedback/screen.py).
luma.oled (and Pillow) are the `feedback` extra: a gate without a display never imports them.
"""
from __future__ import annotations

import threading
from pathlib import Path

from drivers.errors import DeviceConfigError, DeviceFault

KINDS = ("ssd1306", "sh1106", "dummy")
WIDTH, HEIGHT = 128, 64

# The CJK font: WenQuanYi Zen Hei (Debian package fonts-wqy-zenhei, GPL-2 with font exception).
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
FONT_PACKAGE = "fonts-wqy-zenhei"


def find_font(explicit: str = "") -> Path:
    """The font file to draw with: `explicit` when given, else the first installed candidate."""
    candidates = (explicit,) if explicit else FONT_CANDIDATES
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    raise DeviceConfigError(f"display: no CJK font at {', '.join(c for c in candidates if c)} "
                            f"(install the Debian package {FONT_PACKAGE})")


class Display:
    """One monochrome display. `show(image)` sends a frame (thread-safe); `frame` is the last one
    shown (what the glass shows now); `close()` blanks it."""

    def __init__(self, kind: str, *, i2c_bus: int = 1, address: int = 0x3C, rotate: int = 0):
        if kind not in KINDS:
            raise DeviceConfigError(f"display: unknown type {kind!r}; expected one of {', '.join(KINDS)}")
        self.kind = kind
        self._lock = threading.Lock()
        self.frame = None
        try:
            if kind == "dummy":
                from luma.core.device import dummy

                self._device = dummy(width=WIDTH, height=HEIGHT, rotate=rotate, mode="1")
            else:
                from luma.core.interface.serial import i2c
                from luma.oled import device as oled

                serial = i2c(port=i2c_bus, address=address)
                self._device = getattr(oled, kind)(serial, width=WIDTH, height=HEIGHT, rotate=rotate)
        except ImportError as exc:
            raise DeviceConfigError(f"display: {exc.name} is not installed (pip install 'compound-gate[feedback]')") from None
        except Exception as exc:  # OSError, or luma's DeviceNotFoundError / DevicePermissionError
            raise DeviceFault(f"display: {kind} at I2C bus {i2c_bus} address {address:#04x}: {exc}") from exc

    @property
    def size(self) -> tuple[int, int]:
        return self._device.size

    @property
    def mode(self) -> str:
        return self._device.mode

    def show(self, image) -> None:
        with self._lock:
            try:
                self._device.display(image)
            except OSError as exc:
                raise DeviceFault(f"display: {self.kind}: {exc}") from exc
            self.frame = image.copy()

    def close(self) -> None:
        with self._lock:
            try:
                if self.kind != "dummy":
                    self._device.cleanup()
            except OSError:
                pass

    def __enter__(self) -> "Display":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
