"""Held-out ICT heads with shoulders joined below the neck, as busts and game heads cut at the chest carry them.

``python scripts/shoulders_eval.py --weights model_core/weights/nfs_v5.npz,runs/s3/nfs_s3.npz --identities 3``

ICT's full crop ends at the base of the neck. Here 42 cm shoulders are joined to that neck ring
(``dataset/shoulders.with_shoulders``); ICT's keys are exact on the skin and zero on the skirt.

Printed per case (means over the identities): the decoder's face-core scale ``a`` (~0.98 on the head alone), the
share of skin vertices whose most likely region is ICT's label, ``auto``'s decoder share, and the 53 keys'
relative error on the skin (auto / template / decoder) against ICT's truth (``evaluate.relative_error``), the
largest motion on the skirt (cm, any key at weight 1) and how far the skin's default keys moved from the head
alone's (relative).
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from model_core.dataset.shoulders import with_shoulders  # noqa: E402
from model_core.evaluation.skin_cases import N_SKIN, main as table_main  # noqa: E402


def _alone(ict, c):
    return ict.identity_verts(c, "full"), ict.crop_faces("full")


def _bust(ict, c):
    return with_shoulders(*_alone(ict, c))


CASES = (("head alone", _alone), ("+ shoulders", _bust))


def shoulders_motion(keys, ict) -> float:
    """The largest motion (cm) of any default key on the shoulders' vertices (keys (53, M, 3), M > N_SKIN)."""
    return float(np.linalg.norm(keys[:, N_SKIN:], axis=-1).max())


if __name__ == "__main__":
    sys.exit(table_main(__doc__, CASES, shoulders_motion, "skirt max (cm)", ".2f"))
