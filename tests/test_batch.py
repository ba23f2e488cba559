"""Training inputs (model_core.batch.prepare_group) on real ICT-FaceKit groups: the decoder subset's
single-shape targets, carried through remeshed topologies and the augmentation, recombine into the
group's own displacements; shapes and canonical units."""
import numpy as np
import pytest

from model_core.batch import prepare_group
from model_core.config import ModelConfig
from model_core.ict import load_ict
from model_core.regions import load_ict_labels
from model_core.remesh import TopologyBank
from model_core.sampler import FaceSampler


@pytest.fixture(scope="module")
def ict():
    return load_ict()


def test_single_shape_targets_recombine_into_group_displacements(ict, tmp_path):
    labels = load_ict_labels()
    bank = TopologyBank(ict, seed=2, sizes=(1000,), crops=("full", "face", "narrow"), per_size=1,
                        cache_dir=tmp_path)
    sampler = FaceSampler(ict, labels, seed=9, bank=bank, n_expr=4, max_angle_deg=15.0)
    cfg = ModelConfig(n_regions=len(np.unique(labels)), proxy_target=300, k_eig=16)
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(8):
        g = sampler.sample_group()
        kinds.add(g.kind)
        it = prepare_group(g, ict, cfg, rng, n_faces=200, n_template=50, template_labels=labels)
        singles, disp = it["sub_singles"], it["sub_disp"]
        assert singles.shape == (53, disp.shape[1], 3) and singles.dtype == np.float32
        # ICT expressions are linear: the group's FACS weights times the 53 single shapes = its displacements
        lin = np.einsum("bk,ksc->bsc", it["facs"].astype(np.float64), singles)
        scale = np.abs(disp).max()
        assert scale > 1e-3 and np.abs(lin - disp).max() < 1e-5 * max(scale, 1.0), (g.kind, g.crop)
        # canonical units: displacements divided by the neutral's sqrt(area), so jawOpen moves O(0.1)
        jaw = np.linalg.norm(singles[ict.expression_names.index("jawOpen")], axis=-1).max()
        assert 0.02 < jaw < 0.5, jaw
    assert len(kinds) >= 2, kinds  # ICT's own and at least one remeshed topology
