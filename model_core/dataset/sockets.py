"""Training heads with ICT's mouth and eye sockets joined to the skin, as game heads carry them (numpy only).

Game and scan heads often hold the mouth bag (and sometimes cup-shaped eye sockets) in the same piece as the skin:
the bag's rim is the inner lip loop. The runtime's face island then includes it, and a model trained on ICT's skin
alone reads it as face: with ICT's own sockets joined to a held-out ICT head, the face-core frame's scale fell
0.98 -> 0.68 and the default keys' error rose 11 -> 33-111 % (docs/model.md, *Joined mouth and eye sockets*).

ICT-FaceKit models these sockets, with exact deltas for the 53 expressions, and their polygons share the inner
lip and eyelid loops with the skin. ``SOCKET_CROP`` ("sockets") is the skin crop "full" plus those sockets (ICT's
vertices 0-14061, polygons 0-14033: its first 11248 vertices and 11144 polygons are the full crop's, so a
topology of the "full" or "face" crop is a topology of it too). ``with_sockets`` joins chosen sockets to a
topology; ``socket_labels`` gives their vertices regions outside the decoder's face core (``config.FACE_CORE``): the
mouth bag ``jaw`` (the jaw carries it), an eye socket its side's ``temporalis``. Labelled ``lips`` and ``eye``, a
bag would count in the face-core frame as it does for nfs_v5, which reads it as lips: its area moved the frame.

Units: ICT centimetres, +Y up, face toward +Z.
"""
from __future__ import annotations

import numpy as np

from ..runtime.mesh import boundary_loops
from ..runtime.nearest import knn
from .ict import CROPS, ICTModel, crop_sizes
from .remesh import Topology, ict_topology

__all__ = ["SOCKET_CROP", "SOCKET_PARTS", "SOCKET_REGIONS", "SOCKET_CHOICES", "socket_labels", "with_sockets"]

SOCKET_CROP = "sockets"
N_SKIN = CROPS["full"][0]
# ICT vertex ranges [start, stop) of each socket (../shared/data/README.md)
SOCKET_PARTS = {"mouth": (11248, 13294), "eye_L": (13294, 13678), "eye_R": (13678, 14062)}
# the region of each socket's vertices: none of them in the face core, so a joined socket leaves the frame alone
SOCKET_REGIONS = {"mouth": "jaw", "eye_L": "temporalis_L", "eye_R": "temporalis_R"}
# what a training group joins: the mouth bag, both eye sockets, or all three
SOCKET_CHOICES = (("mouth",), ("eye_L", "eye_R"), ("mouth", "eye_L", "eye_R"))


def _socket_triangles(ict: ICTModel, parts) -> np.ndarray:
    """(T, 3) triangles of the sockets crop with a corner in one of ``parts`` (indices into ICT's vertices)."""
    tris = ict.crop_faces(SOCKET_CROP)
    keep = np.zeros(crop_sizes(SOCKET_CROP)[0], bool)
    for p in parts:
        if p not in SOCKET_PARTS:
            raise ValueError(f"unknown socket {p!r}; choose from {sorted(SOCKET_PARTS)}")
        keep[slice(*SOCKET_PARTS[p])] = True
    return tris[keep[tris].any(axis=1)]


def socket_labels(skin_labels: np.ndarray) -> np.ndarray:
    """Region labels of the sockets crop's vertices: (14062,) int64, the skin's own labels (``skin_labels``
    (>= 11248,), the full crop's) followed by each socket's region (``SOCKET_REGIONS``)."""
    from ..runtime.regions import REGION_NAMES
    lab = np.asarray(skin_labels)
    if lab.ndim != 1 or len(lab) < N_SKIN:
        raise ValueError(f"socket_labels needs the full crop's labels ({N_SKIN},), got {lab.shape}")
    out = np.empty(crop_sizes(SOCKET_CROP)[0], np.int64)
    out[:N_SKIN] = lab[:N_SKIN]
    for p, (a, b) in SOCKET_PARTS.items():
        out[a:b] = REGION_NAMES.index(SOCKET_REGIONS[p])
    return out


def with_sockets(ict: ICTModel, topo: Topology, parts=("mouth",)) -> Topology:
    """``topo`` (crop "full" or "face") with ICT's sockets ``parts`` joined at its openings, as crop "sockets".

    The socket keeps ICT's own vertices and triangles (exact positions and deltas: one-hot barycentric weights);
    each rim vertex it shares with ICT's skin becomes the topology's nearest open-border vertex (on ICT's own
    triangulation the same vertex), so the bag hangs from the topology's lip loop; triangles that this leaves
    with a repeated corner (a coarse lip loop) are dropped. Kind gets "+sockets".

    Raises ValueError for another crop or an unknown part."""
    if topo.crop not in ("full", "face"):
        raise ValueError(f"sockets join the 'full' or 'face' crop, not {topo.crop!r}")
    tris = _socket_triangles(ict, parts)
    n_top = topo.n_verts
    own = np.unique(tris[tris >= N_SKIN])                   # the sockets' own ICT vertices, ascending
    rim = np.unique(tris[tris < N_SKIN])
    gen = ict.neutral[: crop_sizes(SOCKET_CROP)[0]].astype(np.float64)
    border = np.unique(np.concatenate(boundary_loops(topo.faces)))
    top_gen = topo.positions(gen[: crop_sizes(topo.crop)[0]])
    near, _ = knn(gen[rim], top_gen[border], 1)
    remap = np.full(len(gen), -1, np.int64)
    remap[rim] = border[near[:, 0]]
    remap[own] = n_top + np.arange(len(own))
    new = remap[tris]
    new = new[(new[:, 0] != new[:, 1]) & (new[:, 1] != new[:, 2]) & (new[:, 0] != new[:, 2])]
    whole = ict_topology(ict, SOCKET_CROP)                  # each own vertex: an ICT triangle holding it, one-hot
    return Topology(crop=SOCKET_CROP, faces=np.concatenate([topo.faces, new]),
                    src_face=np.concatenate([topo.src_face, whole.src_face[own]]),
                    bary=np.concatenate([topo.bary, whole.bary[own]]), kind=topo.kind + "+sockets", seed=topo.seed,
                    corners=np.concatenate([topo.corners, whole.corners[own]]))
