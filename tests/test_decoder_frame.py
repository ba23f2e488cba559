"""The shipped weights' decoder frame (``dec_frame='face'``, docs/model.md): built from the trained skinning, it
puts the same face point at the same decoder input whatever the crop, where the canonical (whole-mesh)
frame moves it by 14-29 % of the head's extent. (On a crop no training group had, the skinning itself is wrong
- the evaluation's face-mask case - and so is the frame: a known weakness, see the model card.)"""
import numpy as np
import pytest

from model_core.evaluate import held_out_identities
from model_core.ict import CROPS, load_ict
from model_core.runtime import Model


@pytest.fixture(scope="module")
def ict():
    return load_ict()


@pytest.fixture(scope="module")
def model():
    return Model.load()


def test_shipped_weights_use_the_face_frame(model):
    assert model.config.dec_frame == "face"


def test_same_vertex_same_decoder_input_across_crops(ict, model):
    n = CROPS["narrow"][0]                       # the narrow crop's vertices are the first n of every crop
    for c in held_out_identities(2):
        pos, canon, scale = {}, {}, {}
        for crop in ("full", "face", "narrow"):
            pm = model.prepare(*ict.head(c, None, crop))
            a, b = model.decoder_frame(pm)
            pos[crop], canon[crop], scale[crop] = (pm.canon * a + b)[:n], pm.canon[:n], pm.normalization.size / a
        extent = np.linalg.norm(np.ptp(pos["full"], axis=0))
        for crop in ("face", "narrow"):
            shift = np.linalg.norm(pos[crop] - pos["full"], axis=1).mean() / extent
            before = np.linalg.norm(canon[crop] - canon["full"], axis=1).mean() / extent
            assert shift < 0.01 and before > 0.1, (crop, shift, before)
            # one decoder unit is the same length (cm) on every crop
            assert scale[crop] == pytest.approx(scale["full"], rel=0.02), crop
