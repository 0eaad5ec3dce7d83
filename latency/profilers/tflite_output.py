"""Parse the output of TFLite's `benchmark_model` (every format we have seen in the wild).

Builds differ: newer ones prefix lines with `INFO: `, may append ` p5=... median=... p95=...` to
a stat line and print big numbers in scientific notation (`avg=2.95034e+06`); old ones end with
`Average inference timings in us: Warmup: ..., Init: ..., Inference: ...`. All times are in
microseconds. Real outputs: /work/shared/fixtures/benchmark_model/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nas.errors import UserError

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PREFIX = re.compile(r"^(?:INFO|WARNING|VERBOSE):\s*")
# A stat line: `count=50 first=... curr=... min=... max=... avg=... std=...[ p5= median= p95=]`,
# possibly after a label such as `Timings (microseconds): `.
_STAT_KEY = re.compile(r"\b(count|first|curr|min|max|avg|std|p5|median|p95)=(\S*)")
_NEW_SUMMARY = re.compile(
    rf"Inference timings in us: Init: (?P<init>{_NUM}), First inference: (?P<first>{_NUM}), "
    rf"Warmup \(avg\): (?P<warmup>{_NUM}), Inference \(avg\): (?P<avg>{_NUM})")
_OLD_SUMMARY = re.compile(
    rf"Average inference timings in us: Warmup: (?P<warmup>{_NUM}), Init: (?P<init>{_NUM}), "
    rf"Inference: (?P<avg>{_NUM})")
_ERROR = re.compile(r"^(?:ERROR:|E tflite|Failed|Error)", re.IGNORECASE)


@dataclass(frozen=True)
class BenchmarkResult:
    """Timings of one `benchmark_model` invocation, in microseconds (None = not printed)."""

    avg_us: float
    count: int | None = None
    std_us: float | None = None
    min_us: float | None = None
    max_us: float | None = None
    median_us: float | None = None
    p5_us: float | None = None
    p95_us: float | None = None
    init_us: float | None = None
    first_us: float | None = None
    warmup_avg_us: float | None = None

    @property
    def center_us(self) -> float:
        """The median when the build prints it (robust), else the mean."""
        return self.median_us if self.median_us is not None else self.avg_us


def _stat_line(line: str) -> dict[str, float] | None:
    """The key=value numbers of a stat line; an error naming the line if one is garbled."""
    if "count=" not in line or "avg=" not in line:
        return None
    out: dict[str, float] = {}
    for key, value in _STAT_KEY.findall(line):
        if not re.fullmatch(_NUM, value):
            raise UserError(f"benchmark_model output: cannot parse {key}={value!r} in line: "
                            f"{line.strip()!r}")
        out[key] = float(value)
    return out


def parse_benchmark_output(text: str) -> BenchmarkResult:
    """The inference timings of one run; `UserError` showing the offending line otherwise."""
    lines = [_PREFIX.sub("", raw.rstrip()) for raw in text.splitlines()]
    stats: list[dict[str, float]] = []
    summary: dict[str, float] = {}
    for line in lines:
        if (s := _stat_line(line)) is not None:
            stats.append(s)
        for pattern in (_NEW_SUMMARY, _OLD_SUMMARY):
            if m := pattern.search(line):
                summary = {k: float(v) for k, v in m.groupdict().items()}
    if not summary and not stats:
        errors = [ln for ln in lines if _ERROR.match(ln.strip())]
        shown = errors[-1] if errors else next((ln for ln in reversed(lines) if ln.strip()), "")
        raise UserError(f"benchmark_model output has no inference timings; "
                        f"last {'error' if errors else 'line'}: {shown.strip()!r}")
    # The last stat line is the timed (not warm-up) run; it also carries median/p5/p95.
    last = stats[-1] if stats else {}
    avg = summary.get("avg", last.get("avg"))
    if avg is None:
        raise UserError("benchmark_model output: stat line without avg=")
    return BenchmarkResult(
        avg_us=avg,
        count=int(last["count"]) if "count" in last else None,
        std_us=last.get("std"),
        min_us=last.get("min"),
        max_us=last.get("max"),
        median_us=last.get("median"),
        p5_us=last.get("p5"),
        p95_us=last.get("p95"),
        init_us=summary.get("init"),
        first_us=summary.get("first"),
        warmup_avg_us=summary.get("warmup"),
    )
