"""Build ``model_core/data/ict_face_template.npz`` and ``ict_inner_parts.npz`` (ICT-FaceKit-derived, MIT; see
NOTICE) from ../shared/data.

The face template of ``model_core/runtime/template_keys.py``: ICT's generic face crop (vertices 0-9408, cm),
its 53 expression deltas (float16), the per-vertex mouth ambiguity and ICT's generic full head's canonical
normalisation.

Mouth ambiguity: ``runtime.template_keys.mouth_ambiguity``.

The inner parts of ``model_core/runtime/inner_parts.py``: every vertex of ICT's mesh after the skin (mouth and eye
sockets, gums and tongue, teeth, eyeballs, lacrimal fluid, eye blend and occlusion, lashes; cm), its connected
piece, its 53 deltas (float16, motions under ``INNER_ZERO_CM`` set to 0: ICT's eyeballs and most of its
teeth do not move), and the kind of each: rigid (gums and tongue, teeth, eyeballs), socket (mouth and eye
sockets) or on the lids (lashes, occlusion, lacrimal).

    python scripts/make_template_asset.py
"""
from __future__ import annotations

import numpy as np

from model_core.runtime.frames import canonical_normalization
from model_core.dataset.ict import CROPS, load_ict
from model_core.runtime.inner_parts import INNER_PATH, ON_LIDS, RIGID, SOCKET
from model_core.runtime.mesh import connected_components
from model_core.runtime.template_keys import TEMPLATE_PATH, mouth_ambiguity

INNER_ZERO_CM = 0.005
RIGID_FROM = 14062              # ICT's vertex ranges (../shared/data/README.md): gums and tongue, teeth, eyeballs
LID_PIECES_FROM = 24591         # lacrimal fluid, eye blend, eye occlusion and lashes


def main() -> None:
    ict = load_ict()
    nf = CROPS["face"][0]
    verts = ict.neutral[:nf].astype(np.float64)
    faces = ict.crop_faces("face")
    modes = ict.expression_modes[:, :nf]
    amb = mouth_ambiguity(verts, modes[list(ict.expression_names).index("jawOpen")].astype(np.float64))
    gen = canonical_normalization(ict.neutral[:CROPS["full"][0]], ict.crop_faces("full"))
    np.savez_compressed(TEMPLATE_PATH, verts=verts.astype(np.float32), faces=faces.astype(np.int32),
                        modes=modes.astype(np.float16), ambiguity=amb.astype(np.float16),
                        narrow=np.int64(CROPS["narrow"][0]), gen_center=gen.center, gen_size=np.float64(gen.size))
    print(f"wrote {TEMPLATE_PATH} ({TEMPLATE_PATH.stat().st_size / 1e6:.2f} MB): {nf} vertices, "
          f"{(amb > 0.3).sum()} with mouth ambiguity > 0.3")
    write_inner_parts(ict)


def write_inner_parts(ict) -> None:
    idx, inner = ict.part_faces([(CROPS["full"][0], ict.n_verts)])         # every part after the skin
    verts = ict.neutral[idx].astype(np.float32)
    piece = connected_components(len(verts), inner)
    modes = ict.expression_modes[:, idx].astype(np.float32).copy()
    modes[np.linalg.norm(modes, axis=2) < INNER_ZERO_CM] = 0.0
    kind = np.where(idx >= LID_PIECES_FROM, ON_LIDS, np.where(idx < RIGID_FROM, SOCKET, RIGID))
    np.savez_compressed(INNER_PATH, verts=verts, piece=piece.astype(np.int32), modes=modes.astype(np.float16),
                        kind=kind.astype(np.int8))
    print(f"wrote {INNER_PATH} ({INNER_PATH.stat().st_size / 1e6:.2f} MB): {len(verts)} vertices in "
          f"{piece.max() + 1} pieces")


if __name__ == "__main__":
    main()
