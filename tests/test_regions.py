"""Region segmentation of the ICT full-head crop: the committed label map, its API and its plausibility.

Uses the real ICT-FaceKit data (../shared/data/ict_facekit) and the committed
model_core/data/ict_regions.npz. Numpy only.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from model_core.runtime import regions
from model_core.dataset.ict import CROPS
from model_core.runtime.mesh import edge_components, unique_edges
from model_core.runtime.regions import (MIRROR, N_REGIONS, REGION_COLORS, REGION_NAMES, crop_labels, load_ict_labels,
                                region_colors_for)

ROOT = Path(__file__).resolve().parent.parent
N_FULL = CROPS["full"][0]
R = {n: i for i, n in enumerate(REGION_NAMES)}


@pytest.fixture(scope="module")
def labels():
    return load_ict_labels()


@pytest.fixture(scope="module")
def mirror(ict):
    """Mirror vertex of each full-crop vertex: nearest neighbour of (-x, y, z), chunked numpy."""
    v = ict.neutral[:N_FULL].astype(np.float64)
    q = v * np.array([-1.0, 1.0, 1.0])
    sq = (v ** 2).sum(1)
    out = np.empty(len(v), np.int64)
    for s in range(0, len(v), 2048):
        qq = q[s:s + 2048]
        out[s:s + 2048] = np.argmin((qq ** 2).sum(1)[:, None] + sq[None, :] - 2 * qq @ v.T, axis=1)
    return out


def _components(labels: np.ndarray, edges: np.ndarray) -> np.ndarray:
    same = labels[edges[:, 0]] == labels[edges[:, 1]]
    return edge_components(len(labels), edges[same])


def test_names_colors_mirror_are_consistent():
    assert 18 <= N_REGIONS <= 24
    assert len(set(REGION_NAMES)) == N_REGIONS
    for n in REGION_NAMES:  # usable in NFS_<region> vertex-group names
        assert re.fullmatch(r"[a-z][a-z_]*(_L|_R)?", n), n
        assert n.isascii() and n.isidentifier()
    assert REGION_COLORS.shape == (N_REGIONS, 3) and REGION_COLORS.dtype == np.float32
    assert REGION_COLORS.min() >= 0 and REGION_COLORS.max() <= 1
    d = np.linalg.norm(REGION_COLORS[:, None] - REGION_COLORS[None], axis=2) + np.eye(N_REGIONS)
    assert d.min() > 0.1, "region colours must be distinguishable"
    assert MIRROR.shape == (N_REGIONS,)
    assert np.array_equal(MIRROR[MIRROR], np.arange(N_REGIONS)), "mirroring twice is the identity"
    for i, n in enumerate(REGION_NAMES):
        twin = REGION_NAMES[MIRROR[i]]
        if n.endswith("_L"):
            assert twin == n[:-2] + "_R"
        elif n.endswith("_R"):
            assert twin == n[:-2] + "_L"
        else:
            assert twin == n


# ----------------------------------------------------------------------------- the committed label map

def test_default_config_has_one_skinning_output_per_region():
    from model_core.runtime.config import ModelConfig
    assert ModelConfig().n_regions == len(REGION_NAMES) == 22  # README: 22 regions


def test_labels_cover_the_full_crop(labels):
    assert labels.shape == (N_FULL,) and labels.dtype == np.int64
    assert labels.min() >= 0 and labels.max() < N_REGIONS
    counts = np.bincount(labels, minlength=N_REGIONS)
    assert (counts > 0).all(), f"unused regions: {[REGION_NAMES[i] for i in np.nonzero(counts == 0)[0]]}"
    assert counts.min() >= 100, dict(zip(REGION_NAMES, counts.tolist()))
    with np.load(regions.DEFAULT_LABELS_PATH) as d:
        assert d["labels"].dtype == np.uint8
        assert [str(s) for s in d["names"]] == REGION_NAMES
    assert regions.DEFAULT_LABELS_PATH.stat().st_size < 64 * 1024


def test_labels_are_left_right_symmetric(ict, labels, mirror):
    v = ict.neutral[:N_FULL]
    assert np.abs(v[mirror] * [-1, 1, 1] - v).max() < 0.01  # the generic neutral itself is symmetric
    agree = np.mean(labels[mirror] == MIRROR[labels])
    assert agree >= 0.98, f"only {100 * agree:.2f}% of vertices have the mirrored label on their mirror vertex"
    # sided regions lie on their own side (+X = the character's left)
    for i, n in enumerate(REGION_NAMES):
        xs = v[labels == i, 0]
        if n.endswith("_L"):
            assert xs.min() > 0, n
        elif n.endswith("_R"):
            assert xs.max() < 0, n
    # twins have the same size
    counts = np.bincount(labels, minlength=N_REGIONS)
    assert np.array_equal(counts, counts[MIRROR])


def test_regions_are_contiguous(ict, labels):
    edges = unique_edges(ict.crop_faces("full"))
    comp = _components(labels, edges)
    pieces = {n: len(np.unique(comp[labels == i])) for i, n in enumerate(REGION_NAMES)}
    assert all(p == 1 for p in pieces.values()), pieces


def test_landmarks_fall_in_their_regions(ict, labels):
    lm = ict.landmarks
    assert lm.shape == (68,)
    got = [REGION_NAMES[labels[i]] for i in lm]
    # Multi-PIE 42-47 is the eye at +X (the character's left), 36-41 the other one
    assert all(g == "eye_L" for g in got[42:48]), got[42:48]
    assert all(g == "eye_R" for g in got[36:42]), got[36:42]
    assert all(g == "lips" for g in got[48:68]), got[48:68]
    assert all(g == "nose" for g in got[28:36]), got[28:36]  # bridge, tip, nostrils
    assert got[27] in ("procerus", "nose")  # nasal root between the eyes
    assert all(g in ("forehead", "procerus", "eye_L", "eye_R") for g in got[17:27]), got[17:27]
    assert got[8] == "jaw"  # chin
    # left-side landmark x > 0, as the sides say
    assert ict.neutral[lm[45], 0] > 0 and ict.neutral[lm[36], 0] < 0


def _moving(ict, name: str, frac: float) -> np.ndarray:
    k = ict.expression_names.index(name)
    mag = np.linalg.norm(ict.expression_modes[k, :N_FULL], axis=1)
    return mag > frac * mag.max()


def test_expressions_move_their_regions(ict, labels):
    lower_face = [R[n] for n in ("jaw", "lips", "orbicularis_oris", "platysma")]
    w = _moving(ict, "jawOpen", 0.2)
    share = np.isin(labels[w], lower_face).mean()
    assert share >= 0.85, f"jawOpen: only {100 * share:.1f}% of its moving vertices are jaw/lips/oris/platysma"
    for side in ("L", "R"):
        w = _moving(ict, f"eyeBlink_{side}", 0.1)
        assert np.mean(labels[w] == R[f"eye_{side}"]) >= 0.95
        w = _moving(ict, f"browOuterUp_{side}", 0.5)
        assert np.isin(labels[w], [R["forehead"], R[f"eye_{side}"]]).mean() >= 0.95
        w = _moving(ict, f"mouthSmile_{side}", 0.5)
        assert np.isin(labels[w], [R["lips"], R["orbicularis_oris"], R[f"zygomaticus_{side}"],
                                   R[f"levator_labii_{side}"], R["jaw"]]).mean() >= 0.95
    # no expression moves the back of the head or the ears much (ICT's smile and cheekSquint do drag
    # the ear by ~15% of their peak, and browInnerUp the scalp at the crown by ~23%)
    for name in ("jawOpen", "mouthSmile_L", "cheekSquint_R", "eyeBlink_L", "browInnerUp_L", "noseSneer_R"):
        w = _moving(ict, name, 0.3)
        assert not np.isin(labels[w], [R["back_of_head"], R["ear_L"], R["ear_R"]]).any(), name


def test_geometry_is_plausible(ict, labels):
    v = ict.neutral[:N_FULL]
    y_of = {n: np.median(v[labels == i, 1]) for i, n in enumerate(REGION_NAMES)}
    z_of = {n: np.median(v[labels == i, 2]) for i, n in enumerate(REGION_NAMES)}
    assert y_of["forehead"] > y_of["eye_L"] > y_of["nose"] > y_of["lips"] > y_of["jaw"] > y_of["platysma"]
    assert y_of["platysma"] > y_of["clavicle"]
    assert z_of["back_of_head"] < z_of["ear_L"] < z_of["masseter_L"] < z_of["zygomaticus_L"] < z_of["nose"]
    assert z_of["back_of_neck"] < z_of["platysma"]
    ears = v[labels == R["ear_L"]]
    assert ears[:, 0].max() > 8.5 and ears[:, 0].min() > 5.5  # the auricle stands off the side of the head


def test_labels_match_the_generating_script(ict, labels):
    """The committed file is what scripts/make_region_labels.py makes now (regenerate it when this fails)."""
    from model_core.dataset.region_labels import make_labels
    fresh, _ = make_labels(ict)
    assert np.array_equal(fresh, labels), "run `python scripts/make_region_labels.py` and commit the result"


# ----------------------------------------------------------------------------- API

def test_crop_labels_are_prefixes(labels):
    for crop, (n_v, _) in CROPS.items():
        c = crop_labels(crop)
        assert c.shape == (n_v,)
        assert np.array_equal(c, labels[:n_v])
    assert regions.CROP_SIZES == {k: v[0] for k, v in CROPS.items()}
    narrow = crop_labels("narrow")
    assert R["back_of_head"] not in narrow  # the narrow face crop has no scalp
    with pytest.raises(ValueError, match="unknown crop"):
        crop_labels("torso")


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="make_region_labels.py"):
        load_ict_labels(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError):
        crop_labels("face", path=tmp_path / "nope.npz")


def test_bad_files_are_rejected(tmp_path, labels):
    p = tmp_path / "bad_keys.npz"
    np.savez(p, foo=np.zeros(3))
    with pytest.raises(ValueError, match="'labels' and 'names'"):
        load_ict_labels(p)
    p = tmp_path / "bad_names.npz"
    np.savez(p, labels=labels.astype(np.uint8), names=np.asarray(REGION_NAMES[:-1]))
    with pytest.raises(ValueError, match="regenerate"):
        load_ict_labels(p)
    p = tmp_path / "bad_shape.npz"
    np.savez(p, labels=labels[:100].astype(np.uint8), names=np.asarray(REGION_NAMES))
    with pytest.raises(ValueError, match="shape"):
        load_ict_labels(p)
    p = tmp_path / "bad_range.npz"
    bad = labels.astype(np.uint8).copy()
    bad[0] = N_REGIONS
    np.savez(p, labels=bad, names=np.asarray(REGION_NAMES))
    with pytest.raises(ValueError, match="lie in"):
        load_ict_labels(p)


def test_loaded_labels_are_copies(labels):
    a = load_ict_labels()
    a[:] = 0
    assert np.array_equal(load_ict_labels(), labels)


def test_region_colors_for():
    onehot = np.eye(N_REGIONS)[[0, 3, 15]]
    np.testing.assert_allclose(region_colors_for(onehot), REGION_COLORS[[0, 3, 15]], atol=1e-6)
    half = np.zeros((1, N_REGIONS))
    half[0, [3, 4]] = 2.0  # unnormalised rows are normalised
    np.testing.assert_allclose(region_colors_for(half)[0], 0.5 * (REGION_COLORS[3] + REGION_COLORS[4]), atol=1e-6)
    out = region_colors_for(np.zeros((2, N_REGIONS)))
    assert out.shape == (2, 3) and out.dtype == np.float32 and np.allclose(out, 0.5)
    np.testing.assert_allclose(region_colors_for(np.array([1, 2])), REGION_COLORS[[1, 2]])
    with pytest.raises(ValueError, match="shape"):
        region_colors_for(np.ones((4, N_REGIONS + 1)))
    with pytest.raises(ValueError, match="non-negative"):
        region_colors_for(-np.ones((1, N_REGIONS)))
    with pytest.raises(ValueError, match="NaN"):
        region_colors_for(np.full((1, N_REGIONS), np.nan))
    with pytest.raises(ValueError):
        region_colors_for(np.array([0.5, 1.0]))
    with pytest.raises(ValueError):
        region_colors_for(np.array([N_REGIONS]))


def test_runtime_module_imports_no_heavy_deps():
    src = Path(regions.__file__).read_text()
    for mod in ("torch", "scipy", "bpy"):
        assert not re.search(rf"^\s*(import|from)\s+{mod}\b", src, re.M), mod
