"""The add-on with the committed trained weights, on real heads: an ICT head built in the test and the
demo asset's remeshed, differently shaped target. Checks what an animator sees: region groups, the sign
and size of jawOpen at the chin, eyeBlink_L on the left lid only, and a geometry bake that recovers the
FACS weights of ICT-generated frames.
"""
import numpy as np
import pytest

from model_core.runtime.facs_names import ICT_NAMES

from addon_testlib import PRELUDE
from blender_harness import run_blender

pytestmark = pytest.mark.blender

SCRIPT = r'''
import json as _json
from nfs_blender import engine, prefs
engine.set_model(None)   # the committed weights (model_core/weights/nfs_v5.npz), as a user gets them
scene = bpy.context.scene
out = {}
d = np.load(ICT_NPZ)
names = [str(s) for s in d["expression_names"]]
ex = d["expression_modes"][:, :11248].astype(np.float64)
from model_core.runtime.frames import ict_to_blender as to_bl   # ICT cm -> Blender m
with open(os.path.join(os.path.dirname(ICT_NPZ), "vertex_indices.json")) as fh:
    chin = _json.load(fh)["idx_to_landmark_verts"][8]

tgt = ict_head("Target", location=(0.4, 0.1, 1.5))
activate(tgt)
out["skin"] = run_op(bpy.ops.nfs.compute_skinning)
tgt = bpy.data.objects["Target"]
n = len(tgt.data.vertices)
col = {g.index: i for i, g in enumerate(tgt.vertex_groups)}
W = np.zeros((n, len(col)))
for v in tgt.data.vertices:
    for g in v.groups:
        W[v.index, col[g.group]] = g.weight
out["sum_err"] = float(np.abs(W.sum(1) - 1).max())
out["color_attr"] = "NFS_regions" in tgt.data.color_attributes
jaw_true = to_bl(ex[names.index("jawOpen")])
lid_l = int(np.linalg.norm(ex[names.index("eyeBlink_L")], axis=1).argmax())
lid_r = int(np.linalg.norm(ex[names.index("eyeBlink_R")], axis=1).argmax())
out["jaw_dz_true"] = float(jaw_true[chin, 2])
out["blink_true"] = float(np.linalg.norm(ex[names.index("eyeBlink_L")][lid_l])) / 100.0
for source, tag in (("AUTO", "a_"), ("TEMPLATE", "t_"), ("DECODER", "")):   # the default, then each source
    prefs._Defaults.key_source = source
    out[tag + "facs"] = run_op(bpy.ops.nfs.generate_facs_keys, replace=True)
    keys = keys_of(bpy.data.objects["Target"])
    out[tag + "n_keys"] = len(keys)
    jaw = keys["jawOpen"].astype(np.float64) - keys["Basis"]
    out[tag + "jaw_dz"] = float(jaw[chin, 2])
    blink = np.linalg.norm(keys["eyeBlink_L"].astype(np.float64) - keys["Basis"], axis=1)
    out[tag + "blink_l"], out[tag + "blink_r"] = float(blink[lid_l]), float(blink[lid_r])
    out[tag + "blink_l_down"] = float((keys["eyeBlink_L"][lid_l, 2] - keys["Basis"][lid_l, 2]))
# Preferences > Model crop > Face, the default key source: the crop changes what the encoders see, not the keys
prefs._Defaults.key_source, prefs._Defaults.crop = "AUTO", "FACE"
out["f_facs"] = run_op(bpy.ops.nfs.generate_facs_keys, replace=True)
keys = keys_of(bpy.data.objects["Target"])
out["f_jaw_dz"] = float(keys["jawOpen"][chin, 2] - keys["Basis"][chin, 2])
out["f_blink_l"] = float(np.linalg.norm(keys["eyeBlink_L"][lid_l].astype(np.float64) - keys["Basis"][lid_l]))
prefs._Defaults.crop = "FULL_HEAD"

# the demo asset's remeshed target (another identity, 1.1x, 10k vertices)
a = np.load(os.path.join(os.getcwd(), "demo", "assets", "demo_heads.npz"))
me = bpy.data.meshes.new("Remeshed")
me.from_pydata(to_bl(a["target_verts"].astype(np.float64)).tolist(), [], a["target_faces"].tolist())
ob = bpy.data.objects.new("Remeshed", me)
scene.collection.objects.link(ob)
activate(ob)
out["skin2"] = run_op(bpy.ops.nfs.compute_skinning)
out["facs2"] = run_op(bpy.ops.nfs.generate_facs_keys)
k2 = keys_of(bpy.data.objects["Remeshed"])
out["jaw2_dz"] = float((k2["jawOpen"][a["target_chin"], 2] - k2["Basis"][a["target_chin"], 2]).mean())

# geometry bake: a source animated by non-FACS shape keys (one pose per frame, like a mesh cache)
sv = to_bl(a["source_verts"].astype(np.float64))
sd = to_bl(a["source_deltas"].astype(np.float64))
rng = np.random.default_rng(5)
T = 6
truth = np.zeros((T, 53))
for t in range(1, T):
    k = rng.integers(1, 4)
    truth[t, rng.choice(53, k, replace=False)] = rng.uniform(0.4, 1.0, k)
truth[3] = 0
truth[3, names.index("jawOpen")] = 1.0
me = bpy.data.meshes.new("Source")
me.from_pydata(sv.tolist(), [], a["source_faces"].tolist())
src = bpy.data.objects.new("Source", me)
scene.collection.objects.link(src)
src.location = (-0.4, 0.0, 1.5)
src.shape_key_add(name="Basis", from_mix=False)
for t in range(T):
    kb = src.shape_key_add(name=f"frame_{t:03d}", from_mix=False)
    kb.points.foreach_set("co", (sv + np.tensordot(truth[t], sd, axes=1)).astype(np.float32).ravel())
    for f in range(1, T + 1):
        kb.value = 1.0 if f == t + 1 else 0.0
        kb.keyframe_insert("value", frame=f)
s = scene.nfs
s.bake_source, s.use_scene_range, s.frame_start, s.frame_end = src, False, 1, T
if hasattr(s, "source_mode"):
    s.source_mode = "GEOMETRY"
activate(bpy.data.objects["Target"])
out["bake"] = run_op(bpy.ops.nfs.bake_from_source)
kbs = bpy.data.objects["Target"].data.shape_keys.key_blocks
got = np.zeros((T, 53))
for t in range(T):
    scene.frame_set(t + 1)
    got[t] = [kbs[nm].value for nm in names]
out["bake_mae"] = np.abs(got - truth).mean(1).tolist()
out["bake_got"], out["bake_truth"] = got.tolist(), truth.tolist()
out["bake_jaw"] = float(got[3, names.index("jawOpen")])
out["errors"] = ERRORS
emit(out)
'''


def test_trained_weights_in_blender():
    res = run_blender([PRELUDE, SCRIPT], timeout=600)
    assert res["skin"] == ["FINISHED"] and res["sum_err"] <= 1e-4 and res["color_attr"], res["errors"]
    assert res["facs"] == ["FINISHED"] and res["n_keys"] == 54
    print("template keys: jaw dz", res["t_jaw_dz"], "blink", res["t_blink_l"], res["t_blink_r"])
    # the default (Automatic) on ICT's own head: (almost only) the decoder's keys (docs/model.md, *Which keys*)
    assert res["a_facs"] == ["FINISHED"] and res["a_n_keys"] == 54
    assert res["a_jaw_dz"] == pytest.approx(res["jaw_dz"], rel=2e-3)
    assert res["a_blink_l"] == pytest.approx(res["blink_l"], rel=2e-3)   # measured 0.02 % apart
    # Model crop > Face runs in Blender and gives nearly the same keys as the full head (measured: jaw 27.7 vs
    # 28.4 mm, blink 9.2 vs 9.0 mm)
    print("face crop: jaw dz", res["f_jaw_dz"], "vs", res["a_jaw_dz"], "blink", res["f_blink_l"], "vs", res["a_blink_l"])
    assert res["f_facs"] == ["FINISHED"]
    assert res["f_jaw_dz"] == pytest.approx(res["a_jaw_dz"], rel=0.05)
    assert res["f_blink_l"] == pytest.approx(res["a_blink_l"], rel=0.05)
    # feature transfer on ICT's own head: ICT's keys back, within 3 %
    assert res["t_facs"] == ["FINISHED"] and res["t_n_keys"] == 54
    assert 0.97 * abs(res["jaw_dz_true"]) < -res["t_jaw_dz"] < 1.03 * abs(res["jaw_dz_true"])
    assert res["t_blink_l_down"] < -0.001 and 0.97 * res["blink_true"] < res["t_blink_l"] < 1.03 * res["blink_true"]
    assert res["t_blink_r"] < 1e-2 * res["t_blink_l"]
    # the decoder's keys (Preferences > FACS key source > Neural decoder):
    # README: jawOpen moves the chin down (Blender -Z) by 28.4 mm against ICT's own 28.2 mm (measured ratio 1.010)
    assert res["jaw_dz"] < 0 and 0.97 * abs(res["jaw_dz_true"]) < abs(res["jaw_dz"]) < 1.03 * abs(res["jaw_dz_true"])
    assert abs(res["jaw_dz_true"]) == pytest.approx(0.0282, abs=0.00005)
    # README: eyeBlink_L closes the left lid by 9.0 mm of ICT's 9.6 mm (measured 0.935 of it) and leaves the right
    # one alone (measured < 0.001 mm)
    assert res["blink_l_down"] < -0.001 and 0.88 * res["blink_true"] < res["blink_l"] < 0.95 * res["blink_true"]
    assert res["blink_true"] == pytest.approx(0.0096, abs=0.00005)
    assert res["blink_r"] < 1e-3 * res["blink_l"]
    # the remeshed, differently shaped demo target opens its jaw too
    assert res["skin2"] == ["FINISHED"] and res["facs2"] == ["FINISHED"] and res["jaw2_dz"] < -0.003
    # geometry bake (ICT-generated frames, non-FACS shape keys) recovers the FACS weights
    assert res["bake"] == ["FINISHED"]
    print("bake MAE per frame", res["bake_mae"], "jaw", res["bake_jaw"], "jaw dz", res["jaw_dz"], res["jaw_dz_true"],
          "blink", res["blink_l"], res["blink_r"], res["blink_true"])
    # README: within 0.006 of the truth on every frame (mean absolute error over the 53 values; measured 0.0044;
    # 0.0343 when the fit also read the neck: docs/model.md, *The fit reads the face, not the neck*), counting
    # eyeWide and eyeLookUp of one side as one key: on a face without eyeballs both raise the upper lid alike
    # (cosine 0.94 in ICT's own keys, 0.95 in the decoder's), so a fit cannot tell them apart. Frame 5 here has
    # eyeWide_R 0.98: nfs_v5 reads eyeLookUp_R 0.86 (MAE 0.035 kept apart), as ICT's own keys do (0.83)
    got, truth = np.array(res["bake_got"]), np.array(res["bake_truth"])
    for side in ("L", "R"):
        a, b = ICT_NAMES.index(f"eyeWide_{side}"), ICT_NAMES.index(f"eyeLookUp_{side}")
        for w in (got, truth):
            w[:, a] += w[:, b]
            w[:, b] = 0.0
    merged = np.abs(got - truth).sum(1) / 51.0
    print("bake MAE per frame, eyeWide + eyeLookUp merged", merged.round(4).tolist())
    assert merged.max() <= 0.006, (merged, res["bake_mae"])
    assert res["bake_jaw"] > 0.96  # measured 0.971 (nfs_v4: 0.975; 0.963 reading the neck too)
