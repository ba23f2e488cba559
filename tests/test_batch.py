"""Training inputs (model_core.dataset.batch.prepare_group) on real ICT-FaceKit groups: the decoder subset's
single-shape targets, carried through remeshed topologies and the augmentation, recombine into the
group's own displacements; shapes and canonical units."""
import numpy as np

from model_core.dataset.batch import prepare_group
from model_core.runtime.config import ModelConfig
from model_core.runtime.regions import load_ict_labels
from model_core.dataset.remesh import TopologyBank
from model_core.dataset.sampler import FaceSampler


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


def test_identity_offsets_lead_back_to_the_generic_head(ict, tmp_path):
    """a1 * pos + b1 - id_off is the generic (all-zero identity) head at each vertex's barycentric point in the
    generic head's own face frame (a2, b2), on ICT and remeshed topologies under the augmentation; the
    template's offsets likewise; the frames take the true face core onto face_ref."""
    labels = load_ict_labels()
    bank = TopologyBank(ict, seed=3, sizes=(1000,), crops=("full", "face", "narrow"), per_size=1,
                        cache_dir=tmp_path)
    sampler = FaceSampler(ict, labels, seed=4, bank=bank, n_expr=2, max_angle_deg=15.0)
    cfg = ModelConfig(n_regions=len(np.unique(labels)), proxy_target=300, k_eig=16, dec_frame="face",
                      id_offset=True)
    rng = np.random.default_rng(1)
    from model_core.dataset.batch import label_decoder_frame
    from model_core.runtime.frames import canonical_normalization
    from model_core.runtime.mesh import vertex_areas
    for _ in range(6):
        g = sampler.sample_group()
        it = prepare_group(g, ict, cfg, rng, n_faces=200, n_template=50, template_labels=labels)
        nz = canonical_normalization(g.neutral, g.faces)
        aug = lambda p: nz.apply(g.scale * p @ g.rotation.T + g.translation)  # noqa: E731
        gen_crop = ict.identity_verts(None, g.crop)
        gen = aug(np.einsum("njc,nj->nc", gen_crop[g.corners], g.bary))              # (N, 3) canonical
        pos = it["pos"].astype(np.float64)
        a1, b1 = label_decoder_frame(pos, vertex_areas(pos, g.faces), g.labels, cfg)
        a2, b2 = label_decoder_frame(gen, vertex_areas(gen, g.faces), g.labels, cfg)
        # the frame maps the face core's centroid / size onto face_ref
        m = np.isin(g.labels, cfg.face_core) * vertex_areas(gen, g.faces)
        assert np.allclose(a2 * (m[:, None] * gen).sum(0) / m.sum() + b2, cfg.face_ref[:3], atol=1e-9)
        assert abs(a2 * np.sqrt(m.sum()) - cfg.face_ref[3]) < 1e-9
        got = a1 * pos + b1 - it["id_off"]
        want = a2 * gen + b2
        off = np.linalg.norm(it["id_off"], axis=1)
        assert off.max() > 5e-3, off.max()                       # identities differ from the generic head
        assert np.abs(got - want).max() < 1e-5, (g.kind, g.crop, np.abs(got - want).max())
        # template rows (of the identity's ICT crop) lead back to rows of the generic crop in the same way
        t_gen = a1 * it["t_pos"].astype(np.float64) + b1 - it["t_off"]
        gen_rows = a2 * aug(gen_crop) + b2
        d = np.abs(t_gen[:, None, :] - gen_rows[None, :, :]).max(-1).min(1)
        assert d.max() < 1e-5, d.max()
