"""Held-out ICT heads with ICT's own mouth bag and eye sockets joined to the skin, as game heads carry them.

``python scripts/sockets_eval.py --weights model_core/weights/nfs_v5.npz,runs/s3/nfs_s3.npz --identities 3``

For each weights file and held-out identity, the head is prepared three ways: the skin alone (the full crop),
with the mouth bag joined at the inner lip loop, and with the mouth bag and both eye sockets (ICT's vertices
0-11247, 0-13293 and 0-14061; ``dataset/sockets.py``). Printed per case (means over the identities):

- frame: the decoder's face-core scale ``a`` (``Model.decoder_frame``); on the skin alone it is ~0.98;
- seg: share of skin vertices whose most likely region is ICT's label;
- share: the decoder's share in the default ('auto') keys (``Model.auto_face_keys``);
- auto / template / decoder: relative error of the 53 keys against ICT's true deltas, on the skin's vertices
  (``evaluate.relative_error``); sockets: the same on the sockets' vertices (the default keys);
- keys moved: how far the default keys on the skin moved from the skin-alone head's (relative).
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from model_core.evaluation.evaluate import relative_error  # noqa: E402
from model_core.evaluation.skin_cases import N_SKIN, main as table_main  # noqa: E402


def _part(n: int):
    """The case builder of ICT's vertices 0..n-1 (the skin, then the sockets)."""
    def build(ict, c):
        idx, f = ict.part_faces([(0, n)])
        return ict.identity_verts(c)[idx], f
    return build


CASES = (("skin alone", _part(N_SKIN)), ("+ mouth bag", _part(13294)), ("+ mouth bag + eye sockets", _part(14062)))


def sockets_error(keys, ict) -> float:
    """The default keys' relative error on the sockets' vertices (keys (53, M, 3), M > N_SKIN)."""
    return relative_error(keys[:, N_SKIN:], ict.expression_modes[:, N_SKIN:len(keys[0])].astype(np.float64))


if __name__ == "__main__":
    sys.exit(table_main(__doc__, CASES, sockets_error, "sockets (auto)", ".1%"))
