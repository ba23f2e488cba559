"""The add-on against the real numpy runtime (``model_core.runtime.Model``) with untrained random weights written
to a temporary file and chosen through the 'Weights file' preference: loading errors, skinning, FACS keys in
world space, a mesh-deformation bake with the corrective. Checks the bridge (engine.py) contract, not quality.
"""
import pytest

from addon_testlib import PRELUDE
from blender_harness import run_blender

pytestmark = pytest.mark.blender

SCRIPT = r'''
from model_core.runtime.config import ModelConfig
from model_core.runtime.weights import random_weights, save_weights
from model_core.runtime import Model
from model_core.runtime import facs_names as fn
from nfs_blender import engine, mesh_io, prefs
engine.set_model(None)   # back to loading weights files
scene = bpy.context.scene
out = {}
cfg = ModelConfig()
npz, _ = save_weights(os.path.join(TMP, "rand"), random_weights(cfg, seed=3, dec_gain=8.0), config=cfg)

tgt = ict_head("Target", stride=3, location=(0.3, 0.0, 1.2))
activate(tgt)
prefs._Defaults.weights_path = os.path.join(TMP, "missing.npz")
out["missing"] = run_op(bpy.ops.nfs.compute_skinning)
out["missing_error"] = ERRORS[-1] if ERRORS else ""
prefs._Defaults.weights_path = str(npz)

out["skin"] = run_op(bpy.ops.nfs.compute_skinning)
tgt = bpy.data.objects["Target"]
n = len(tgt.data.vertices)
out["n"] = n
groups = [g.name for g in tgt.vertex_groups]
col = {g.index: i for i, g in enumerate(tgt.vertex_groups)}
W = np.zeros((n, len(groups)))
for v in tgt.data.vertices:
    for g in v.groups:
        W[v.index, col[g.group]] = g.weight
out["groups"] = len(groups)
out["sum_err"] = float(np.abs(W.sum(1) - 1).max())

model = Model.load(str(npz))
world = mesh_io.rest_world_positions(tgt)
pm = model.prepare(world, mesh_io.triangles(tgt.data), up="Z", forward="-Y")
painted = W.copy()
prefs._Defaults.key_source = "DECODER"  # the decoder follows painted groups (the template keys ignore them)
out["facs"] = run_op(bpy.ops.nfs.generate_facs_keys)  # reads the NFS_ groups back (quantised model probs)
tgt = bpy.data.objects["Target"]
keys = keys_of(tgt)
_, basis = model.facs_basis(pm, "ict", probs=painted)
m3 = np.array(tgt.matrix_world)[:3, :3]
err = 0.0
for k, name in enumerate(fn.ICT_NAMES):
    err = max(err, float(np.abs((keys[name].astype(np.float64) - keys["Basis"]) @ m3.T - basis[k]).max()))
out["facs_err"], out["facs_max"] = err, float(np.abs(basis).max())

# source: another head whose shape key is the model's own jawOpen displacement plus a little noise (so the
# inverse rig's sparsity matters), animated over 4 frames
src = ict_head("Src", stride=4, location=(-0.3, 0.0, 1.2))
spm = model.prepare(mesh_io.rest_world_positions(src), mesh_io.triangles(src.data), up="Z", forward="-Y")
_, sb = model.facs_basis(spm, "ict")
src.shape_key_add(name="Basis", from_mix=False)
kb = src.shape_key_add(name="pose", from_mix=False)
jaw = sb[fn.ICT_INDEX["jawOpen"]]
noise = np.random.default_rng(1).normal(size=jaw.shape) * 0.03 * np.sqrt((jaw ** 2).sum(1).mean() / 3)
kb.points.foreach_set("co", (mesh_io.local_rest_positions(src) + jaw + noise).astype(np.float32).ravel())
for f, v in ((1, 0.0), (4, 1.0)):
    kb.value = v
    kb.keyframe_insert("value", frame=f)
s = scene.nfs
s.bake_source, s.use_scene_range, s.frame_start, s.frame_end, s.bake_corrective = src, False, 1, 4, True
s.use_painted_groups = False
from model_core.runtime import Model
from model_core.runtime.model_fit import FIT_SPARSITY
out["sparsity_default"] = [s.bl_rna.properties["rig_sparsity"].default, FIT_SPARSITY]
from nfs_blender import prefs as nfs_prefs
out["max_vertices_default"] = [nfs_prefs.NFS_AddonPreferences.bl_rna.properties["max_vertices"].default,
                               nfs_prefs._Defaults.max_vertices, Model.max_vertices]
s.rig_sparsity = 0.0        # not the default: the bake must pass it to the fit
activate(tgt)
out["bake"] = run_op(bpy.ops.nfs.bake_from_source)
tgt = bpy.data.objects["Target"]
kbs = tgt.data.shape_keys.key_blocks
# corrective: the evaluated target equals the runtime's decode of the source frame's code
scene.frame_set(4)
dg = bpy.context.evaluated_depsgraph_get()
pos = mesh_io.to_world(mesh_io.evaluated_local_positions(tgt, dg), np.array(tgt.matrix_world))
src_posed = mesh_io.to_world(mesh_io.evaluated_local_positions(bpy.data.objects["Src"], dg),
                             np.array(bpy.data.objects["Src"].matrix_world))
z = model.expression(src_posed, spm, sparsity=0.0)
out["vals_err"] = float(max(abs(kbs[nm].value - z[i]) for i, nm in enumerate(fn.ICT_NAMES)))
out["sparsity_changes_fit"] = float(np.abs(model.expression(src_posed, spm)[:53] - z[:53]).max())
exact = model.decode(pm, z)
out["corrective_err"] = float(np.abs(pos - exact).max())
out["motion"] = float(np.abs(exact - world).max())
out["values_finite"] = all(np.isfinite(kbs[nm].value) for nm in fn.ICT_NAMES)
emit(out)
'''


def test_addon_with_runtime_random_weights():
    res = run_blender([PRELUDE, SCRIPT], timeout=300)
    assert res["missing"] == ["CANCELLED"] and "weights file not found" in res["missing_error"]
    assert "'Weights file'" in res["missing_error"]
    assert res["skin"] == ["FINISHED"] and res["groups"] == 22 and res["sum_err"] <= 1e-4
    assert res["facs"] == ["FINISHED"]
    assert res["facs_max"] > 1e-4 and res["facs_err"] < 1e-5  # world-space shape keys = runtime basis
    assert res["bake"] == ["FINISHED"] and res["values_finite"]
    # the keyed values are the fit with the scene's Sparsity (0 here), which differs from the default's
    assert res["vals_err"] < 1e-5 and res["sparsity_changes_fit"] > 1e-3, res
    # the panel's default Sparsity and the preferences' Max vertices are the runtime's
    default, runtime_default = res["sparsity_default"]
    assert abs(default - runtime_default) < 1e-7, res["sparsity_default"]
    assert res["max_vertices_default"] == [300000] * 3
    assert res["motion"] > 1e-4 and res["corrective_err"] < 1e-5
