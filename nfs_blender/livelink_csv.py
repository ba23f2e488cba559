"""Live Link Face / ARKit CSV takes: parsing (pure Python, no bpy) and resampling to a scene frame rate.

The file Epic's Live Link Face app records::

    Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,...
    12:34:56:12.345,61,0.0123,...

- ``Timecode`` is ``HH:MM:SS:FF.fff`` (FF = frame within the second at the timecode rate, ``.fff`` = the
  fraction of a frame), or ``HH:MM:SS.sss`` (seconds with a fraction). ``;`` is accepted as the frame
  separator (drop-frame notation; the nominal rate is used).
- The timecode rate is inferred from the largest frame number seen just before a second rolls over
  (rounded up to 24, 25, 30, 48, 50, 60, 100, 120); a take that never crosses a second uses ``DEFAULT_RATE``.
- The 52 ARKit blendshape columns are PascalCase (``EyeBlinkLeft``); column names match case-insensitively,
  in any order. ``TongueOut`` may be missing (the ICT model has no tongue). Other columns (head and eye
  rotations) are kept in ``LiveLinkTake.extra``.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from .model_core.runtime.facs_names import ARKIT_NAMES, arkit_to_ict

DEFAULT_RATE = 60.0
MAX_GAP_SECONDS = 10.0  # a longer jump between consecutive rows means a damaged timecode or joined takes
STANDARD_RATES = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 100.0, 120.0)
OPTIONAL_COLUMNS = ("tongueOut",)

_TC_FRAMES = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2})[:;](\d+(?:\.\d*)?)\s*$")
_TC_SECONDS = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2}(?:\.\d*)?)\s*$")


@dataclass
class LiveLinkTake:
    """A parsed take.

    Attributes:
        times: (T,) seconds from the first row, strictly increasing.
        values: T rows of 52 floats, ARKit order (``facs_names.ARKIT_NAMES``); a missing TongueOut is 0.
        rate: the timecode frame rate used to turn FF into seconds (frames per second).
        rate_inferred: False when the take never crossed a second and ``DEFAULT_RATE`` was assumed.
        extra: other numeric columns by header name (e.g. 'HeadYaw'), each a (T,) list.
        dropped_rows: rows dropped because their timecode repeated an earlier one.
        source: the file name or label used in messages.
    """
    times: list
    values: list
    rate: float
    rate_inferred: bool
    extra: dict = field(default_factory=dict)
    dropped_rows: int = 0
    source: str = "<csv>"

    @property
    def n_rows(self) -> int:
        return len(self.times)

    @property
    def duration(self) -> float:
        """Seconds between the first and the last row."""
        return self.times[-1] - self.times[0] if self.times else 0.0

    def sample_rate(self) -> float:
        """Rows per second (median spacing); 0 for a single row."""
        if len(self.times) < 2:
            return 0.0
        gaps = sorted(b - a for a, b in zip(self.times, self.times[1:]))
        mid = gaps[len(gaps) // 2]
        return 1.0 / mid if mid > 0 else 0.0


def _parse_timecode(text: str, line: int, source: str):
    """-> (h, m, s, frame_float or None, seconds_fraction or None)."""
    m = _TC_FRAMES.match(text)
    if m:
        h, mi, s, ff = m.groups()
        out = int(h), int(mi), int(s), float(ff)
    else:
        m = _TC_SECONDS.match(text)
        if m:
            h, mi, s = m.groups()
            out = int(h), int(mi), float(s), None
    if m and out[1] < 60 and out[2] < 60:
        return out
    raise ValueError(f"{source} line {line}: timecode {text!r} is not HH:MM:SS:FF.fff or HH:MM:SS.sss")


def _infer_rate(stamps) -> tuple[float, bool]:
    """Timecode rate from (h, m, s, ff) stamps: the largest FF seen before a seconds rollover."""
    last_ff_before_roll = []
    for a, b in zip(stamps, stamps[1:]):
        if a[3] is None or b[3] is None:
            continue
        if (a[0], a[1], a[2]) != (b[0], b[1], b[2]):
            last_ff_before_roll.append(int(a[3]))
    max_ff = max((int(s[3]) for s in stamps if s[3] is not None), default=-1)
    if not last_ff_before_roll:
        if max_ff + 1 > DEFAULT_RATE:  # frames beyond the default: the rate must be higher
            return next((r for r in STANDARD_RATES if r >= max_ff + 1), float(max_ff + 1)), True
        return DEFAULT_RATE, False
    need = max(max(last_ff_before_roll), max_ff) + 1
    return next((r for r in STANDARD_RATES if r >= need), float(need)), True


def parse_livelink_csv(text: str, source: str = "<csv>") -> LiveLinkTake:
    """Parse the text of a Live Link Face CSV.

    Args:
        text: the whole file as a string.
        source: a label (usually the file name) used in error messages.
    Returns:
        LiveLinkTake, rows sorted by time.
    Raises:
        ValueError: wrong header ('not a Live Link Face CSV'), missing blendshape columns (named), a row with
            the wrong number of fields, a non-numeric or non-finite value or a bad timecode (with the line
            number), or no data rows.
    """
    lines = text.splitlines()
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    header_line = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if header_line is None:
        raise ValueError(f"{source}: the file is empty; choose a CSV recorded by Live Link Face")
    header = [h.strip() for h in lines[header_line].split(",")]
    if header[0].lower() != "timecode":
        raise ValueError(f"{source}: not a Live Link Face CSV: the first column must be 'Timecode', "
                         f"got {header[0][:40]!r}")
    lower = {h.lower(): j for j, h in enumerate(header)}
    if len(lower) != len(header):
        dup = sorted({h for h in header if [x.lower() for x in header].count(h.lower()) > 1})
        raise ValueError(f"{source}: duplicate columns in the header: {', '.join(dup)}")
    col_of = {}
    missing = []
    for name in ARKIT_NAMES:
        j = lower.get(name.lower())
        if j is None:
            if name not in OPTIONAL_COLUMNS:
                missing.append(name[0].upper() + name[1:])
        else:
            col_of[name] = j
    if missing:
        raise ValueError(f"{source}: {len(missing)} ARKit blendshape column(s) missing: {', '.join(missing[:8])}"
                         f"{' ...' if len(missing) > 8 else ''}; a Live Link Face CSV has all 52")
    used = set(col_of.values()) | {0}
    skip = {lower.get("blendshapecount")}
    extra_cols = [(j, h) for j, h in enumerate(header) if j not in used and j not in skip]

    stamps, rows, extras, linenos = [], [], [], []
    for i in range(header_line + 1, len(lines)):
        ln = lines[i]
        if not ln.strip():
            continue
        lineno = i + 1
        cells = ln.split(",")
        if len(cells) != len(header):
            raise ValueError(f"{source} line {lineno}: {len(cells)} fields, the header has {len(header)}")
        stamps.append(_parse_timecode(cells[0], lineno, source))
        linenos.append(lineno)
        row = [0.0] * len(ARKIT_NAMES)
        for k, name in enumerate(ARKIT_NAMES):
            j = col_of.get(name)
            if j is not None:
                row[k] = _number(cells[j], lineno, header[j], source)
        rows.append(row)
        extras.append([_number(cells[j], lineno, h, source) for j, h in extra_cols])
    if not rows:
        raise ValueError(f"{source}: the header has no data rows below it")

    rate, inferred = _infer_rate(stamps)
    raw_times = []
    day = 0.0
    prev = None
    for h, mi, s, ff in stamps:
        t = h * 3600.0 + mi * 60.0 + s + (ff / rate if ff is not None else 0.0) + day
        if prev is not None and t < prev - 43200.0:  # crossed midnight
            day += 86400.0
            t += 86400.0
        raw_times.append(t)
        prev = t
    order = sorted(range(len(rows)), key=lambda k: raw_times[k])
    for a, b in zip(order, order[1:]):
        if raw_times[b] - raw_times[a] > MAX_GAP_SECONDS:
            raise ValueError(f"{source}: the timecode jumps by {raw_times[b] - raw_times[a]:.0f} s between line "
                             f"{linenos[a]} and line {linenos[b]}; the file has a damaged timecode or joins several "
                             f"takes: fix the Timecode column or split the file")
    times, values, extra_rows = [], [], []
    dropped = 0
    for k in order:
        if times and abs(raw_times[k] - times[-1]) < 1e-9:
            values[-1], extra_rows[-1] = rows[k], extras[k]  # a repeated timecode: keep the later row
            dropped += 1
            continue
        times.append(raw_times[k])
        values.append(rows[k])
        extra_rows.append(extras[k])
    t0 = times[0]
    times = [t - t0 for t in times]
    extra = {h: [r[c] for r in extra_rows] for c, (_, h) in enumerate(extra_cols)}
    return LiveLinkTake(times=times, values=values, rate=rate, rate_inferred=inferred, extra=extra,
                        dropped_rows=dropped, source=source)


def _number(cell: str, lineno: int, column: str, source: str) -> float:
    try:
        v = float(cell)
    except ValueError:
        raise ValueError(f"{source} line {lineno}, column {column!r}: {cell.strip()[:30]!r} is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"{source} line {lineno}, column {column!r}: {cell.strip()!r} is not a finite number")
    return v


def read_livelink_csv(path: str) -> LiveLinkTake:
    """Read and parse a Live Link Face CSV file (see ``parse_livelink_csv``).

    Raises:
        FileNotFoundError: no such file. ValueError: as ``parse_livelink_csv``, or the file is not UTF-8 text.
    """
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(f"CSV file not found: {path!r}; choose the .csv a Live Link Face take saved")
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise ValueError(f"{os.path.basename(path)}: not a text CSV file (not UTF-8)") from None
    return parse_livelink_csv(text, source=os.path.basename(path))


def resample(times, values, fps: float):
    """Linear resampling of per-row values onto a regular frame grid.

    Args:
        times: (T,) seconds from the start, increasing.
        values: (T, K) values per row.
        fps: output frames per second (> 0).
    Returns:
        (frame_offsets, out): frame_offsets (M,) int32 = 0 .. floor(duration * fps), out (M, K) float64,
        the values at time offset / fps (clamped to the last row at the end).
    """
    import numpy as np
    if not fps or fps <= 0:
        raise ValueError(f"the frame rate must be positive, got {fps}")
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] != t.shape[0] or t.shape[0] == 0:
        raise ValueError(f"times ({t.shape}) and values ({v.shape}) must have the same number of rows (>0)")
    n = int(math.floor(float(t[-1] - t[0]) * fps + 1e-6)) + 1
    offsets = np.arange(n, dtype=np.int32)
    tq = t[0] + offsets / float(fps)
    out = np.empty((n, v.shape[1]), dtype=np.float64)
    for k in range(v.shape[1]):
        out[:, k] = np.interp(tq, t, v[:, k])
    return offsets, out


def take_to_ict(take: LiveLinkTake, fps: float):
    """Resample a take to ``fps`` and convert ARKit to ICT weights.

    Returns:
        (frame_offsets (M,) int32, ict (M, 53) float64, arkit (M, 52) float64).
    """
    offsets, arkit = resample(take.times, take.values, fps)
    return offsets, arkit_to_ict(arkit), arkit
