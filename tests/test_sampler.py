"""Training stream (model_core.dataset.sampler) on the real ICT-FaceKit data: exact ground truth, augmentation
ranges, FACS mix, identity split, determinism, labels, topology mixture, bad input."""
import numpy as np
import pytest

from model_core.dataset.ict import CROPS
from model_core.dataset.remesh import TopologyBank
from model_core.dataset.sampler import FaceSampler, lr_partners, random_rotation, sample_facs, sample_identity


@pytest.fixture(scope="module")
def bank(ict, tmp_path_factory):
    return TopologyBank(ict, seed=4, sizes=(1000, 2000), crops=("full", "face", "narrow"), per_size=1,
                        cache_dir=tmp_path_factory.mktemp("bank"))


def test_group_is_exact_ground_truth(ict, bank):
    s = FaceSampler(ict, None, seed=7, bank=bank, n_expr=4)
    kinds = set()
    for g in s.take(12):
        n = CROPS[g.crop][0]
        k, nv = g.posed.shape[:2]
        assert k == 4 and g.neutral.shape == (nv, 3) and g.faces.shape[1] == 3 and g.faces.max() == nv - 1
        assert g.facs.shape == (4, 53) and g.facs.dtype == np.float32
        assert g.id_coeffs.shape == (100,) and g.id_coeffs.dtype == np.float32
        assert g.labels.shape == (nv,) and g.src_face.shape == (nv,) and g.bary.shape == (nv, 3)
        assert np.array_equal(g.corners, ict.crop_faces(g.crop)[g.src_face])
        # recompute from the stored coefficients, independently of the sampler's matrices
        c = g.id_coeffs.astype(np.float64)
        neutral_ict, _ = ict.head(c, None, crop=g.crop)
        ref_n = np.einsum("nkd,nk->nd", neutral_ict[g.corners], g.bary)
        ref_n = g.scale * ref_n @ g.rotation.T + g.translation
        assert np.abs(g.neutral - ref_n).max() < 1e-9
        for j in range(k):
            posed_ict, _ = ict.head(c, g.facs[j].astype(np.float64), crop=g.crop)
            assert posed_ict.shape == (n, 3)
            ref = np.einsum("nkd,nk->nd", posed_ict[g.corners], g.bary)
            ref = g.scale * ref @ g.rotation.T + g.translation
            assert np.abs(g.posed[j] - ref).max() < 1e-9  # far below 0.01 mm
            assert np.abs(g.unaugment(g.posed[j]) - np.einsum("nkd,nk->nd", posed_ict[g.corners], g.bary)
                          ).max() < 1e-9
        kinds.add(g.kind)
    assert len(kinds) >= 2


def test_augmentation_ranges(ict):
    s = FaceSampler(ict, None, seed=1, bank=None, n_expr=1)
    angles = []
    for g in s.take(150):
        assert 0.8 <= g.scale <= 1.2
        assert np.abs(g.translation).max() <= 5.0
        r = g.rotation
        assert np.allclose(r @ r.T, np.eye(3), atol=1e-12) and np.linalg.det(r) > 0
        angles.append(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))
    assert max(angles) <= 15.0 + 1e-9 and max(angles) > 10.0
    plain = FaceSampler(ict, None, seed=1, bank=None, n_expr=1, augment=False).sample_group()
    assert plain.scale == 1.0 and np.array_equal(plain.rotation, np.eye(3))
    r = random_rotation(np.random.default_rng(0), 0.0)
    assert np.allclose(r, np.eye(3))


def test_facs_mix(ict):
    s = FaceSampler(ict, None, seed=3, bank=None, n_expr=8)
    w = np.stack([s.sample_facs() for _ in range(3000)]).astype(np.float64)
    assert w.min() >= 0 and w.max() <= 1
    nnz = np.count_nonzero(w, axis=1)
    assert 0.02 < (nnz == 0).mean() < 0.09  # neutral
    singles = np.flatnonzero((nnz == 1) & (w.max(1) == 1.0))
    assert 0.11 < len(singles) / len(w) < 0.19
    # the weight-1 singles cycle through all 53 shapes in order
    idx = np.argmax(w[singles], axis=1)
    assert np.array_equal(idx[:53], np.arange(53))
    combos = w[(nnz > 0) & ~np.isin(np.arange(len(w)), singles)]
    nz = combos[combos > 0]
    assert nz.min() >= 0.2 and nnz.max() <= 10
    # both sides of _L/_R pairs appear together sometimes
    partners = lr_partners(ict.expression_names)
    assert (partners >= 0).sum() >= 40 and partners[partners[partners >= 0]].tolist() == \
        np.flatnonzero(partners >= 0).tolist()
    both = (combos[:, partners >= 0] > 0) & (combos[:, partners[partners >= 0]] > 0)
    assert both.any(axis=1).mean() > 0.1
    # public helpers
    rng = np.random.default_rng(0)
    assert sample_facs(rng).shape == (53,) and sample_identity(rng).shape == (100,)


def test_identity_split_and_distribution(ict):
    train = FaceSampler(ict, None, seed=5, identity_split="train")
    test = FaceSampler(ict, None, seed=5, identity_split="test")
    a = np.stack([train.sample_identity() for _ in range(2000)]).astype(np.float64)
    b = np.stack([test.sample_identity() for _ in range(200)]).astype(np.float64)
    assert abs(a.mean()) < 0.02 and abs(a.std() - 1) < 0.02
    d = np.linalg.norm(a[:, None] - b[None], axis=2)
    assert d.min() > 5.0  # no eval identity is (or is near) a training identity
    assert test.sample_group().identity_split == "test"


def test_determinism(ict, bank):
    g1 = FaceSampler(ict, None, seed=11, bank=bank, n_expr=3).take(4)
    g2 = FaceSampler(ict, None, seed=11, bank=bank, n_expr=3).take(4)
    g3 = FaceSampler(ict, None, seed=12, bank=bank, n_expr=3).take(4)
    for x, y in zip(g1, g2):
        assert x.topology_key == y.topology_key and x.crop == y.crop
        for name in ("faces", "neutral", "posed", "facs", "id_coeffs", "labels", "rotation", "translation"):
            assert np.array_equal(getattr(x, name), getattr(y, name)), name
    assert not all(np.array_equal(x.id_coeffs, z.id_coeffs) for x, z in zip(g1, g3))


def test_labels(ict, bank):
    lab = (np.arange(11248) % 19).astype(np.int64)
    s = FaceSampler(ict, lab, seed=2, bank=bank, n_expr=1)
    for g in s.take(5):
        ref = lab[g.corners[np.arange(g.n_verts), np.argmax(g.bary, 1)]]
        assert np.array_equal(g.labels, ref)
    g = FaceSampler(ict, None, seed=2, bank=bank, n_expr=1).sample_group()
    assert g.labels.dtype == np.int64 and not g.labels.any()


def test_topology_and_crop_mixture(ict, bank):
    s = FaceSampler(ict, None, seed=9, bank=bank, n_expr=1, ict_topology_prob=0.15)
    groups = [s.sample_group() for _ in range(400)]
    kinds = np.array([g.kind for g in groups])
    crops = np.array([g.crop for g in groups])
    assert 0.09 < (kinds == "ict").mean() < 0.22
    for c, p in zip(("full", "face", "narrow"), (0.5, 0.3, 0.2)):
        assert abs((crops == c).mean() - p) < 0.08
    keys = {g.topology_key for g in groups}
    assert len(keys) >= len(bank) - 1  # nearly every bank topology used
    only = FaceSampler(ict, None, seed=9, bank=None, crops=("narrow",), crop_probs=(1,))
    g = only.sample_group()
    assert g.kind == "ict" and g.n_verts == CROPS["narrow"][0]


def test_bad_input(ict, bank):
    with pytest.raises(ValueError, match="crop_probs"):
        FaceSampler(ict, crop_probs=(0.5, 0.5))
    with pytest.raises(ValueError, match="crop"):
        FaceSampler(ict, crops=("full", "ear"), crop_probs=(1, 1))
    with pytest.raises(ValueError, match="n_expr"):
        FaceSampler(ict, n_expr=0)
    with pytest.raises(ValueError, match="labels"):
        FaceSampler(ict, labels=np.zeros(100, np.int64))
    with pytest.raises(ValueError, match="identity_split"):
        FaceSampler(ict, identity_split="val")
    with pytest.raises(ValueError, match="ict_topology_prob"):
        FaceSampler(ict, ict_topology_prob=1.5)
    with pytest.raises(ValueError, match="ICTModel"):
        FaceSampler("ict")
    small = TopologyBank(ict, seed=4, sizes=(1000,), crops=("narrow",), per_size=1,
                         cache_dir=bank.cache_path.parent)
    with pytest.raises(ValueError, match="bank"):
        FaceSampler(ict, bank=small)
    s = FaceSampler(ict)
    c = np.zeros(100)
    c[0] = np.nan
    with pytest.raises(ValueError, match="id_coeffs"):
        s.crop_vertices(c, np.zeros((1, 53)))
    with pytest.raises(ValueError, match="facs"):
        s.crop_vertices(np.zeros(100), np.zeros(53))


def test_face_mask_groups(ict, bank):
    """mask_prob=1: every group is one connected piece of its crop around the nose tip, with exact ground truth
    and labels; a mask_prob outside [0, 1] is refused."""
    from model_core.runtime.mesh import connected_components
    from model_core.runtime.regions import REGION_NAMES, load_ict_labels
    from model_core.dataset.sampler import MASK_CENTER_JITTER_CM, MASK_RADIUS_RANGE_CM
    labels = load_ict_labels()
    s = FaceSampler(ict, labels, seed=5, bank=bank, n_expr=2, mask_prob=1.0)
    sizes = []
    for g in s.take(8):
        n = CROPS[g.crop][0]
        assert g.kind.endswith(" mask") and g.n_verts < n
        assert connected_components(g.n_verts, g.faces).max() == 0
        gen = np.einsum("nkd,nk->nd", ict.neutral[:n].astype(np.float64)[g.corners], g.bary)
        d = np.linalg.norm(gen - ict.neutral[ict.landmarks[30]], axis=1)
        assert d.max() < MASK_RADIUS_RANGE_CM[1] + 4 * MASK_CENTER_JITTER_CM
        neutral_ict, _ = ict.head(g.id_coeffs.astype(np.float64), None, crop=g.crop)
        ref = g.scale * np.einsum("nkd,nk->nd", neutral_ict[g.corners], g.bary) @ g.rotation.T + g.translation
        assert np.abs(g.neutral - ref).max() < 1e-9
        # labels follow the vertices: the nose is there, the collarbones are not
        assert np.isin(g.labels, [REGION_NAMES.index("nose")]).any()
        assert not np.isin(g.labels, [REGION_NAMES.index("clavicle")]).any()
        sizes.append(g.n_verts / n)
    assert min(sizes) < 0.8 and max(sizes) > 0.3, sizes
    with pytest.raises(ValueError, match="mask_prob"):
        FaceSampler(ict, labels, seed=5, bank=bank, mask_prob=1.5)
