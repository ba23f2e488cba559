"""ICT <-> ARKit FACS names, conversions, source-name matching, UI groups and mirroring (pure Python)."""
import json

import numpy as np
import pytest

from model_core.runtime import facs_names as fn
from model_core.dataset.ict import default_data_dir

DATA = default_data_dir()  # $NFS_ICT_DIR or ../shared/data/ict_facekit


def test_ict_names_match_the_ict_facekit_data():
    names = json.loads((DATA / "vertex_indices.json").read_text())["expressions"]
    assert list(fn.ICT_NAMES) == [str(n) for n in names]
    assert list(fn.ICT_NAMES) == [str(n) for n in np.load(DATA / "ict_facekit.npz")["expression_names"]]
    assert len(fn.ICT_NAMES) == 53 and len(set(fn.ICT_NAMES)) == 53


def test_arkit_names_are_the_52_apple_shapes():
    assert len(fn.ARKIT_NAMES) == 52 and len(set(fn.ARKIT_NAMES)) == 52
    assert fn.ARKIT_NAMES[0] == "eyeBlinkLeft" and fn.ARKIT_NAMES[-1] == "tongueOut"
    assert {"browInnerUp", "cheekPuff", "jawOpen", "mouthLeft"} <= set(fn.ARKIT_NAMES)
    # every ARKit name but tongueOut comes from an ICT name
    assert {fn.ict_to_arkit_name(n) for n in fn.ICT_NAMES} == set(fn.ARKIT_NAMES) - {"tongueOut"}
    assert fn.arkit_to_ict_names("browInnerUp") == ("browInnerUp_L", "browInnerUp_R")
    assert fn.arkit_to_ict_names("eyeBlinkLeft") == ("eyeBlink_L",)
    assert fn.arkit_to_ict_names("tongueOut") == ()


def test_ict_to_arkit_merges_and_zeroes_tongue():
    w = [0.0] * 53
    w[fn.ICT_INDEX["browInnerUp_L"]] = 0.2
    w[fn.ICT_INDEX["browInnerUp_R"]] = 0.6
    w[fn.ICT_INDEX["cheekPuff_L"]] = 1.0
    w[fn.ICT_INDEX["eyeBlink_R"]] = 0.7
    w[fn.ICT_INDEX["jawLeft"]] = 0.3
    a = fn.ict_to_arkit(w)
    assert len(a) == 52
    assert a[fn.ARKIT_INDEX["browInnerUp"]] == pytest.approx(0.4)
    assert a[fn.ARKIT_INDEX["cheekPuff"]] == pytest.approx(0.5)
    assert a[fn.ARKIT_INDEX["eyeBlinkRight"]] == pytest.approx(0.7)
    assert a[fn.ARKIT_INDEX["jawLeft"]] == pytest.approx(0.3)
    assert a[fn.ARKIT_INDEX["tongueOut"]] == 0.0
    assert sum(a) == pytest.approx(0.4 + 0.5 + 0.7 + 0.3)


def test_arkit_to_ict_copies_split_shapes_and_round_trips():
    rng = np.random.default_rng(0)
    a = rng.random((7, 52)).astype(np.float32)
    w = fn.arkit_to_ict(a)
    assert w.shape == (7, 53)
    for side in ("_L", "_R"):
        np.testing.assert_array_equal(w[:, fn.ICT_INDEX["browInnerUp" + side]], a[:, fn.ARKIT_INDEX["browInnerUp"]])
        np.testing.assert_array_equal(w[:, fn.ICT_INDEX["cheekPuff" + side]], a[:, fn.ARKIT_INDEX["cheekPuff"]])
    np.testing.assert_array_equal(w[:, fn.ICT_INDEX["mouthSmile_L"]], a[:, fn.ARKIT_INDEX["mouthSmileLeft"]])
    back = fn.ict_to_arkit(w)
    a0 = a.copy()
    a0[:, fn.ARKIT_INDEX["tongueOut"]] = 0.0
    np.testing.assert_allclose(back, a0, atol=1e-7)
    # list input, list output, same numbers
    assert fn.arkit_to_ict(a[0].tolist()) == pytest.approx(w[0].tolist())
    with pytest.raises(ValueError, match="53"):
        fn.ict_to_arkit(np.zeros((3, 52)))
    with pytest.raises(ValueError, match="52"):
        fn.arkit_to_ict([0.0] * 53)


@pytest.mark.parametrize("style", [
    lambda n: n,                                                        # ICT: eyeBlink_L
    lambda n: fn.ict_to_arkit_name(n),                                  # ARKit: eyeBlinkLeft
    lambda n: fn.ict_to_arkit_name(n)[0].upper() + fn.ict_to_arkit_name(n)[1:],  # Live Link: EyeBlinkLeft
    lambda n: n.replace("_L", ".L").replace("_R", ".R"),                # Blender: eyeBlink.L
    lambda n: n.replace("_L", "_l").replace("_R", "_r"),                # eyeBlink_l
    lambda n: n.upper(),                                                # EYEBLINK_L
    lambda n: "head:" + n,                                              # namespace prefix
])
def test_match_source_names_accepts_all_styles(style):
    names = ["Basis", "Key 1", "tongueOut", "smile_extra"] + [style(n) for n in fn.ICT_NAMES]
    names = list(dict.fromkeys(names))  # ARKit style repeats browInnerUp / cheekPuff
    m = fn.match_source_names(names)
    covered = sorted(i for idx in m.values() for i in idx)
    assert covered == list(range(53)), style(fn.ICT_NAMES[0])
    assert "Basis" not in m and "Key 1" not in m and "smile_extra" not in m and "tongueOut" not in m
    for name, idx in m.items():
        for i in idx:  # the side is preserved: a left source drives a left ICT expression
            low = name.lower()
            side = "L" if low.endswith(("left", "_l", ".l")) else "R" if low.endswith(("right", "_r", ".r")) else ""
            assert fn.side_of(fn.ICT_NAMES[i]) == side or len(idx) == 2


def test_match_source_names_specific_cases():
    m = fn.match_source_names(["EyeBlinkLeft", "eyeBlink_L", "BrowInnerUp", "mouthLeft", "jawRight",
                               "eyeBlinkR", "blendShape1.mouthSmileLeft", "mouthFunnel"])
    assert m["EyeBlinkLeft"] == (fn.ICT_INDEX["eyeBlink_L"],)
    assert "eyeBlink_L" not in m  # first source keeps an ICT index
    assert m["BrowInnerUp"] == (fn.ICT_INDEX["browInnerUp_L"], fn.ICT_INDEX["browInnerUp_R"])
    assert m["mouthLeft"] == (fn.ICT_INDEX["mouthLeft"],)
    assert m["jawRight"] == (fn.ICT_INDEX["jawRight"],)
    assert m["eyeBlinkR"] == (fn.ICT_INDEX["eyeBlink_R"],)
    assert m["blendShape1.mouthSmileLeft"] == (fn.ICT_INDEX["mouthSmile_L"],)
    assert m["mouthFunnel"] == (fn.ICT_INDEX["mouthFunnel"],)
    vals = fn.source_values_to_ict(m, {"BrowInnerUp": 0.5, "mouthFunnel": 0.25})
    assert vals[fn.ICT_INDEX["browInnerUp_L"]] == vals[fn.ICT_INDEX["browInnerUp_R"]] == 0.5
    assert vals[fn.ICT_INDEX["mouthFunnel"]] == 0.25 and sum(vals) == 1.25


def test_groups_cover_every_name_with_the_ui_groups():
    assert set(fn.FACS_GROUPS) == set(fn.ICT_NAMES)
    assert set(fn.FACS_GROUPS.values()) == set(fn.FACS_GROUP_ORDER)
    assert fn.FACS_GROUPS["browInnerUp_L"] == "brows"
    assert fn.FACS_GROUPS["eyeLookIn_R"] == "eyes"
    assert fn.FACS_GROUPS["cheekSquint_L"] == "cheeks"
    assert fn.FACS_GROUPS["noseSneer_R"] == "nose"
    assert fn.FACS_GROUPS["mouthRollLower"] == "mouth"
    assert fn.FACS_GROUPS["jawOpen"] == "jaw"
    assert fn.ARKIT_GROUPS["tongueOut"] == "mouth"
    counts = {g: list(fn.FACS_GROUPS.values()).count(g) for g in fn.FACS_GROUP_ORDER}
    assert counts == {"brows": 6, "eyes": 14, "cheeks": 4, "nose": 2, "mouth": 23, "jaw": 4}


def test_mirror_name_all_styles():
    pairs = [("eyeBlink_L", "eyeBlink_R"), ("eyeBlinkLeft", "eyeBlinkRight"), ("EyeBlinkLeft", "EyeBlinkRight"),
             ("brow.L", "brow.R"), ("cheek_l", "cheek_r"), ("jawLeft", "jawRight"), ("mouthLeft", "mouthRight"),
             ("smile_left", "smile_right"), ("EYE_BLINK_LEFT", "EYE_BLINK_RIGHT")]
    for a, b in pairs:
        assert fn.mirror_name(a) == b and fn.mirror_name(b) == a
        assert fn.side_of(a) == "L" and fn.side_of(b) == "R"
    for n in ("jawOpen", "mouthFunnel", "browInnerUp", "Left", "Basis"):
        assert fn.mirror_name(n) == n and fn.side_of(n) == ""
    # mirroring maps the ICT set onto itself
    assert {fn.mirror_name(n) for n in fn.ICT_NAMES} == set(fn.ICT_NAMES)
    assert {fn.mirror_name(n) for n in fn.ARKIT_NAMES} == set(fn.ARKIT_NAMES)


def test_names_for_scheme():
    assert fn.names_for_scheme("ICT") is fn.ICT_NAMES
    assert fn.names_for_scheme("arkit") is fn.ARKIT_NAMES
    with pytest.raises(ValueError, match="ict"):
        fn.names_for_scheme("vrm")


def test_arkit_spelling_reads_exporters_spellings():
    arkit_spelling = fn.arkit_spelling
    assert all(arkit_spelling(n) == n for n in fn.ARKIT_NAMES)
    for spelled, name in (("eyeBlink_L", "eyeBlinkLeft"), ("EyeBlinkRight", "eyeBlinkRight"),
                          ("eye_blink_left", "eyeBlinkLeft"), ("head:jawOpen", "jawOpen"),
                          ("browInnerUp_L", "browInnerUp"), ("TongueOut", "tongueOut"), ("mouthLeft", "mouthLeft")):
        assert arkit_spelling(spelled) == name, spelled
    assert arkit_spelling("Basis") is None and arkit_spelling("Neutral") is None


def test_ict_deltas_to_arkit_sum_the_shapes_each_arkit_shape_feeds():
    d = np.random.default_rng(0).normal(size=(53, 4, 3))
    out = fn.ict_to_arkit_deltas(d)
    a, i = fn.ARKIT_NAMES.index, fn.ICT_NAMES.index
    assert out.shape == (52, 4, 3)
    np.testing.assert_array_equal(out[a("eyeBlinkLeft")], d[i("eyeBlink_L")])
    np.testing.assert_allclose(out[a("browInnerUp")], d[i("browInnerUp_L")] + d[i("browInnerUp_R")])
    np.testing.assert_array_equal(out[a("tongueOut")], 0.0)
    # the weights' map is the mean of the halves: a shape driven by ict_to_arkit's weights moves as ICT's did
    w = np.random.default_rng(1).uniform(size=53)
    w[[i("browInnerUp_R"), i("cheekPuff_R")]] = w[[i("browInnerUp_L"), i("cheekPuff_L")]]
    np.testing.assert_allclose(np.tensordot(fn.ict_to_arkit(w), out, 1), np.tensordot(w, d, 1), atol=1e-12)
    with pytest.raises(ValueError, match="53 ICT shapes"):
        fn.ict_to_arkit_deltas(d[:52])
