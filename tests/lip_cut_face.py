"""``lip_cut_face``: a held-out ICT face crop cut open at the lips' margin, as face masks and avatars are (the
mouth's inner surface behind the margin removed), for the tests of lips met lip by lip."""
from __future__ import annotations

import numpy as np

from model_core.dataset.ict import crop_sizes
from model_core.runtime import template_keys as tk
from model_core.runtime.mesh import remove_unreferenced


def lip_cut_face(ict, identity) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(verts (N, 3) ICT cm, faces (F, 3), kept (N,) the ICT vertex of each) of the face crop of ``identity`` (its
    identity coefficients) without the template's inner-lip rings behind the mouth's margin
    (``FaceTemplate.margins[2][1]``)."""
    n = crop_sizes("face")[0]
    v = ict.identity_verts(identity)[:n].astype(np.float64)
    cut = np.zeros(n, bool)
    cut[tk.default_template().margins[2][1]] = True
    f = ict.crop_faces("face")
    return remove_unreferenced(v, f[~cut[f].any(axis=1)])
