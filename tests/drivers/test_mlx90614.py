"""MLX90614 driver, its emulator and the thermometer sampler, through real smbus2 i2c_msg objects."""
from __future__ import annotations

import errno
import threading

import pytest
from smbus2 import i2c_msg

from drivers.errors import DeviceConfigError, DeviceFault
from drivers.mlx90614 import (Mlx90614, REG_OBJECT_1, celsius_to_raw, crc8, frame_pec,
                              raw_to_celsius)
from drivers.mlx90614_emu import EmulatedMlx90614
from drivers.thermo_sampler import ThermometerSampler


@pytest.fixture
def emu():
    return EmulatedMlx90614(ambient_c=22.0, noise_c=0.0)


@pytest.fixture
def sensor(emu):
    with Mlx90614(emu, retry_delay=0) as s:
        yield s


# -- PEC and conversions ----------------------------------------------------------------------

def test_crc8_check_value_and_datasheet_frame():
    assert crc8(b"123456789") == 0xF4
    # Melexis SMBus example: Tobj1 read at 0x5A returns 0x3AD2 with PEC 0x30.
    assert frame_pec(0x5A, 0x07, 0xD2, 0x3A) == 0x30


def test_conversion_round_trips_and_half_lsb_rounds_up():
    assert raw_to_celsius(0x3AD2) == pytest.approx(0x3AD2 * 0.02 - 273.15, abs=0.005)
    # 37.3 °C is exactly half an LSB: it must read back at or above 37.3, never 37.29.
    assert raw_to_celsius(celsius_to_raw(37.3)) == 37.31
    assert raw_to_celsius(celsius_to_raw(36.0)) == 36.01
    assert raw_to_celsius(celsius_to_raw(-20.0)) == pytest.approx(-20.0, abs=0.011)


# -- emulator at the bus level ----------------------------------------------------------------

def test_emulator_fills_read_buffer_with_valid_pec(emu):
    emu.object_c = 36.6
    w, r = i2c_msg.write(0x5A, [REG_OBJECT_1]), i2c_msg.read(0x5A, 3)
    emu.i2c_rdwr(w, r)
    lsb, msb, pec = bytes(r)
    assert pec == frame_pec(0x5A, REG_OBJECT_1, lsb, msb)
    assert raw_to_celsius(lsb | msb << 8) == 36.61


def test_emulator_other_address_nacks(emu):
    with pytest.raises(OSError) as exc:
        emu.i2c_rdwr(i2c_msg.write(0x5B, [REG_OBJECT_1]), i2c_msg.read(0x5B, 3))
    assert exc.value.errno == errno.EREMOTEIO


def test_emulator_rejects_fault_values_it_cannot_mean(emu):
    with pytest.raises(ValueError):
        emu.nack = -2
    with pytest.raises(ValueError):
        emu.noise_c = -0.1


# -- driver -----------------------------------------------------------------------------------

def test_reads_object_and_ambient(emu, sensor):
    emu.object_c = 36.6
    emu.ambient_c = 24.0
    assert sensor.read_object_c() == 36.61
    assert sensor.read_ambient_c() == pytest.approx(24.0, abs=0.011)


def test_nobody_in_front_reads_near_ambient(emu, sensor):
    emu.object_c = None
    assert sensor.read_object_c() == pytest.approx(22.0, abs=0.5)


def test_transient_nack_is_retried(emu, sensor):
    emu.object_c = 36.6
    emu.nack = 2
    assert sensor.read_object_c() == 36.61
    assert emu.transactions == 3


@pytest.mark.parametrize("fault, words", [
    ("nack", "no answer"), ("corrupt_pec", "PEC mismatch"), ("error_flag", "error flag"),
])
def test_persistent_fault_raises_device_fault_naming_it(emu, sensor, fault, words):
    emu.object_c = 36.6
    setattr(emu, fault, True)
    with pytest.raises(DeviceFault) as exc:
        sensor.read_object_c()
    message = str(exc.value)
    assert words in message and "0x5A" in message and "0x07" in message and "4 attempts" in message
    assert isinstance(exc.value, OSError)
    assert emu.transactions == 4  # first try + 3 retries, then it gives up


def test_single_corrupt_pec_is_retried_not_returned(emu, sensor):
    emu.object_c = 38.0
    emu.corrupt_pec = 1
    assert sensor.read_object_c() == 38.01


def test_permanent_bus_error_is_not_retried():
    class DeadBus:
        calls = 0

        def i2c_rdwr(self, *msgs):
            DeadBus.calls += 1
            raise OSError(errno.ENODEV, "No such device")

    with pytest.raises(DeviceFault, match="No such device"):
        Mlx90614(DeadBus(), retry_delay=0).read_ambient_c()
    assert DeadBus.calls == 1


def test_bad_settings_are_config_errors(emu):
    with pytest.raises(DeviceConfigError, match="address"):
        Mlx90614(emu, address=0x80)
    with pytest.raises(DeviceConfigError, match="retries"):
        Mlx90614(emu, retries=-1)


def test_close_twice_and_read_after_close():
    class Bus:
        closes = 0

        def i2c_rdwr(self, *msgs):
            raise AssertionError("not used")

        def close(self):
            Bus.closes += 1

    s = Mlx90614(Bus(), owns_bus=True)
    s.close()
    s.close()
    assert Bus.closes == 1 and s.closed
    with pytest.raises(DeviceFault, match="after close"):
        s.read_object_c()


def test_open_bus_that_does_not_exist_names_the_device():
    with pytest.raises(DeviceFault, match="/dev/i2c-97"):
        Mlx90614.open_bus(97)


# -- sampler ----------------------------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.samples: list[tuple[float, float]] = []
        self.faults: list[str] = []
        self.recoveries = 0
        self.got_samples = threading.Event()

    def sample(self, o, a):
        self.samples.append((o, a))
        if len(self.samples) >= 3:
            self.got_samples.set()

    def fault(self, detail):
        self.faults.append(detail)

    def recovered(self):
        self.recoveries += 1

    def sampler(self, sensor, **kw):
        return ThermometerSampler(sensor, on_sample=self.sample, on_fault=self.fault,
                                  on_recovered=self.recovered, **kw)


def test_sampler_delivers_samples(emu, sensor):
    emu.object_c = 36.6
    rec = Recorder()
    with rec.sampler(sensor) as sampler:
        assert sampler.sample_once()
    assert rec.samples == [(36.61, pytest.approx(22.0, abs=0.011))]
    assert not rec.faults


def test_sampler_faults_after_threshold_and_recovers_once(emu, sensor):
    rec = Recorder()
    sampler = rec.sampler(sensor, fault_threshold=3)
    emu.nack = True
    assert not sampler.sample_once() and not sampler.sample_once()
    assert rec.faults == []                      # two bad samples: not yet a fault
    sampler.sample_once()
    sampler.sample_once()
    assert len(rec.faults) == 1 and "3 consecutive" in rec.faults[0] and "no answer" in rec.faults[0]
    assert sampler.is_faulted and rec.samples == []
    emu.nack = False
    emu.noise_c = 0.05
    assert sampler.sample_once()
    assert rec.recoveries == 1 and not sampler.is_faulted and len(rec.samples) == 1


def test_sampler_detects_stuck_value_and_withholds_samples(emu, sensor):
    emu.noise_c = 0.1
    emu.object_c = 36.6
    rec = Recorder()
    sampler = rec.sampler(sensor, stuck_samples=5)
    for _ in range(3):
        sampler.sample_once()
    emu.stuck = True
    for _ in range(8):
        sampler.sample_once()
    assert len(rec.faults) == 1 and "stuck" in rec.faults[0]
    delivered = len(rec.samples)
    sampler.sample_once()
    assert len(rec.samples) == delivered         # nothing delivered while stuck
    emu.stuck = False
    assert sampler.sample_once()
    assert rec.recoveries == 1


def test_sampler_survives_a_failing_callback(emu, sensor):
    calls = []

    def boom(o, a):
        calls.append(o)
        raise RuntimeError("consumer bug")

    sampler = ThermometerSampler(sensor, on_sample=boom, on_fault=lambda d: None, on_recovered=lambda: None)
    assert sampler.sample_once() and sampler.sample_once()
    assert len(calls) == 2


def test_sampler_thread_samples_and_closes(emu, sensor):
    emu.noise_c = 0.05
    emu.object_c = 36.6
    rec = Recorder()
    sampler = rec.sampler(sensor, rate_hz=50.0)
    sampler.start()
    assert rec.got_samples.wait(timeout=5.0)
    sampler.close()
    sampler.close()
    assert not any(t.name == "thermometer-sampler" for t in threading.enumerate())
    assert all(o == 36.61 or abs(o - 36.6) < 0.5 for o, _ in rec.samples)
    with pytest.raises(RuntimeError):
        sampler.start()


def test_sampler_rejects_nonsense_settings(sensor):
    with pytest.raises(ValueError, match="rate_hz"):
        ThermometerSampler(sensor, on_sample=print, on_fault=print, on_recovered=print, rate_hz=0)
    with pytest.raises(ValueError, match="stuck_samples"):
        ThermometerSampler(sensor, on_sample=print, on_fault=print, on_recovered=print, stuck_samples=1)


def test_emulator_setters_are_safe_against_a_reading_thread(emu, sensor):
    emu.noise_c = 0.0
    errors: list[BaseException] = []
    values: set[float] = set()
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                values.add(sensor.read_object_c())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    for i in range(200):
        emu.object_c = 36.0 if i % 2 else 38.0
    stop.set()
    t.join(timeout=5)
    assert not errors
    assert values <= {36.01, 38.01, raw_to_celsius(celsius_to_raw(21.7))}
