"""Android phones over adb: TFLite's `benchmark_model` (GPU delegate or CPU) on the phone.

Per item: convert to .tflite (litert-torch) unless a .tflite file is given, push it to the
phone, then each round run `benchmark_model` once with `--num_runs=runs` (its own warm-up runs
first, since every invocation re-initialises the GPU delegate) pinned with `taskset`; the
round's value is the invocation's median (or mean where the build prints no median). Before a
round we wait while `dumpsys thermalservice` reports throttling: a hot phone is a slower phone.

Every remote command is one string built with `shlex.quote`, because `adb shell` hands it to the
phone's shell: a model called `my model;rm -rf x.tflite` must stay one argument.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from latency.devices import Device
from latency.profilers.base import ProfileItem, Profiler, register_profiler
from latency.profilers.tflite_output import parse_benchmark_output
from nas.errors import UserError

BENCHMARK_URL = "https://ai.google.dev/edge/litert/models/measurement#native_benchmark_binary"
_THERMAL = re.compile(r"Thermal Status:\s*(\d+)")


class Adb:
    """A thin client of the `adb` executable for one phone.

    Args:
        serial: the phone; None picks the only attached phone (an error if there are several).
        adb: the executable; found on PATH by default.
    """

    def __init__(self, serial: str | None = None, adb: str | None = None) -> None:
        found = adb or shutil.which("adb")
        if not found:
            raise UserError("adb not found on PATH; install it (Debian/Ubuntu: apt-get install "
                            "adb) or add the Android platform-tools folder to PATH")
        self.adb = found
        self.serial = self._resolve(serial)

    def _call(self, args: list[str], *, serial: bool = True, check: bool = True,
              timeout: float = 600) -> subprocess.CompletedProcess[str]:
        cmd = [self.adb, *(["-s", self.serial] if serial else []), *args]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise UserError(f"adb {' '.join(args[:2])} timed out after {timeout:.0f} s") from None
        if check and res.returncode != 0:
            msg = (res.stderr.strip() or res.stdout.strip()).splitlines()
            raise UserError(f"adb {' '.join(args[:1])} failed on {self.serial}: "
                            f"{msg[-1] if msg else f'exit code {res.returncode}'}")
        return res

    def attached(self) -> list[tuple[str, str]]:
        """`(serial, state)` of every phone `adb devices` lists."""
        out = self._call(["devices"], serial=False).stdout
        rows = []
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and not line.startswith(("List of devices", "*")):
                rows.append((parts[0], parts[1]))
        return rows

    def _resolve(self, serial: str | None) -> str:
        self.serial = ""
        rows = self.attached()
        ready = [s for s, state in rows if state == "device"]
        if serial is not None:
            state = dict(rows).get(serial)
            if state is None:
                raise UserError(f"adb device '{serial}' is not attached (attached: "
                                f"{', '.join(s for s, _ in rows) or 'none'})")
            if state != "device":
                raise UserError(f"adb device '{serial}' is '{state}', not ready (authorise the "
                                f"computer on the phone, or reconnect it)")
            return serial
        if not ready:
            raise UserError("no adb device attached (`adb devices` lists none ready); connect "
                            "the phone with USB debugging on")
        if len(ready) > 1:
            raise UserError(f"several adb devices attached ({', '.join(ready)}); choose one "
                            f"with --serial (or repeat --serial to profile on all of them)")
        return ready[0]

    def shell(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `argv` on the phone, each argument quoted for the phone's shell."""
        return self._call(["shell", " ".join(shlex.quote(a) for a in argv)], check=check)

    def push(self, local: Path, remote: str) -> None:
        self._call(["push", str(local), remote])

    def exists(self, remote: str) -> bool:
        return self.shell("ls", remote, check=False).returncode == 0

    def thermal_status(self) -> int:
        """Android's thermal status (0 none .. 6 shutdown); 0 where the phone does not say."""
        m = _THERMAL.search(self.shell("dumpsys", "thermalservice", check=False).stdout)
        return int(m.group(1)) if m else 0

    def props(self, *names: str) -> dict[str, str]:
        out = {}
        for name in names:
            out[name] = self.shell("getprop", name, check=False).stdout.strip()
        return out


class BenchmarkRunner:
    """One model pushed to the phone, timed by one `benchmark_model` invocation per round."""

    def __init__(self, profiler: AdbProfiler, remote: str) -> None:
        self.profiler, self.remote = profiler, remote
        self.extra: dict[str, Any] = {}

    def warm(self, n: int) -> None:
        """Nothing: benchmark_model warms up inside every invocation (`--warmup_runs`)."""

    def time(self, n: int) -> list[float]:
        res = self.profiler.benchmark(self.remote, n)
        self.extra = {"benchmark_last": {k: v for k, v in vars(res).items() if v is not None}}
        return [res.center_us / 1000.0]

    def close(self) -> None:
        self.profiler.adb.shell("rm", "-f", self.remote, check=False)


@register_profiler
class AdbProfiler(Profiler):
    """Times .tflite models on an Android phone with `benchmark_model`."""

    backend = "tflite-adb"
    runtime = "tflite-benchmark_model"
    times_on_host = False

    def __init__(self, device: Device, **kw: Any) -> None:
        super().__init__(device, **kw)
        self.adb = Adb(device.serial)
        if not self.adb.exists(device.benchmark_path):
            raise UserError(
                f"benchmark_model not found at {device.benchmark_path} on {self.adb.serial}; "
                f"download the android_aarch64 benchmark_model from {BENCHMARK_URL}, then "
                f"`adb -s {self.adb.serial} push benchmark_model {device.benchmark_path}` and "
                f"`adb -s {self.adb.serial} shell chmod +x {device.benchmark_path}`")

    def pin_core(self) -> int | None:
        return None  # the host only waits for the phone

    def before_round(self) -> dict[str, float]:
        """Wait while the phone is throttled; fail if it does not cool down in time."""
        dev, start = self.device, time.monotonic()
        while (status := self.adb.thermal_status()) > dev.thermal_max_status:
            waited = time.monotonic() - start
            if waited >= dev.thermal_max_wait_s:
                raise UserError(f"{self.adb.serial} still throttled (Thermal Status: {status}) "
                                f"after {waited:.0f} s; let the phone cool down")
            time.sleep(dev.thermal_poll_s)
        return {"thermal_wait_s": time.monotonic() - start}

    def prepare(self, item: ProfileItem, workdir: Path) -> BenchmarkRunner:
        if item.path is not None:
            if item.path.suffix != ".tflite":
                raise UserError(f"{item.path}: the tflite-adb backend times .tflite files")
            local, name = item.path, item.path.name
        else:
            from latency.profilers.litert import convert_to_tflite

            local = convert_to_tflite(item.module, item.input_shapes, workdir / "model.tflite")
            name = f"nas_{hashlib.sha1(local.read_bytes()).hexdigest()[:16]}.tflite"
        remote = f"{self.device.remote_dir.rstrip('/')}/{name}"
        self.adb.push(local, remote)
        return BenchmarkRunner(self, remote)

    def benchmark(self, remote: str, runs: int) -> Any:
        dev = self.device
        argv = ["taskset", dev.cpu_mask] if dev.cpu_mask else []
        argv += [dev.benchmark_path, f"--graph={remote}", f"--num_threads={dev.threads}",
                 f"--use_gpu={'true' if dev.use_gpu else 'false'}",
                 f"--warmup_runs={dev.warmup}", "--warmup_min_secs=0",
                 f"--num_runs={runs}", "--min_secs=0"]
        res = self.adb.shell(*argv, check=False)
        text = res.stdout + "\n" + res.stderr
        if res.returncode != 0:
            lines = [ln for ln in text.splitlines() if ln.strip()]
            raise UserError(f"benchmark_model failed on {self.adb.serial} (exit "
                            f"{res.returncode}): {lines[-1] if lines else 'no output'}")
        return parse_benchmark_output(text)

    def versions(self) -> dict[str, str]:
        from latency.profilers.litert import converter_versions

        p = self.adb.props("ro.product.model", "ro.build.version.release",
                           "ro.board.platform")
        return {
            "runtime": "tflite benchmark_model",
            "benchmark_path": self.device.benchmark_path,
            "model": p["ro.product.model"],
            "android": p["ro.build.version.release"],
            "soc": p["ro.board.platform"],
            "serial": self.adb.serial,
            "delegate": "gpu" if self.device.use_gpu else "xnnpack",
            "threads": str(self.device.threads),
            "cpu_mask": self.device.cpu_mask,
            **converter_versions(),
        }
