"""Robustness matrix of the Blender add-on (issue 8): bad meshes, non-editable data, the user's data around every
operator, bad weights files and CSV takes, cancel and model failures. The cases, their expected outcomes and the
snapshot/compare function are in tests/robustness_cases.py; docs/robustness.md is the table.

Each test runs one headless Blender subprocess that runs every case of its group isolated (an exception in a
case is returned as ``harness_error``), taking a snapshot of everything the user has before and after each
operator (and after Undo / Redo for results). The mesh-input and user-data matrices run the real runtime with the
committed weights (decoder keys, the cheap key source); ``test_runtime_backed_matrix`` loads it with small random
weights; the bake/CSV/cancel/failure matrix keeps the stand-in model (tests/standin_model.py), which it makes fail.
"""
import pytest

import robustness_cases as rc
from addon_testlib import PRELUDE, STANDIN
from blender_harness import run_blender

pytestmark = pytest.mark.blender

DECODER_KEYS = 'use_key_source("DECODER")\n'   # the cheap key source (AUTO registers every head: seconds each)

COMMON = r'''
import time
import robustness_cases as rc
from model_core.runtime import facs_names as fn
from nfs_blender import engine, prefs, common, ops_facs, ops_bake, ops_skinning
ICT = list(fn.ICT_NAMES)
ALL_OPS = ["nfs.compute_skinning", "nfs.update_region_colors", "nfs.toggle_region_colors", "nfs.clear_skinning",
           "nfs.generate_facs_keys", "nfs.bake_from_source", "nfs.import_livelink_csv", "nfs.reset_facs_group",
           "nfs.mirror_facs", "nfs.transfer_shape_keys", "nfs.show_correspondence", "nfs.remove_made_keys"]
GOOD_CSV = os.path.join(TMP, "good.csv")
with open(GOOD_CSV, "w") as fh:
    fh.write(rc.csv_text(61, 60))


activate = rc.activate


def O(name):
    return bpy.data.objects[name]


def clean():
    """Remove every object, mesh, action and library so that each case starts from an empty file."""
    for coll in ("objects", "meshes", "actions", "cameras", "curves", "materials"):
        c = getattr(bpy.data, coll)
        for idb in list(c):
            c.remove(idb)
    for lib in list(bpy.data.libraries):
        bpy.data.libraries.remove(lib)
    bpy.context.scene.nfs.bake_source = None


def A(op, expect, allow=(), **kw):
    """One operator run between snapshots (rc.attempt) + the outcome this case expects of it."""
    out = rc.attempt(op, allow=allow, **kw)
    out["expect"] = expect
    out["op"] = op
    return out


def skin_allow(ob):
    return [f"o/{ob.name}/vgroup/NFS_*", f"m/{ob.data.name}/attr/NFS_regions", f"m/{ob.data.name}/colors"]


def facs_allow(ob, names=ICT):
    me = ob.data.name
    new_key = ob.data.shape_keys is None
    pats = rc.key_paths(me, names) + [f"m/{me}/props"]        # the mesh's list of the keys the add-on made
    if new_key:
        pats += [f"k/{me}", f"k/{me}/kb/Basis", f"k/{me}/kb/Basis/co", "data/shape_keys/*"]
    return pats


def key_stats(ob, names=ICT):
    """Finite check and size of the FACS keys (world-space displacement), mesh coordinates untouched."""
    keys = rc.mesh_keys(ob)
    missing = [n for n in names if n not in keys]
    d = rc.world_deltas(ob, [n for n in names if n in keys]) if not missing else np.zeros((1, 1, 3))
    return {"missing": missing[:5], "finite": bool(all(np.isfinite(k).all() for k in keys.values())),
            "max_delta": float(np.abs(d).max()), "n_keys": len(keys)}


def skin_stats(ob):
    w = rc.group_weights(ob)
    return {"groups": w.shape[1], "sum_err": float(np.abs(w.sum(axis=1) - 1).max()) if w.size else 1.0}


def both(ob, expect="result"):
    """Compute Skinning Weights then Generate FACS Shape Keys on ``ob``."""
    name = ob.name
    activate(ob)
    s = A("nfs.compute_skinning", expect, skin_allow(ob))
    ob = O(name)
    activate(ob)
    f = A("nfs.generate_facs_keys", expect, facs_allow(ob))
    out = {"attempts": {"skin": s, "facs": f}}
    ob = O(name)
    if expect == "result":
        out.update(key_stats(ob))
        out.update(skin_stats(ob))
    return out


def run_group(funcs):
    res = {}
    for cid, fn_ in funcs.items():
        clean()
        res.update(rc.run_cases({cid: fn_}))
    return res
'''

# ------------------------------------------------------------------------------------------------- geometry
GEOMETRY = r'''
rng = np.random.default_rng(0)


def refuse_all(ob, ops, expect="refused"):
    activate(ob)
    return {"attempts": {op: A(op, expect) for op in ops}}


def points_only():
    ob = rc.new_object("Pts", rng.standard_normal((12, 3)) * 0.1)
    return refuse_all(ob, ["nfs.compute_skinning", "nfs.generate_facs_keys", "nfs.update_region_colors"])


def edges_only():
    ob = rc.new_object("Wire", rng.standard_normal((12, 3)) * 0.1, edges=[(i, i + 1) for i in range(11)])
    return refuse_all(ob, ["nfs.compute_skinning", "nfs.generate_facs_keys"])


def empty_mesh():
    ob = rc.new_object("Void", np.zeros((0, 3)))
    return refuse_all(ob, ["nfs.compute_skinning", "nfs.generate_facs_keys"])


def nan_coords(value):
    v, c, s = rc.ict_mesh(stride=3)
    if value == "nan":
        v[[5, 50, 500, 600, 700]] = np.nan
    else:
        v[10] = np.inf
        v[20, 1] = -np.inf
    return both(rc.new_object("Bad", v, c, s), "error")


def far_mesh_data():
    v, c, s = rc.ict_mesh(stride=3)
    out = both(rc.new_object("FarData", v + 1e6, c, s), "error")
    ob = rc.new_object("FarObject", v, c, s, location=(1e6, 0.0, 0.0))
    far = both(ob, "result")
    out["attempts"].update({f"location-{k}": a for k, a in far["attempts"].items()})
    return out


def head_variant(v, c, s, name="Head", **kw):
    out = both(rc.new_object(name, v, c, s, **kw))
    ob = O(name)
    out["co_unchanged"] = bool(np.array_equal(rc.mesh_keys(ob)["Basis"], np.asarray(v, np.float32).astype(np.float64)))
    return out


def zero_area_dup():
    return head_variant(*rc.with_degenerate(*rc.ict_mesh(stride=2)))


def non_manifold():
    return head_variant(*rc.with_fin(*rc.ict_mesh(stride=2)))


def ngons_quads():
    v, c, s = rc.ict_mesh()
    c, s = rc.with_ngon_cap(v, c, s)
    out = head_variant(v, c, s)
    out["max_corners"] = int(max(p.loop_total for p in O("Head").data.polygons))
    return out


def transform():
    v, c, s = rc.ict_mesh(stride=2)
    par = bpy.data.objects.new("Parent", None)
    bpy.context.scene.collection.objects.link(par)
    par.location, par.rotation_euler, par.scale = (1.0, 2.0, -3.0), (0.2, -0.1, 0.4), (1.5, 1.5, 1.5)
    ob = rc.new_object("Moved", v, c, s, location=(0.3, -0.5, 0.2), rotation=(0.1, 0.2, 0.6), scale=(1.2, 0.8, 1.1),
                       parent=par)
    mw = np.array(ob.matrix_world)
    world = v @ mw[:3, :3].T + mw[:3, 3]
    ref = rc.new_object("Applied", world, c, s)
    activate(ref)
    a_ref = A("nfs.generate_facs_keys", "result", facs_allow(ref))
    activate(O("Moved"))
    a = A("nfs.generate_facs_keys", "result", facs_allow(O("Moved")))
    d = rc.world_deltas(O("Moved"), ICT)
    d_ref = rc.world_deltas(O("Applied"), ICT)
    out = {"attempts": {"applied": a_ref, "moved": a}, "err": float(np.abs(d - d_ref).max()),
           "max_delta": float(np.abs(d_ref).max()), "det": float(np.linalg.det(mw[:3, :3]))}
    out.update({k: v_ for k, v_ in key_stats(O("Moved")).items() if k in ("finite", "missing")})
    return out


def zero_scale():
    v, c, s = rc.ict_mesh(stride=3)
    ob = rc.new_object("Flat", v, c, s, scale=(1.0, 0.0, 1.0))
    return refuse_all(ob, ["nfs.compute_skinning", "nfs.generate_facs_keys"])


def mirror_modifier():
    """Case "A-mirror-modifier": half a head (x >= 0) with a Mirror modifier."""
    v, c, s = rc.ict_mesh(stride=3)
    tris = rc.triangulate(c, s)
    tris = tris[(v[tris][:, :, 0] >= 0).all(axis=1)]
    ob = rc.new_object("Half", v, tris.ravel(), np.full(len(tris), 3))
    ob.modifiers.new("Mirror", "MIRROR")
    return refuse_all(ob, ["nfs.compute_skinning", "nfs.generate_facs_keys", "nfs.transfer_shape_keys",
                           "nfs.bake_from_source"])


def half_head():
    """Case "A-half-head": half a head (x >= 0) and no Mirror modifier to say so."""
    v, c, s = rc.ict_mesh(stride=2)
    tris = rc.triangulate(c, s)
    tris = tris[(v[tris][:, :, 0] >= 0).all(axis=1)]
    ob = rc.new_object("HalfBare", v, tris.ravel(), np.full(len(tris), 3))
    activate(ob)
    return {"attempts": {"skin": A("nfs.compute_skinning", "error", weights=False),
                         "facs": A("nfs.generate_facs_keys", "error", weights=False)}}


def big_refused():
    ob = rc.new_object("Sculpt", *rc.sphere(560, 540))
    activate(ob)
    return {"n": len(ob.data.vertices), "attempts": {
        "skin": A("nfs.compute_skinning", "error", weights=False),
        "facs": A("nfs.generate_facs_keys", "error", weights=False)}}


def big_ok():
    ob = rc.new_object("Sculpt", *rc.sphere(530, 530))
    activate(ob)
    a = A("nfs.compute_skinning", "result", skin_allow(ob), weights=False)
    ob = O("Sculpt")
    me = ob.data
    names = {g.index for g in ob.vertex_groups if g.name.startswith("NFS_")}
    sums = [sum(g.weight for g in me.vertices[i].groups if g.group in names) for i in range(0, len(me.vertices), 997)]
    return {"n": len(me.vertices), "attempts": {"skin": a}, "sum_err": float(np.abs(np.array(sums) - 1).max()),
            "groups": len(names)}


def max_vertices_pref():
    v, c, s = rc.ict_mesh(stride=4)
    ob = rc.new_object("Head", v, c, s)
    n = len(ob.data.vertices)
    activate(ob)
    try:
        prefs._Defaults.max_vertices = n
        at = A("nfs.compute_skinning", "result", skin_allow(ob))
        prefs._Defaults.max_vertices = n - 1
        activate(O("Head"))
        over = A("nfs.compute_skinning", "error")
    finally:
        prefs._Defaults.max_vertices = 300000
    return {"n": n, "attempts": {"at_limit": at, "over": over}}


def non_mesh():
    out = {}
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    bpy.context.scene.collection.objects.link(cam)
    cu = bpy.data.curves.new("Crv", "CURVE")
    crv = bpy.data.objects.new("Crv", cu)
    bpy.context.scene.collection.objects.link(crv)
    emp = bpy.data.objects.new("Emp", None)
    bpy.context.scene.collection.objects.link(emp)
    v, c, s = rc.ict_mesh(stride=4)
    bpy.context.scene.nfs.bake_source = rc.new_object("Src", v, c, s)
    for ob in (emp, cam, crv, None):
        activate(ob)
        for op in ALL_OPS:
            kw = {"filepath": GOOD_CSV} if op == "nfs.import_livelink_csv" else {}
            out[f"{op} on {ob.name if ob else 'nothing'}"] = A(op, "refused", **kw)
    return {"attempts": out}


def edit_mode():
    v, c, s = rc.ict_mesh(stride=4)
    ob = rc.new_object("Head", v, c, s)
    activate(ob)
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        out = {op: A(op, "refused") for op in ("nfs.compute_skinning", "nfs.generate_facs_keys",
                                               "nfs.update_region_colors", "nfs.clear_skinning",
                                               "nfs.transfer_shape_keys")}
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    return {"attempts": out}


def _library():
    """A library .blend holding a head with NFS_ groups and FACS keys; returns its path."""
    path = os.path.join(TMP, "library.blend")
    if not os.path.isfile(path):
        v, c, s = rc.ict_mesh(stride=4)
        ob = rc.new_object("LibHead", v, c, s)
        activate(ob)
        assert rc.call("nfs.compute_skinning")[0] == ["FINISHED"]
        assert rc.call("nfs.generate_facs_keys")[0] == ["FINISHED"]
        bpy.data.libraries.write(path, {O("LibHead")}, fake_user=True)
        clean()
    return path


def _link():
    path = _library()
    with bpy.data.libraries.load(path, link=True) as (src, dst):
        dst.objects = ["LibHead"]
    ob = dst.objects[0]
    bpy.context.scene.collection.objects.link(ob)
    v, c, s = rc.ict_mesh(stride=5)
    bpy.context.scene.nfs.bake_source = rc.new_object("Src", v, c, s)
    return ob


def _refuse_every_op(ob):
    activate(ob)
    out = {}
    for op in ALL_OPS:
        kw = {"filepath": GOOD_CSV} if op == "nfs.import_livelink_csv" else {}
        out[op] = A(op, "refused", **kw)
    return out


def linked():
    ob = _link()
    return {"linked": [ob.library is not None, ob.data.library is not None], "attempts": _refuse_every_op(ob)}


def override():
    lo = _link()
    ov = lo.override_create(remap_local_usages=True)
    return {"override": [ov.library is None, ov.data.library is not None], "attempts": _refuse_every_op(ov)}


res = run_group({
    "A-points-only": points_only, "A-edges-only": edges_only, "A-empty-mesh": empty_mesh,
    "A-nan-coords": lambda: nan_coords("nan"), "A-inf-coords": lambda: nan_coords("inf"),
    "A-far-mesh-data": far_mesh_data,
    "A-zero-area-dup": zero_area_dup, "A-non-manifold": non_manifold, "A-ngons-quads": ngons_quads,
    "A-transform": transform, "A-zero-scale": zero_scale, "A-mirror-modifier": mirror_modifier,
    "A-half-head": half_head, "A-300k-refused": big_refused, "A-280k-skinning": big_ok,
    "A-max-vertices-pref": max_vertices_pref, "A-non-mesh": non_mesh, "A-edit-mode": edit_mode,
    "A-linked-library": linked, "A-library-override": override,
})
emit(res)
'''

# ------------------------------------------------------------------------------------------------- runtime
RUNTIME = r'''
from small_model import save_small_weights
GOOD_NPZ, _ = save_small_weights(os.path.join(TMP, "w", "good"), 5)
GOOD_STEM = str(GOOD_NPZ)[:-4]
engine.set_model(None)
prefs._Defaults.weights_path = str(GOOD_NPZ)
BASE = {}


def facs_only(ob, expect="result"):
    activate(ob)
    a = A("nfs.generate_facs_keys", expect, facs_allow(ob))
    return a


def base_deltas(keys="TEMPLATE"):
    """World deltas of the plain triangulated head (stride 2) with the given FACS key source, computed once."""
    if "d_" + keys not in BASE:
        v, c, s = rc.ict_mesh(stride=2)
        tris = rc.triangulate(c, s)
        BASE.update(v=v, tris=tris, height=float(np.ptp(v[:, 2])))
        prefs._Defaults.key_source = keys
        ob = rc.new_object("Base", v, tris.ravel(), np.full(len(tris), 3))
        a = facs_only(ob)
        prefs._Defaults.key_source = "TEMPLATE"
        assert a["outcome"] == "result", a
        BASE["d_" + keys] = rc.world_deltas(O("Base"), ICT)
        clean()
    return dict(BASE, d=BASE["d_" + keys])


def rel(d, ref):
    return float(np.abs(d - ref).max() / np.abs(ref).max())


def exact_fraction(d, ref):
    """Fraction of vertices whose displacements (every key) agree within 1e-4 of the largest displacement (shape
    keys are float32: coordinates ~50x larger than the displacements carry ~1e-5 relative round-off)."""
    err = np.abs(d - ref).max(axis=(0, 2))
    return float((err <= 1e-4 * np.abs(ref).max()).mean())


def handful():
    ob = rc.new_object("Quad", [(0, 0, 0), (0.1, 0, 0), (0.1, 0, 0.1), (0, 0, 0.1)], [0, 1, 2, 3], [4])
    return both(ob, "error")


def zero_area():
    v = np.stack([np.linspace(0, 0.2, 62), np.zeros(62), np.zeros(62)], 1)
    c = np.array([[i, i + 1, i + 2] for i in range(60)]).ravel()
    return both(rc.new_object("Line", v, c, np.full(60, 3)), "error")


def islands(mode):
    parts = ("head", "eyeballs", "teeth")
    v, c, s = rc.ict_mesh(parts)
    prefs._Defaults.other_islands = mode
    try:
        out = both(rc.new_object("Multi", v, c, s))
    finally:
        prefs._Defaults.other_islands = "FOLLOW"
    d = rc.world_deltas(O("Multi"), ICT)
    other = rc.part_vertex_mask(parts, "eyeballs") | rc.part_vertex_mask(parts, "teeth")
    head = rc.part_vertex_mask(parts, "head")
    BASE["islands_" + mode] = d[:, head]
    out.update(n_other=int(other.sum()), other_max=float(np.abs(d[:, other]).max()),
               head_max=float(np.abs(d[:, head]).max()), other_finite=bool(np.isfinite(d).all()))
    if "islands_FOLLOW" in BASE and "islands_STATIC" in BASE:
        out["head_vs_follow"] = rel(BASE["islands_STATIC"], BASE["islands_FOLLOW"])
    return out


def flipped():
    b = base_deltas()
    tris = b["tris"][:, [0, 2, 1]]
    a = facs_only(rc.new_object("Flipped", b["v"], tris.ravel(), np.full(len(tris), 3)))
    return {"attempts": {"facs": a}, "rel": rel(rc.world_deltas(O("Flipped"), ICT), b["d"])}


def scaled(size, how):
    """The 1 mm head runs the decoder keys (exact up to round-off), the 10 m head the template keys (an
    iterative registration: round-off moves its trimmed pairs, so it is invariant within 1 %, not exactly)."""
    b = base_deltas(how == "mesh" and "DECODER" or "TEMPLATE")
    f = size / b["height"]
    prefs._Defaults.key_source = "DECODER" if how == "mesh" else "TEMPLATE"
    if how == "mesh":
        ob = rc.new_object("Scaled", b["v"] * f, b["tris"].ravel(), np.full(len(b["tris"]), 3))
    else:
        ob = rc.new_object("Scaled", b["v"], b["tris"].ravel(), np.full(len(b["tris"]), 3), scale=(f, f, f))
    a = facs_only(ob)
    d = rc.world_deltas(O("Scaled"), ICT)
    out = {"attempts": {"facs": a}, "factor": f, "rel": rel(d / f, b["d"]), "exact": exact_fraction(d / f, b["d"]),
           "rel_rms": float(np.linalg.norm(d / f - b["d"]) / np.linalg.norm(b["d"]))}
    out.update({k: v_ for k, v_ in key_stats(O("Scaled")).items() if k in ("finite", "missing")})
    prefs._Defaults.key_source = "TEMPLATE"
    return out


def mirrored():
    b = base_deltas()
    n3 = np.full(len(b["tris"]), 3)
    ob = rc.new_object("Mirror", b["v"], b["tris"].ravel(), n3, scale=(-1.0, 1.0, 1.0))
    a = facs_only(ob)
    vm = b["v"] * np.array([-1.0, 1.0, 1.0])
    a2 = facs_only(rc.new_object("Applied", vm, b["tris"].ravel(), n3))
    d, d2 = rc.world_deltas(O("Mirror"), ICT), rc.world_deltas(O("Applied"), ICT)
    return {"attempts": {"object": a, "applied": a2}, "rel": rel(d, d2)}


def rt_plane():
    g = np.linspace(-1.0, 1.0, 21)
    x, y = np.meshgrid(g, g)
    v = np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], 1)
    i = np.arange(441).reshape(21, 21)
    q = np.stack([i[:-1, :-1], i[1:, :-1], i[1:, 1:], i[:-1, 1:]], -1).reshape(-1, 4)
    return both(rc.new_object("Plane", v, q.ravel(), np.full(len(q), 4)), "error")


def two_heads():
    v, c, s = rc.ict_mesh(stride=3)
    n = len(v)
    ob = rc.new_object("Two", np.vstack([v, v + [0.5, 0.0, 0.0]]), np.concatenate([c, c + n]),
                       np.concatenate([s, s]))
    activate(ob)
    warnings = common.prepare_object(bpy.context, ob).warnings       # what the operators report as WARNING
    out = both(O("Two"))
    d = rc.world_deltas(O("Two"), ICT)
    out.update(warnings=warnings, first=float(np.abs(d[:, :n]).max()), second=float(np.abs(d[:, n:]).max()))
    return out


def rt_nan():
    v, c, s = rc.ict_mesh(stride=3)
    v[7] = np.nan
    return both(rc.new_object("Bad", v, c, s), "error")


def weights_case(kind, expect="error"):
    path = rc.write_bad_weights(os.path.join(TMP, "bad"), kind, GOOD_STEM)
    v, c, s = rc.ict_mesh(stride=4)
    ob = rc.new_object("Head", v, c, s)
    prefs._Defaults.weights_path = str(path)
    try:
        activate(ob)
        return {"attempts": {"skin": A("nfs.compute_skinning", expect, skin_allow(ob)),
                             "facs": A("nfs.generate_facs_keys", expect, facs_allow(O("Head")))}}
    finally:
        prefs._Defaults.weights_path = str(GOOD_NPZ)


def recover():
    prefs._Defaults.weights_path = os.path.join(TMP, "nowhere.npz")
    v, c, s = rc.ict_mesh(stride=4)
    ob = rc.new_object("Head", v, c, s)
    activate(ob)
    bad = A("nfs.compute_skinning", "error")
    prefs._Defaults.weights_path = str(GOOD_NPZ)
    out = both(O("Head"))
    out["attempts"]["before_fix"] = bad
    return out


res = run_group({
    "A-rt-handful": handful, "A-rt-zero-area": zero_area,
    "A-rt-islands-follow": lambda: islands("FOLLOW"), "A-rt-islands-static": lambda: islands("STATIC"),
    "A-rt-flipped": flipped, "A-rt-scale-1mm": lambda: scaled(0.001, "mesh"),
    "A-rt-scale-10m": lambda: scaled(10.0, "object"), "A-rt-mirrored": mirrored, "A-rt-plane": rt_plane, "A-rt-two-heads": two_heads, "A-rt-nan": rt_nan,
    "A-weights-missing": lambda: weights_case("missing"), "A-weights-truncated": lambda: weights_case("truncated"),
    "A-weights-version": lambda: weights_case("version"), "A-weights-no-json": lambda: weights_case("no-json"),
    "A-weights-garbage": lambda: weights_case("garbage"), "A-weights-nan": lambda: weights_case("nan"),
    "A-weights-recover": recover,
})
emit(res)
'''

# ------------------------------------------------------------------------------------------------- user data
USER = r'''
def rigged(name="Rig", user_jaw=False):
    """A head with the user's own rig: Basis + Smirk (value 0.4, range -1..2, keyframed) + Driven (driver) +
    vertex groups + modifiers + custom properties + a material."""
    v, c, s = rc.ict_mesh(stride=2)
    ob = rc.new_object(name, v, c, s, location=(0.2, 0.0, 1.4), rotation=(0.0, 0.0, 0.2))
    n = len(v)
    jaw = ob.vertex_groups.new(name="Jaw")
    jaw.add(list(range(0, n, 3)), 0.7, "REPLACE")
    eyes = ob.vertex_groups.new(name="Eyes")
    eyes.add(list(range(1, n, 11)), 1.0, "REPLACE")
    ob.shape_key_add(name="Basis", from_mix=False)
    names = ["Smirk", "Driven"] + (["jawOpen"] if user_jaw else [])
    for k, nm in enumerate(names):
        kb = ob.shape_key_add(name=nm, from_mix=False)
        co = np.empty(3 * n, np.float32)
        kb.points.foreach_get("co", co)
        co[2::3] += 0.004 * (k + 1)
        kb.points.foreach_set("co", co)
    kbs = ob.data.shape_keys.key_blocks
    kbs["Smirk"].slider_min, kbs["Smirk"].slider_max = -1.0, 2.0
    kbs["Driven"].vertex_group = "Jaw"
    for f, val in ((1, 0.0), (20, 1.5)):
        kbs["Smirk"].value = val
        kbs["Smirk"].keyframe_insert("value", frame=f)
    kbs["Smirk"].value = 0.4
    drv = kbs["Driven"].driver_add("value").driver
    drv.type = "SCRIPTED"
    var = drv.variables.new()
    var.name, var.type = "x", "SINGLE_PROP"
    var.targets[0].id_type = "OBJECT"
    var.targets[0].id = ob
    var.targets[0].data_path = "location.x"
    drv.expression = "x * 0.5"
    sub = ob.modifiers.new("Subdiv", "SUBSURF")
    sub.levels, sub.show_viewport = 1, False
    sm = ob.modifiers.new("Smooth", "SMOOTH")
    sm.vertex_group = "Jaw"
    ob["rig_version"] = 3
    ob.data["note"] = "keep me"
    ob.data.materials.append(bpy.data.materials.new("Skin"))
    bpy.context.scene.frame_set(bpy.context.scene.frame_current)  # evaluate the driver and the action now
    return ob


def source():
    """A head whose 12 FACS-named keys are keyframed over frames 1..10."""
    v, c, s = rc.ict_mesh(stride=3)
    src = rc.new_object("Src", v, c, s, location=(-0.5, 0.0, 1.4))
    src.shape_key_add(name="Basis", from_mix=False)
    for j, nm in enumerate(ICT[:12]):
        kb = src.shape_key_add(name=nm, from_mix=False)
        for f in (1, 10):
            kb.value = ((j + f) % 5) / 4.0
            kb.keyframe_insert("value", frame=f)
    return src


def shading():
    return [[sp.shading.type, sp.shading.color_type] for _k, sp in __import__("nfs_blender.ops_skinning",
            fromlist=["x"])._view3d_spaces()]


def user_flow():
    """One rigged head through every operator, each twice; one result dict per case id."""
    out = {}
    rig = rigged()
    me = rig.data.name
    activate(rig)
    out["A-user-skinning"] = {"attempts": {"1": A("nfs.compute_skinning", "result", skin_allow(rig))}}
    activate(O("Rig"))
    out["A-user-skinning-twice"] = {"attempts": {"2": A("nfs.compute_skinning", "result", skin_allow(O("Rig")))}}
    activate(O("Rig"))
    out["A-user-facs"] = {"attempts": {"1": A("nfs.generate_facs_keys", "result", facs_allow(O("Rig")))}}
    out["A-user-facs"]["order"] = [kb.name for kb in O("Rig").data.shape_keys.key_blocks][:5]
    out["A-user-facs"].update(key_stats(O("Rig")))
    activate(O("Rig"))
    out["A-user-facs-twice"] = {"attempts": {"2": A("nfs.generate_facs_keys", "error")}}
    activate(O("Rig"))
    out["A-user-facs-replace"] = {"attempts": {"replace": A("nfs.generate_facs_keys", "result",
                                                            facs_allow(O("Rig")), replace=True)}}
    # bake from a FACS-named source, twice
    src = source()
    s = bpy.context.scene.nfs
    s.bake_source, s.use_scene_range, s.frame_start, s.frame_end, s.source_mode = src, False, 1, 10, "AUTO"
    bpy.context.scene.frame_set(5)
    activate(O("Rig"))
    bake_allow = rc.key_paths(me, ICT)
    out["A-user-bake"] = {"attempts": {"1": A("nfs.bake_from_source", "result", bake_allow)}}
    activate(O("Rig"))
    out["A-user-bake-twice"] = {"attempts": {"2": A("nfs.bake_from_source", "result", bake_allow)}}
    out["A-user-bake-twice"]["frame"] = bpy.context.scene.frame_current
    # CSV, twice
    activate(O("Rig"))
    csv_allow = rc.key_paths(me, ICT) + ["scene/range"]
    out["A-user-csv"] = {"attempts": {"1": A("nfs.import_livelink_csv", "result", csv_allow, filepath=GOOD_CSV)}}
    activate(O("Rig"))
    out["A-user-csv-twice"] = {"attempts": {"2": A("nfs.import_livelink_csv", "result", csv_allow,
                                                   filepath=GOOD_CSV)}}
    # sliders
    kbs = O("Rig").data.shape_keys.key_blocks
    kbs["eyeBlink_L"].value, kbs["mouthSmile_R"].value, kbs["mouthSmile_L"].value = 0.8, 0.6, 0.3
    mouth = [n for n in ICT if fn.facs_group(n) == "mouth"]
    activate(O("Rig"))
    r1 = A("nfs.reset_facs_group", "result", rc.key_paths(me, mouth), group="mouth")
    r2 = A("nfs.reset_facs_group", "result", rc.key_paths(me, mouth), group="mouth")
    out["A-user-reset"] = {"attempts": {"1": r1, "2": r2}}
    kbs = O("Rig").data.shape_keys.key_blocks
    kbs["eyeBlink_L"].value, kbs["mouthSmile_R"].value, kbs["browDown_R"].value = 0.8, 0.6, 0.2
    m = {"lr1": A("nfs.mirror_facs", "result", rc.key_paths(me, ICT), direction="L_TO_R"),
         "lr2": A("nfs.mirror_facs", "result", rc.key_paths(me, ICT), direction="L_TO_R")}
    before_swap = rc.snapshot()
    m["swap1"] = A("nfs.mirror_facs", "result", rc.key_paths(me, ICT), direction="SWAP")
    m["swap2"] = A("nfs.mirror_facs", "result", rc.key_paths(me, ICT), direction="SWAP")
    out["A-user-mirror"] = {"attempts": m, "swap_twice_diff": rc.violations(before_swap, rc.snapshot())}
    kbs = O("Rig").data.shape_keys.key_blocks
    out["A-user-mirror"]["values"] = {n: round(kbs[n].value, 6) for n in ("eyeBlink_L", "eyeBlink_R", "browDown_R",
                                                                         "browDown_L", "mouthSmile_R")}
    # region colours: show, hide
    activate(O("Rig"))
    sh0, before_t = shading(), rc.snapshot()
    t1 = A("nfs.toggle_region_colors", "result", [f"m/{me}/colors", "scene/props"])
    sh1 = shading()
    t2 = A("nfs.toggle_region_colors", "result", [f"m/{me}/colors", "scene/props"])
    out["A-user-colors-toggle"] = {"attempts": {"show": t1, "hide": t2}, "shading": [sh0, sh1, shading()],
                                   "twice_diff": rc.violations(before_t, rc.snapshot(), ["scene/props"])}
    activate(O("Rig"))
    out["A-user-update-colors"] = {"attempts": {
        "1": A("nfs.update_region_colors", "result", [f"m/{me}/attr/NFS_regions"]),
        "2": A("nfs.update_region_colors", "result", [f"m/{me}/attr/NFS_regions"])}}
    activate(O("Rig"))
    out["A-user-clear"] = {"attempts": {
        "1": A("nfs.clear_skinning", "result", [f"o/Rig/vgroup/NFS_*", f"m/{me}/attr/NFS_regions", f"m/{me}/colors"]),
        "2": A("nfs.clear_skinning", "refused")}}
    out["A-user-clear"]["groups_left"] = [g.name for g in O("Rig").vertex_groups]
    return out


def existing_facs_name():
    ob = rigged("Rig2", user_jaw=True)
    activate(ob)
    return {"attempts": {"facs": A("nfs.generate_facs_keys", "error")}}


res = {}
clean()
try:
    res.update(user_flow())
except Exception:
    import traceback
    res["A-user-skinning"] = {"harness_error": traceback.format_exc()[-3000:]}
res.update(run_group({"A-user-existing-facs-name": existing_facs_name}))
emit(res)
'''

# ------------------------------------------------------------------------------------------------- io, cancel, failures
IO = r'''
from types import SimpleNamespace
import standin_model


def target():
    v, c, s = rc.ict_mesh(stride=3)
    ob = rc.new_object("Target", v, c, s)
    activate(ob)
    assert rc.call("nfs.generate_facs_keys")[0] == ["FINISHED"]
    return O("Target")


def plain_source(name="Src", **kw):
    v, c, s = rc.ict_mesh(stride=4)
    return rc.new_object(name, v, c, s, location=(-0.5, 0, 0), **kw)


def posed_source(key_name, edit):
    """``plain_source()`` with a Basis and one shape key ``key_name`` whose flat (3N,) float32 coordinates (the rest
    positions) ``edit(co)`` changes in place; returns (source, key block)."""
    src = plain_source()
    src.shape_key_add(name="Basis", from_mix=False)
    kb = src.shape_key_add(name=key_name, from_mix=False)
    co = np.empty(3 * len(src.data.vertices), np.float32)
    kb.points.foreach_get("co", co)
    edit(co)
    kb.points.foreach_set("co", co)
    return src, kb


def bake_setup(src, mode="AUTO", start=1, end=4):
    s = bpy.context.scene.nfs
    s.bake_source, s.use_scene_range, s.frame_start, s.frame_end, s.source_mode = src, False, start, end, mode


def bake_no_source():
    target()
    bpy.context.scene.nfs.bake_source = None
    activate(O("Target"))
    return {"attempts": {"bake": A("nfs.bake_from_source", "refused")}}


def bake_empty_range():
    target()
    bake_setup(plain_source(), "GEOMETRY", 10, 5)
    activate(O("Target"))
    return {"attempts": {"bake": A("nfs.bake_from_source", "error")}}


def bake_vertex_count():
    target()
    src = plain_source()
    src.modifiers.new("Subdiv", "SUBSURF").levels = 1
    bake_setup(src, "GEOMETRY", 1, 3)
    bpy.context.scene.frame_set(7)
    activate(O("Target"))
    return {"attempts": {"bake": A("nfs.bake_from_source", "error")}, "frame": bpy.context.scene.frame_current}


def bake_no_names():
    target()
    bake_setup(plain_source(), "NAMES")
    activate(O("Target"))
    return {"attempts": {"bake": A("nfs.bake_from_source", "error")}}


def bake_nan_source():
    target()

    def nan(co):
        co[30:60] = np.nan
    src, kb = posed_source("broken", nan)
    kb.value = 1.0
    bake_setup(src, "GEOMETRY", 1, 3)
    activate(O("Target"))
    return {"attempts": {"bake": A("nfs.bake_from_source", "error")}}


def bake_huge_range():
    target()
    src = plain_source()
    bake_setup(src, "GEOMETRY", 1, 1_000_000)
    activate(O("Target"))
    out = {"range": A("nfs.bake_from_source", "error")}
    bake_setup(src, "GEOMETRY", 1, 90_000)
    bpy.context.scene.nfs.bake_corrective = True
    activate(O("Target"))
    out["corrective"] = A("nfs.bake_from_source", "error")
    bpy.context.scene.nfs.bake_corrective = False
    return {"attempts": out}


def bake_driven_target():
    ob = target()
    key = ob.data.shape_keys
    for nm in ("jawOpen", "eyeBlink_L"):
        fc = key.key_blocks[nm].driver_add("value")
        fc.driver.expression = "0.25"
    src = plain_source()
    src.shape_key_add(name="Basis", from_mix=False)
    for j, nm in enumerate(fn.ICT_NAMES[:12]):
        kb = src.shape_key_add(name=nm, from_mix=False)
        for f_ in (1, 4):
            kb.value = ((j + f_) % 5) / 4.0
            kb.keyframe_insert("value", frame=f_)
    bake_setup(src, "NAMES", 1, 4)
    activate(O("Target"))
    me = O("Target").data.name
    allow = rc.key_paths(me, fn.ICT_NAMES) + [f"k/{me}/anim", "data/actions/*"]   # the Key had no action yet
    r = A("nfs.bake_from_source", "result", allow)
    activate(O("Target"))
    f = fake(ops_bake.NFS_OT_bake_from_source)
    res = sorted(f.execute(bpy.context))
    drivers = sorted(d.data_path for d in O("Target").data.shape_keys.animation_data.drivers)
    return {"attempts": {"bake": r}, "fake": res, "reports": f.reports, "drivers": drivers}


def csv_case(files, start=1):
    """Import each (label, text-or-bytes-or-None path) onto a target with FACS keys."""
    target()
    out = {}
    for label, content in files:
        path = os.path.join(TMP, label + ".csv")
        if content is None:
            pass
        elif isinstance(content, bytes):
            open(path, "wb").write(content)
        elif content == "<dir>":
            path = TMP
        else:
            open(path, "w", encoding="utf-8").write(content)
        activate(O("Target"))
        out[label] = A("nfs.import_livelink_csv", "error", filepath=path, start_frame=start)
    return {"attempts": out}


def edit_csv(fnc, n_rows=30):
    lines = rc.csv_text(n_rows, 60).splitlines()
    fnc(lines)
    return "\n".join(lines) + "\n"


def _cell(lines, row, col, value):
    cells = lines[row].split(",")
    cells[col] = value
    lines[row] = ",".join(cells)


PASCAL = [n[0].upper() + n[1:] for n in fn.ARKIT_NAMES]
CSV_CASES = {
    "A-csv-wrong-header": [("header", edit_csv(lambda L: _cell(L, 0, 0, "Time")))],
    "A-csv-missing-columns": [("columns", rc.csv_text(20, 60, columns=PASCAL[5:]))],
    "A-csv-non-numeric": [("oops", edit_csv(lambda L: _cell(L, 6, 9, "oops")))],
    "A-csv-nan": [("nan", edit_csv(lambda L: _cell(L, 3, 4, "nan"))),
                  ("inf", edit_csv(lambda L: _cell(L, 4, 5, "-inf")))],
    "A-csv-short-row": [("short", edit_csv(lambda L: L.__setitem__(3, L[3].rsplit(",", 1)[0])))],
    "A-csv-bad-timecode": [("timecode", edit_csv(lambda L: _cell(L, 2, 0, "12:xx:00:00")))],
    "A-csv-timecode-jump": [("jump", edit_csv(lambda L: _cell(L, 12, 0, "00:00:00:00.000")))],
    "A-csv-empty": [("empty", ""), ("header_only", rc.csv_text(0, 60))],
    "A-csv-binary": [("binary", bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8)))],
    "A-csv-missing-file": [("missing", None), ("folder", "<dir>")],
}


class Reports:
    def report(self, kind, msg):
        self.reports.append([sorted(kind)[0], msg])


def fake(op_cls, **props):
    ns = {k: v for k, v in op_cls.__dict__.items() if callable(v) and not k.startswith("__")}
    ns["what"] = op_cls.what
    f = type("Fake" + op_cls.__name__, (Reports, common.JobOperator), ns)()
    f.reports, f.message, f.warnings = [], "", []
    for k, v in props.items():
        setattr(f, k, v)
    return f


def modal_cancel(f, steps):
    """Start the job as the modal run does, advance it ``steps`` yields, then press Esc."""
    ctx, wm = bpy.context, bpy.context.window_manager
    before = rc.snapshot()
    f._gen = f.job(ctx)
    f._timer = wm.event_timer_add(10.0, window=ctx.window)
    wm.progress_begin(0, 1000)
    texts = [next(f._gen)[1] for _ in range(steps)]
    mid_frame = bpy.context.scene.frame_current
    res = sorted(f.modal(ctx, SimpleNamespace(type="ESC", value="PRESS", timer=None)))
    after = rc.snapshot()
    ok = res == ["CANCELLED"] and len(f.reports) == 1 and f.reports[0][0] == "WARNING"
    return {"outcome": "cancelled" if ok else f"not cancelled: {res} {f.reports}", "expect": "cancelled",
            "message": f.reports[0][1] if f.reports else "", "violations": rc.violations(before, after),
            "steps": texts, "mid_frame": mid_frame}


def cancel_facs():
    v, c, s = rc.ict_mesh(stride=3)
    activate(rc.new_object("Head", v, c, s))
    f = fake(ops_facs.NFS_OT_generate_facs_keys, replace=False, scheme="PREFERENCES", use_painted=True,
             with_pieces=True)
    r = modal_cancel(f, 12)
    r["has_keys"] = O("Head").data.shape_keys is not None
    return {"attempts": {"esc": r}}


def cancel_skinning():
    v, c, s = rc.ict_mesh(stride=3)
    activate(rc.new_object("Head", v, c, s))
    f = fake(ops_skinning.NFS_OT_compute_skinning)
    r = modal_cancel(f, 2)
    ob = O("Head")
    r["groups"] = [g.name for g in ob.vertex_groups]
    r["colors"] = ob.data.color_attributes.get("NFS_regions") is not None
    return {"attempts": {"esc": r}}


def cancel_bake():
    target()

    def lower(co):   # every vertex 1 cm down
        co[2::3] -= 0.01
    src, kb = posed_source("pose", lower)
    for f_, val in ((1, 0.0), (40, 1.0)):
        kb.value = val
        kb.keyframe_insert("value", frame=f_)
    bake_setup(src, "GEOMETRY", 1, 40)
    bpy.context.scene.frame_set(17)
    activate(O("Target"))
    r = modal_cancel(fake(ops_bake.NFS_OT_bake_from_source), 3)
    r["frame_after"] = bpy.context.scene.frame_current
    return {"attempts": {"esc": r}}


class Failing(standin_model.StandinModel):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def facs_basis_iter(self, pm, names="ict", probs=None, keys=None):
        for i, name, d in super().facs_basis_iter(pm, names, probs, keys):
            if i == 30 and self.mode == "raise":
                raise IndexError("simulated failure inside the model")
            if i == 20 and self.mode == "nan":
                d = d.copy()
                d[5] = np.nan
            yield i, name, d


def model_failure(mode):
    v, c, s = rc.ict_mesh(stride=3)
    ob = rc.new_object("Head", v, c, s)
    ob.shape_key_add(name="Basis", from_mix=False)
    ob.shape_key_add(name="Mine", from_mix=False).value = 0.3
    activate(ob)
    engine.set_model(Failing(mode))
    try:
        return {"attempts": {"facs": A("nfs.generate_facs_keys", "error")}}
    finally:
        engine.set_model(MODEL)


funcs = {
    "A-bake-no-source": bake_no_source, "A-bake-empty-range": bake_empty_range,
    "A-bake-vertex-count": bake_vertex_count, "A-bake-no-names": bake_no_names,
    "A-bake-nan-source": bake_nan_source, "A-bake-huge-range": bake_huge_range,
    "A-bake-driven-target": bake_driven_target,
    "A-csv-huge-start": lambda: csv_case([("huge", rc.csv_text(121, 60))], start=1048570),
    "A-cancel-facs": cancel_facs, "A-cancel-bake": cancel_bake, "A-cancel-skinning": cancel_skinning,
    "A-model-fails-midway": lambda: model_failure("raise"), "A-model-nan": lambda: model_failure("nan"),
}
for cid, files in CSV_CASES.items():
    funcs[cid] = (lambda files=files: csv_case(files))
emit(run_group(funcs))
'''


# ================================================================================================= checks
def check_case(case_id, r):
    """Generic assertions: every attempt has its expected outcome, messages are one clear line containing the
    case's phrase, nothing outside the documented additions changed, Undo/Redo exact."""
    case = rc.BY_ID[case_id]
    assert "harness_error" not in r, f"{case_id}: the case script raised:\n{r['harness_error']}"
    attempts = r["attempts"]
    assert attempts, case_id
    assert any(a["expect"] == case.expect for a in attempts.values()), f"{case_id}: no attempt expects {case.expect}"
    for label, a in attempts.items():
        where = f"{case_id} [{label}]"
        assert a["outcome"] == a["expect"], f"{where}: expected {a['expect']}, got {a['outcome']}: {a['message']}"
        assert "Traceback" not in a["message"], f"{where}: {a['message']}"
        assert a["violations"] == [], f"{where}: changed outside the documented additions: {a['violations']}"
        if a["expect"] in ("error", "refused", "cancelled"):
            assert a["message"], f"{where}: no message"
            assert "\n" not in a["message"].strip(), f"{where}: more than one line: {a['message']!r}"
            if a["expect"] == case.expect:
                assert rc.says_ok(case, a["message"]), f"{where}: message lacks {case.says!r}: {a['message']}"
        if a["expect"] == "result" and "undo_diff" in a:
            assert a["undo_diff"] == [], (f"{where}: Undo did not return the exact previous state: {a['undo_diff']} "
                                          f"{a.get('undo_detail')}")
            assert a["redo_diff"] == [], f"{where}: Redo did not give the exact result: {a['redo_diff']} " \
                                         f"{a.get('redo_detail')}"


def check_group(res, group):
    ids = [c.id for c in rc.cases(group)]
    assert sorted(res) == sorted(ids), f"cases run != cases of {group}: {set(res) ^ set(ids)}"
    failures = []
    for cid in ids:
        try:
            check_case(cid, res[cid])
        except AssertionError as ex:
            failures.append(str(ex).split("\nassert ")[0])
    assert not failures, f"{len(failures)} of {len(ids)} cases failed:\n" + "\n".join(failures)


def test_geometry_matrix():
    res = run_blender([PRELUDE, DECODER_KEYS, COMMON, GEOMETRY], timeout=300, env=rc.SUBPROCESS_ENV)
    check_group(res, "addon-geometry")
    for cid in ("A-zero-area-dup", "A-non-manifold", "A-ngons-quads"):
        r = res[cid]
        assert r["finite"] and not r["missing"] and r["max_delta"] > 1e-4, (cid, r)
        assert r["groups"] == 22 and r["sum_err"] <= 1e-6, (cid, r)
        assert r["co_unchanged"], cid
    assert res["A-ngons-quads"]["max_corners"] > 20
    t = res["A-transform"]
    assert t["finite"] and not t["missing"] and t["max_delta"] > 1e-3 and t["det"] > 0
    assert t["err"] < 1e-3 * t["max_delta"], t   # measured 2.5e-4: k-NN ties flipped by round-off (A-rt-scale-1mm)
    assert res["A-300k-refused"]["n"] > 300000
    assert all(a["seconds"] < 1.0 for a in res["A-300k-refused"]["attempts"].values())
    big = res["A-280k-skinning"]
    assert 250000 < big["n"] <= 300000 and big["groups"] == 22 and big["sum_err"] <= 1e-6
    assert big["attempts"]["skin"]["seconds"] < 60.0
    mv = res["A-max-vertices-pref"]
    assert f"({mv['n'] - 1})" in mv["attempts"]["over"]["message"]
    assert len(res["A-non-mesh"]["attempts"]) == 4 * 12
    assert res["A-linked-library"]["linked"] == [True, True]
    assert res["A-library-override"]["override"] == [True, True]


def test_runtime_backed_matrix():
    res = run_blender([PRELUDE, STANDIN, COMMON, RUNTIME], timeout=400, env=rc.SUBPROCESS_ENV)
    check_group(res, "addon-runtime")
    follow, static = res["A-rt-islands-follow"], res["A-rt-islands-static"]
    for r in (follow, static):
        assert r["finite"] and not r["missing"] and r["other_finite"] and r["n_other"] > 5000
        assert r["groups"] == 22 and r["sum_err"] <= 1e-6 and r["head_max"] > 1e-5
    assert follow["other_max"] > 1e-7                                      # eyes / teeth move with the face
    assert static["other_max"] == 0.0                                      # ... or stay exactly still
    assert static["head_vs_follow"] < 1e-6                                 # the face itself is the same
    assert res["A-rt-flipped"]["rel"] < 1e-5
    # decoder keys: the runtime's k-NN interpolation is discontinuous where round-off flips a tie between the
    # k-th and (k+1)-th nearest proxy vertex (ICT's symmetric midline): 98 % exact, the rest within 2 %
    r = res["A-rt-scale-1mm"]
    assert r["finite"] and not r["missing"] and r["exact"] >= 0.98 and r["rel"] < 0.02, r
    # template keys (the add-on's default): an iterative registration, so round-off can slide a closest point
    # across the lip contact: invariant in RMS within 6 %, not vertex by vertex (docs/model.md, Keys on real
    # characters). Measured on this head (every second polygon dropped: holes everywhere) 4.5 %, 2.2 % before the
    # template's mirror plane was put on the face's: placed exactly symmetric on a symmetric mesh, the template's
    # midline meets ties that round-off decides (ICT's whole head in the runtime: 0.0-0.1 %, was 0.4-1.2 %)
    r = res["A-rt-scale-10m"]
    assert r["finite"] and not r["missing"] and r["rel_rms"] < 0.06, r
    assert res["A-rt-scale-1mm"]["factor"] < 0.01 and res["A-rt-scale-10m"]["factor"] > 10
    assert res["A-rt-mirrored"]["rel"] < 1e-5
    th = res["A-rt-two-heads"]
    assert th["finite"] and not th["missing"] and len(th["warnings"]) == 1, th
    assert "only the largest" in th["warnings"][0] and "Separate" in th["warnings"][0]
    assert min(th["first"], th["second"]) == 0.0 and max(th["first"], th["second"]) > 1e-5, th


def test_user_data_matrix():
    res = run_blender([PRELUDE, DECODER_KEYS, COMMON, USER], timeout=300, env=rc.SUBPROCESS_ENV)
    check_group(res, "addon-user")
    for cid, label in (("A-user-skinning-twice", "2"), ("A-user-facs-replace", "replace"),
                       ("A-user-bake-twice", "2"), ("A-user-csv-twice", "2"), ("A-user-update-colors", "2")):
        a = res[cid]["attempts"][label]
        assert a["changed"] == [] and a["added"] == [], (cid, a["changed"], a["added"])   # idempotent
    assert res["A-user-facs"]["order"] == ["Basis", "Smirk", "Driven", "browDown_L", "browDown_R"]
    assert res["A-user-facs"]["finite"] and not res["A-user-facs"]["missing"]
    assert res["A-user-skinning"]["attempts"]["1"]["added"], "skinning added nothing"
    bake = res["A-user-bake"]["attempts"]["1"]
    assert sum('key_blocks["' in p and "/fc/" in p for p in bake["added"]) == 53
    assert res["A-user-bake-twice"]["frame"] == 5
    assert res["A-user-reset"]["attempts"]["2"]["changed"] == []
    m = res["A-user-mirror"]
    assert m["attempts"]["lr2"]["changed"] == [] and m["swap_twice_diff"] == []
    assert m["values"]["eyeBlink_R"] == m["values"]["eyeBlink_L"] == 0.8
    sh = res["A-user-colors-toggle"]["shading"]
    assert sh[0] == sh[2] and sh[1] and all(x == ["SOLID", "VERTEX"] for x in sh[1])
    assert res["A-user-colors-toggle"]["twice_diff"] == []
    assert res["A-user-clear"]["groups_left"] == ["Jaw", "Eyes"]


def test_io_cancel_matrix():
    res = run_blender(["from types import SimpleNamespace\n", PRELUDE, STANDIN, COMMON, IO], timeout=300,
                      env=rc.SUBPROCESS_ENV)
    check_group(res, "addon-io")
    assert res["A-bake-vertex-count"]["frame"] == 7
    esc = res["A-cancel-facs"]["attempts"]["esc"]
    assert len(esc["steps"]) == 12 and not esc["has_keys"]
    esc = res["A-cancel-bake"]["attempts"]["esc"]
    assert esc["mid_frame"] != 17 and esc["frame_after"] == 17
    assert "IndexError" in res["A-model-fails-midway"]["attempts"]["facs"]["message"]
    esc = res["A-cancel-skinning"]["attempts"]["esc"]
    assert len(esc["steps"]) == 2 and esc["groups"] == [] and not esc["colors"], esc
    assert "mesh prepared" in esc["steps"][1], esc["steps"]
    huge = res["A-bake-huge-range"]["attempts"]
    assert "1,000,000 frames" in huge["range"]["message"] and huge["range"]["seconds"] < 2.0, huge["range"]
    assert "GiB" in huge["corrective"]["message"] and huge["corrective"]["seconds"] < 2.0, huge["corrective"]
    drv = res["A-bake-driven-target"]
    assert drv["fake"] == ["FINISHED"], drv
    warn = [m for kind, m in drv["reports"] if kind == "WARNING"]
    assert len(warn) == 1 and "eyeBlink_L, jawOpen" in warn[0] and "driver" in warn[0], drv["reports"]
    assert drv["drivers"] == ['key_blocks["eyeBlink_L"].value', 'key_blocks["jawOpen"].value']


def test_every_addon_case_has_a_test():
    groups = [g for g in rc.GROUPS if g.startswith("addon-")]
    text = open(__file__, encoding="utf-8").read()
    for c in rc.CASES:
        if c.group in groups:
            assert f'"{c.id}"' in text, c.id
