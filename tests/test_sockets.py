"""Training heads with ICT's mouth bag and eye sockets joined at the openings (``dataset/sockets.py``), as game heads
carry them (issue 18, training data: inner-mouth shells)."""
from __future__ import annotations

import numpy as np
import pytest

from model_core.dataset.batch import label_decoder_frame, prepare_group
from model_core.dataset.ict import crop_sizes
from model_core.dataset.remesh import ict_topology, make_topology
from model_core.dataset.sampler import FaceSampler
from model_core.dataset.sockets import SOCKET_CROP, SOCKET_PARTS, SOCKET_REGIONS, socket_labels, with_sockets
from model_core.runtime.config import ModelConfig
from model_core.runtime.frames import canonical_normalization
from model_core.runtime.mesh import boundary_loops, connected_components, vertex_areas
from model_core.runtime.regions import REGION_NAMES, load_ict_labels


def test_the_sockets_crop_extends_the_skin_crops_and_its_sockets_share_their_rims(ict):
    assert crop_sizes(SOCKET_CROP) == (14062, 14034)
    tris = ict.crop_faces(SOCKET_CROP)
    # the skin crops' triangles come first, in the same order: their topologies are topologies of this crop
    for crop in ("full", "face"):
        np.testing.assert_array_equal(tris[:len(ict.crop_faces(crop))], ict.crop_faces(crop))
    # one piece: the mouth bag hangs from the inner lip loop, each eye socket from its lids
    assert connected_components(14062, tris).max() == 0


def test_socket_labels_leave_the_face_core_frame_alone(ict):
    lab = socket_labels(load_ict_labels())
    assert lab.shape == (14062,)
    np.testing.assert_array_equal(lab[:11248], load_ict_labels())
    for part, region in (("mouth", "jaw"), ("eye_L", "temporalis_L"), ("eye_R", "temporalis_R")):
        a, b = SOCKET_PARTS[part]
        assert (lab[a:b] == REGION_NAMES.index(region)).all(), part
    # the frame the decoder is trained in (true labels) stays the skin's: joining the sockets moves the skin in it
    # by 0.85 % of its size (the rims' vertex areas grow); labelled as their rims (lips, eye), 56 % (scale 0.64)
    cfg = ModelConfig()
    as_rims = lab.copy()
    as_rims[11248:13294] = REGION_NAMES.index("lips")
    as_rims[13294:13678], as_rims[13678:] = REGION_NAMES.index("eye_L"), REGION_NAMES.index("eye_R")
    frames = []
    for n, faces, labels in ((11248, ict.crop_faces("full"), lab[:11248]),
                             (14062, ict.crop_faces(SOCKET_CROP), lab), (14062, ict.crop_faces(SOCKET_CROP), as_rims)):
        v = ict.neutral[:n].astype(np.float64)
        nz = canonical_normalization(v, faces)
        cn = nz.apply(v)
        a, b = label_decoder_frame(cn, vertex_areas(cn, faces), labels, cfg)
        frames.append((cn[:11248] * a + b))           # where the skin lands in the decoder's frame
    moved = [np.linalg.norm(f - frames[0], axis=1).max() / np.linalg.norm(frames[0], axis=1).max() for f in frames[1:]]
    assert moved[0] < 0.01 and moved[1] > 5 * moved[0], moved
    with pytest.raises(ValueError, match="full crop's labels"):
        socket_labels(np.zeros(100, np.int64))


@pytest.mark.parametrize("make", [lambda ict: ict_topology(ict, "full"),
                                  lambda ict: make_topology(ict, "face", 2000, "decimate", 3)])
def test_joined_sockets_are_exact_and_close_the_openings(ict, make):
    topo = make(ict)
    t = with_sockets(ict, topo, ("mouth", "eye_L", "eye_R"))
    assert t.crop == SOCKET_CROP and t.kind == topo.kind + "+sockets"
    assert connected_components(t.n_verts, t.faces).max() == 0
    # the topology's own vertices keep their places; the sockets' are ICT's own, moving by ICT's own deltas
    v = ict.identity_verts(None, SOCKET_CROP)
    d = ict.expression_modes[20, :14062].astype(np.float64)       # jawOpen moves the bag
    np.testing.assert_allclose(t.positions(v)[:topo.n_verts], topo.positions(v[:crop_sizes(topo.crop)[0]]))
    own = t.corners[np.arange(topo.n_verts, t.n_verts), np.argmax(t.bary[topo.n_verts:], axis=1)]
    assert own.min() >= 11248 and len(np.unique(own)) == len(own) == 14062 - 11248
    np.testing.assert_array_equal(t.positions(v + d)[topo.n_verts:], (v + d)[own])
    # the mouth and eye openings are closed (a coarse lip loop may leave a hole of a triangle where two rim
    # vertices met one vertex); the neck or the mask's cut stays open
    def loops(faces):
        return sorted(len(lp) for lp in boundary_loops(faces) if len(lp) > 4)
    assert len(loops(topo.faces)) == 4 and len(loops(t.faces)) == 1 and loops(t.faces)[0] in loops(topo.faces)
    with pytest.raises(ValueError, match="unknown socket"):
        with_sockets(ict, topo, ("nostril",))
    with pytest.raises(ValueError, match="'full' or 'face'"):
        with_sockets(ict, make_topology(ict, "narrow", 1500, "decimate", 3))


def test_the_sampler_joins_sockets_to_a_share_of_the_groups_and_batches_them(ict):
    labels = load_ict_labels()
    s = FaceSampler(ict, labels, seed=3, socket_prob=1.0, crops=("full", "narrow"), crop_probs=(0.7, 0.3),
                    ict_topology_prob=1.0, n_expr=2, augment=False)
    groups = s.take(6)
    with_socks = [g for g in groups if g.crop == SOCKET_CROP]
    assert with_socks and all(g.crop in (SOCKET_CROP, "narrow") for g in groups)
    g = with_socks[0]
    neutral, posed = s.crop_vertices(g.id_coeffs, g.facs)
    n_skin = 11248
    assert g.n_verts > n_skin
    np.testing.assert_allclose(g.neutral[:n_skin], neutral)       # the skin as before
    assert set(g.labels[n_skin:].tolist()) <= {REGION_NAMES.index(r) for r in SOCKET_REGIONS.values()}
    cfg = ModelConfig(enc_width=16, enc_blocks=1, k_eig=16, proxy_target=300, skin_hidden=16, dec_width=32,
                      dec_layers=2, z_dim=64)
    item = prepare_group(g, ict, cfg, np.random.default_rng(0), n_faces=400, n_template=30, template_labels=labels)
    assert item["pos"].shape == (g.n_verts, 3) and item["labels"].shape == (g.n_verts,)
    assert item["t_pos"].shape == (30, 3)              # the ICT template stays the skin's
    # without the option the stream is the one before it existed
    a = FaceSampler(ict, labels, seed=3, crops=("full",), crop_probs=(1.0,), n_expr=2, ict_topology_prob=1.0)
    b = FaceSampler(ict, labels, seed=3, crops=("full",), crop_probs=(1.0,), n_expr=2, ict_topology_prob=1.0,
                    socket_prob=0.0)
    for ga, gb in zip(a.take(2), b.take(2)):
        np.testing.assert_array_equal(ga.neutral, gb.neutral)
    with pytest.raises(ValueError, match="socket_prob"):
        FaceSampler(ict, labels, socket_prob=2.0)
