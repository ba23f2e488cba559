"""Live Link Face CSV parsing and resampling (pure Python part of the add-on; no bpy needed)."""
import numpy as np
import pytest

from model_core.runtime import facs_names as fn
from nfs_blender import livelink_csv as ll

PASCAL = [n[0].upper() + n[1:] for n in fn.ARKIT_NAMES]
EXTRA = ["HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
         "RightEyeYaw", "RightEyePitch", "RightEyeRoll"]


def timecode(i, rate=60, start=(12, 34, 56), sub=0.0):
    s0 = start[0] * 3600 + start[1] * 60 + start[2]
    s, f = divmod(i, rate)
    t = s0 + s
    return f"{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}:{f:02d}.{int(round(sub * 1000)):03d}"


def make_csv(n_rows=121, rate=60, columns=None, start=(12, 34, 56), value=None):
    columns = PASCAL if columns is None else columns
    header = ["Timecode", "BlendShapeCount"] + columns + EXTRA
    lines = [",".join(header)]
    for i in range(n_rows):
        vals = [value(i, k) if value else (i * 0.001 + k * 0.01) % 1.0 for k in range(len(columns))]
        lines.append(",".join([timecode(i, rate, start), "61"] + [f"{v:.6f}" for v in vals]
                              + [f"{0.1 * i:.3f}"] + ["0"] * (len(EXTRA) - 1)))
    return "\n".join(lines) + "\n"


def test_parse_standard_take_60fps():
    take = ll.parse_livelink_csv(make_csv(121, 60), source="take.csv")
    assert take.n_rows == 121 and take.rate == 60 and take.rate_inferred
    assert take.duration == pytest.approx(2.0)
    assert take.sample_rate() == pytest.approx(60.0)
    v = np.asarray(take.values)
    assert v.shape == (121, 52)
    assert v[10, fn.ARKIT_INDEX["eyeBlinkLeft"]] == pytest.approx(0.010)
    assert v[10, fn.ARKIT_INDEX["jawOpen"]] == pytest.approx((0.010 + fn.ARKIT_INDEX["jawOpen"] * 0.01) % 1.0, abs=1e-6)
    assert take.extra["HeadYaw"][20] == pytest.approx(2.0)
    assert set(take.extra) == set(EXTRA)


def test_rate_inferred_from_rollover_30fps_and_default_for_short_takes():
    take = ll.parse_livelink_csv(make_csv(45, 30))
    assert take.rate == 30 and take.rate_inferred
    assert take.duration == pytest.approx(44 / 30)
    short = ll.parse_livelink_csv(make_csv(20, 60))  # never crosses a second: default 60
    assert short.rate == ll.DEFAULT_RATE and not short.rate_inferred
    assert short.duration == pytest.approx(19 / 60)


def test_subframe_fraction_and_midnight_wrap():
    header = ",".join(["Timecode", "BlendShapeCount"] + PASCAL)
    zeros = ",".join(["0"] * 52)
    rows = [f"23:59:59:58.500,61,{zeros}", f"23:59:59:59.500,61,{zeros}", f"00:00:00:00.500,61,{zeros}",
            f"00:00:00:01.500,61,{zeros}"]
    take = ll.parse_livelink_csv(header + "\n" + "\n".join(rows))
    assert take.rate == 60
    np.testing.assert_allclose(take.times, [0, 1 / 60, 2 / 60, 3 / 60], atol=1e-9)


def test_resample_60_to_24_fps():
    take = ll.parse_livelink_csv(make_csv(121, 60, value=lambda i, k: i / 120.0))
    offsets, ict, arkit = ll.take_to_ict(take, 24.0)
    assert offsets.tolist() == list(range(49))  # 2 s at 24 fps: frames 0..48
    assert ict.shape == (49, 53) and arkit.shape == (49, 52)
    # a linear ramp resamples exactly: value(t) = t / 2
    np.testing.assert_allclose(arkit[:, 0], offsets / 24.0 / 2.0, atol=1e-6)  # CSV has 6 decimals
    np.testing.assert_allclose(ict[:, fn.ICT_INDEX["browInnerUp_R"]], arkit[:, fn.ARKIT_INDEX["browInnerUp"]])


def test_column_order_and_case_do_not_matter_tongue_optional():
    cols = [c.lower() for c in PASCAL if c != "TongueOut"][::-1]
    take = ll.parse_livelink_csv(make_csv(5, 60, columns=cols, value=lambda i, k: k / 100.0))
    v = np.asarray(take.values)
    j = fn.ARKIT_INDEX["noseSneerRight"]
    assert v[0, j] == pytest.approx(cols.index("nosesneerright") / 100.0)
    assert (v[:, fn.ARKIT_INDEX["tongueOut"]] == 0).all()


def test_errors_name_the_problem_and_line():
    with pytest.raises(ValueError, match="first column must be 'Timecode'"):
        ll.parse_livelink_csv("Frame,EyeBlinkLeft\n1,0.5\n", source="x.csv")
    with pytest.raises(ValueError, match=r"2 ARKit blendshape column\(s\) missing: EyeBlinkLeft, JawOpen"):
        ll.parse_livelink_csv(make_csv(3, columns=[c for c in PASCAL if c not in ("EyeBlinkLeft", "JawOpen")]))
    bad = make_csv(6).splitlines()
    cells = bad[4].split(",")
    cells[7] = "abc"
    bad[4] = ",".join(cells)
    with pytest.raises(ValueError, match=r"line 5, column '\w+': 'abc' is not a number"):
        ll.parse_livelink_csv("\n".join(bad), source="take.csv")
    short = make_csv(6).splitlines()
    short[3] = ",".join(short[3].split(",")[:-2])
    with pytest.raises(ValueError, match=r"line 4: \d+ fields, the header has \d+"):
        ll.parse_livelink_csv("\n".join(short))
    tc = make_csv(4).splitlines()
    tc[2] = "12:xx:00:01.000" + tc[2][15:]
    with pytest.raises(ValueError, match="line 3: timecode"):
        ll.parse_livelink_csv("\n".join(tc))
    with pytest.raises(ValueError, match="no data rows"):
        ll.parse_livelink_csv(make_csv(0))
    with pytest.raises(ValueError, match="empty"):
        ll.parse_livelink_csv("\n\n")
    nan = make_csv(3).replace("0.000000", "nan", 1)
    with pytest.raises(ValueError, match="not a finite number"):
        ll.parse_livelink_csv(nan)


def test_read_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="CSV file not found"):
        ll.read_livelink_csv(str(tmp_path / "missing.csv"))
    p = tmp_path / "take.csv"
    p.write_bytes(b"\xef\xbb\xbf" + make_csv(10).encode())  # BOM written by some editors
    assert ll.read_livelink_csv(str(p)).n_rows == 10
    b = tmp_path / "bin.csv"
    b.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(ValueError, match="not a text CSV"):
        ll.read_livelink_csv(str(b))


def test_duplicate_timecodes_keep_the_later_row():
    text = make_csv(4, value=lambda i, k: float(i))
    lines = text.splitlines()
    lines.insert(3, lines[2].replace(",1.000000", ",9.000000"))  # same timecode as row 1, later values
    take = ll.parse_livelink_csv("\n".join(lines))
    assert take.n_rows == 4 and take.dropped_rows == 1
    assert take.values[1][0] == 9.0
