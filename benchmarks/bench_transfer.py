"""Benchmark: shape-key transfer (``runtime/transfer.py``) against nearest-point transfer and Blender's Surface
Deform modifier, on the same heads, in the same run (issue 16, "Measure").

Run from the repository root (Python 3.11 venv: numpy, scipy for the remesher, ``bpy`` for Surface Deform)::

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. .venv/py311/bin/python benchmarks/bench_transfer.py [--quick]

Without ``bpy`` the Surface Deform columns print "-". Tables (markdown, printed to stdout):

1. Ground truth by construction. Relative error = mean_v |p - t| / mean_v |t| (pooled over all keys, as
   docs/model.md reports it, and the mean of the per-key values), cosine of the flattened fields, and the rows
   jawOpen / eyeBlink_L / mouthSmile_L:
   - ICT held-out identity A's 53 keys -> identity B on other topologies (decimated 2k full head, Voronoi 8k
     full head, ICT's face mask), against B's true keys (the same topology's barycentric map of B + key).
     Our generated ICT-style keys (``Model.facs_basis(pm, 'ict', keys='auto')`` on B) are a third baseline.
   - A dev head (``iphonemocap_johnsmith_head``, MIT) -> a smoothly warped and remeshed copy of itself: the
     warp W = similarity (scale 1.1, 4 degrees about Y, shifted) of an anisotropic scale (x 0.92, y 1.07)
     plus low-frequency sinusoids (0.4-0.7 cm amplitude, 16-30 cm wavelengths); the copy is the head's surface
     midpoint-subdivided into a dense lattice and Voronoi-clustered (``model_core.dataset.remesh``'s clustering,
     applied to this head) to ~3k vertices. (Asked for 8k, the clustering gives a
     4.1k copy whose keys are zero on parts of the face: not used.) A new vertex at surface point p (barycentric on the head) sits at
     W(p); its true key is W(p + d(p)) - W(p), d(p) the barycentric mix of the artist's key.
   - The same dev head -> the front half (vertices in front of the median depth) of its remeshed copy: a piece of
     the source's surface, as a face mask cut from a head.
   - The same dev head -> its half and full warps without the remesh (the same mesh, one topology: the transfer
     matches it vertex for vertex, ``runtime/same_topology.py``); its true key is W(v + d) - W(v). The full warp
     once more with its vertices numbered otherwise (``runtime/renumber.py`` puts them back in order first), and
     from the head with two eyeballs added (the copy lacks them; its face island is one topology with the copy's:
     ``transfer.SAME_FACE``).
2. Cross-artist pairs among the three dev heads: artist A's keys -> head B, scored against B's own keys
   (``real_eval.key_metrics``: best-scale error, cosine; mean over the keys both heads have, tongueOut
   excluded). Artists disagree: this compares methods, not quality.
3. Speed: ICT identity A (11,248 vertices, 53 keys) -> identity B Voronoi-remeshed to ~10k vertices:
   ``transfer_keys`` (and the two ``prepare`` calls) against the Surface Deform pipeline (scaled-ICP
   alignment, building the two objects and the 53 source keys, bind, one depsgraph evaluation per key).

Methods:
- transfer: ``transfer_keys(model, prepare(source), keys, prepare(target), names)``.
- transfer before (no unflip): the same with ``transfer.UNFLIP`` off (as it was before the triangles a key
  turns over were relaxed), in the same run ("before" in table 2).
- transfer + proportion map: ``transfer_keys(..., proportions=True)`` (the source takes the target's
  proportions by a clipped affine ICP first, the keys follow its linear part; "+ proportions" in table 2).
- transfer, registered (one-topology cases, renumbered too): ``transfer.SAME_TOPOLOGY`` off, the registration's
  match.
- oracle (ground-truth cases): the source's keys at each target vertex's true source point, rotated and scaled
  by the least-squares similarity of those points onto the target: what a perfect correspondence gives when
  the keys follow one global similarity. On ICT the truth keeps ICT's keys in absolute cm on both identities
  (ICT's expression basis is identity-independent), so any size scaling (B's head is ~7 % smaller) costs there:
  the oracle is not 0.
- nearest: ``real_eval.nearest_keys`` (scaled ICP of the source onto the target, each target vertex copies its
  nearest source vertex's key, scaled and rotated).
- Surface Deform: the source is aligned onto the target by the same scaled ICP as nearest
  (``similarity_icp(src, dst, dst_faces, init_scale)``), so both heads share a place; a Surface Deform
  modifier on the target (default falloff 4, strength 1) is bound to the aligned source; for each key the
  source's key is set to 1 (the others 0) and the evaluated target positions minus its evaluated rest are the
  key. Keys are scaled/rotated into the target by the alignment automatically (they are built on the aligned
  source).
- generated ICT keys (ICT case only).

"jaw/blink inverted" = triangles whose normal flips (``real_eval.triangle_damage``) at weight 1 on jawOpen,
eyeBlink_L and eyeBlink_R, summed (the truth row gives the ground truth's own count).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from model_core.evaluation.evaluate import face_mask_topology, held_out_identities, relative_error  # noqa: E402
from model_core.dataset.ict import crop_sizes, load_ict  # noqa: E402
from model_core.runtime.mesh import barycentric_combine, remove_unreferenced, subdivide_midpoint  # noqa: E402
from model_core.evaluation.real_eval import key_metrics, load_real_heads, nearest_keys, triangle_damage  # noqa: E402
from model_core.dataset.remesh import make_topology  # noqa: E402
from model_core.runtime import Model  # noqa: E402
from model_core.runtime import transfer as transfer_module  # noqa: E402
from model_core.runtime.correspond import umeyama  # noqa: E402
from model_core.runtime.threads import both  # noqa: E402
from model_core.runtime.transfer import transfer_keys, vertex_order  # noqa: E402

try:
    import bpy  # noqa: F401
    HAVE_BPY = True
except ImportError:  # pragma: no cover - depends on the venv
    HAVE_BPY = False
sys.path.insert(0, str(ROOT / "benchmarks"))
from blender_sd import surface_deform_keys  # noqa: E402  (Surface Deform pipeline, shared with bench_sd_keys.py)

HEADS_DIR = Path(os.environ.get("NFS_REAL_FACES", ROOT.parent / "shared" / "data" / "real_faces"))
SHOW_ICT = ("jawOpen", "eyeBlink_L", "mouthSmile_L")
SHOW_ARKIT = ("jawOpen", "eyeBlinkLeft", "mouthSmileLeft")
DAMAGE_ICT = ("jawOpen", "eyeBlink_L", "eyeBlink_R")
DAMAGE_ARKIT = ("jawOpen", "eyeBlinkLeft", "eyeBlinkRight")
WARP_HEAD = "iphonemocap_johnsmith_head"


# ------------------------------------------------------------------------------------------- metrics
def cosine(p, t):
    pp, tt = float((p * p).sum()), float((t * t).sum())
    return float((p * t).sum() / np.sqrt(max(pp * tt, 1e-60)))


def truth_scores(pred, true, names, verts, faces, damage_names):
    """Scores of (K, V, 3) keys against the truth: pooled rel err, per-key means, shown keys, inverted count."""
    per = [(relative_error(p, t), cosine(p, t)) for p, t in zip(pred, true)]
    inv = sum(triangle_damage(verts, faces, pred[names.index(n)])[0] for n in damage_names if n in names)
    return {"pooled": relative_error(pred, true), "rel": float(np.mean([r for r, _ in per])),
            "cos": float(np.mean([c for _, c in per])), "keys": dict(zip(names, per)), "inv": inv}


# ----------------------------------------------------------------------------------- the warped dev head
def remesh_head(verts, faces, n_target, seed):
    """(faces (M, 3), src_face (N,), bary (N, 3)): the head's surface Voronoi-remeshed to ~n_target vertices
    (midpoint lattice + clustering of ``model_core.dataset.remesh``), with an exact barycentric map onto its faces."""
    from model_core.dataset.remesh import remesh_mesh
    return remesh_mesh(np.asarray(verts) * 100.0, faces, n_target, seed)    # the remesher works in cm


def warp(x, size, strength=1.0):
    """A smooth proportion-changing map of (..., 3) points, metres; ``size`` = the head's height (m).

    strength 1: anisotropic scale x 0.92, y 1.07 plus sinusoids of amplitude 3 % / 1.8 % / 2.4 % of ``size``
    (~0.8 / 0.5 / 0.7 cm on a 28 cm head; wavelengths 1.1-1.4x the head, largest slope ~0.17); strength 0: none.
    Then always a similarity: scale 1.1, 4 degrees about Y, a shift."""
    x = np.asarray(x, np.float64)
    u = x / size                                             # ~ -0.5 .. 0.5 across the head
    y = x * (1.0 + strength * (np.array([0.92, 1.07, 1.0]) - 1.0))
    a = strength * 0.03 * size
    y = y + np.stack([a * np.sin(2 * np.pi * (0.9 * u[..., 1] + 0.1)),
                      0.6 * a * np.sin(2 * np.pi * (0.8 * u[..., 0] + 0.6 * u[..., 2] + 0.3)),
                      0.8 * a * np.sin(2 * np.pi * (0.7 * u[..., 1] - 0.5 * u[..., 0] + 0.2))], -1)
    ang = np.deg2rad(4.0)
    rot = np.array([[np.cos(ang), 0, np.sin(ang)], [0, 1, 0], [-np.sin(ang), 0, np.cos(ang)]])
    return 1.1 * y @ rot.T + np.array([0.01, -0.02, 0.005])


def front_piece(verts, faces, true, at, pts, keep):
    """The piece of a copy on its vertices ``keep`` (indices) and the triangles among them: (verts, faces, true keys
    (K, M, 3), the head's keys at the piece's source points (K, M, 3), those points (M, 3))."""
    inside = np.zeros(len(verts), bool)
    inside[keep] = True
    v, f, used = remove_unreferenced(verts, faces[inside[faces].all(axis=1)])
    return v, f, true[:, used], at[:, used], pts[used]


def remeshed_points(head, n_target=3000, seed=11):
    """The head's surface remeshed (``remesh_head``): (faces (M, 3), each new vertex's point on the head (N, 3) m, the
    head's keys there (K, N, 3) m: the barycentric mixes of its vertices and keys)."""
    faces, src_face, bary = remesh_head(head.verts, head.faces, n_target, seed)
    corners = head.faces[src_face]
    return faces, barycentric_combine(head.verts[corners], bary), barycentric_combine(head.deltas[:, corners], bary)


def warped_copy(head, strength=1.0, n_target=3000, seed=11, with_truth=False):
    """The warped remeshed copy: (verts (N, 3), faces, true keys (K, N, 3)) in metres; with_truth, also the
    head's keys (K, N, 3) at each new vertex's source point and those points (N, 3), unwarped."""
    faces, p, d = remeshed_points(head, n_target, seed)
    size = float(np.ptp(head.verts[:, 1]))
    verts = warp(p, size, strength)
    if with_truth:
        return verts, faces, warp(p[None] + d, size, strength) - verts[None], d, p
    return verts, faces, warp(p[None] + d, size, strength) - verts[None]


# ------------------------------------------------------------------------------------------- runners
def short_name(name):
    return {"iphonemocap_johnsmith_head": "hand-made", "rocketbox_female_adult_02": "Rocketbox",
            "rokoko_newton_face": "Rokoko"}.get(name, name)



def _time(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0


BEFORE = "transfer before (no unflip)"
PROP = "transfer + proportion map"
ORACLE = "oracle: true correspondence × similarity"
REGISTERED = "transfer, registered (one topology not read)"


def transfer_with(flag: str, value, model, pa, skeys, pb, names):
    """``transfer_keys`` with the module switch ``transfer.<flag>`` set to value for the call: ``UNFLIP`` off, the
    transfer as before issue 16's unflip; ``SAME_TOPOLOGY`` off, the registration's match on one topology."""
    saved = getattr(transfer_module, flag)
    setattr(transfer_module, flag, value)
    try:
        return transfer_keys(model, pa, skeys, pb, names=names)
    finally:
        setattr(transfer_module, flag, saved)


def transfer_before(model, pa, skeys, pb, names):
    """The transfer as it was before issue 16's unflip (``transfer.UNFLIP`` off)."""
    return transfer_with("UNFLIP", False, model, pa, skeys, pb, names)


def eyeballs(head_verts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two spheres (an octahedron subdivided twice: 66 vertices each) in front of a head (N, 3) in metres, +Y up,
    +Z forward, where its eyes would be: (verts (132, 3), faces (256, 3)), indices from 0."""
    v = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], np.float64)
    f = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    for _ in range(2):
        v, f = subdivide_midpoint(v, f)
    lo, hi = head_verts.min(axis=0), head_verts.max(axis=0)
    size = float((hi - lo)[1])
    c = np.array([0.5 * (lo[0] + hi[0]), lo[1] + 0.62 * size, hi[2] - 0.15 * size])
    r, dx = 0.07 * size, np.array([0.16 * size, 0.0, 0.0])
    return np.concatenate([v * r + c + dx, v * r + c - dx]), np.concatenate([f, f + len(v)])


def oracle_keys(src_keys_at_truth, src_points, tv):
    """The source's keys at each target vertex's true source point (K, N, 3), rotated and scaled by the
    least-squares similarity of those points onto the target's: the ceiling of a correspondence method that
    carries keys by one global similarity."""
    s, R, _ = umeyama(src_points, tv)
    return s * np.einsum("kvj,ij->kvi", src_keys_at_truth, R)


def run_truth_case(model, label, sv, sf, skeys, names, tv, tf, true, show, damage, init_scale=1.0,
                   generated=False, oracle=None, registered=False):
    """One ground-truth case: {method: scores}, {method: seconds}; registered: also the registration's match
    (``transfer.SAME_TOPOLOGY`` off), as for meshes of one topology."""
    pa, t_pa = _time(model.prepare, sv, sf, "Y", "Z")
    pb, t_pb = _time(model.prepare, tv, tf, "Y", "Z")
    res, secs = {}, {}
    out, secs["transfer"] = _time(transfer_keys, model, pa, skeys, pb, names=list(names))
    secs["transfer"] += t_pa + t_pb
    res["transfer"] = truth_scores(out.astype(np.float64), true, list(names), tv, tf, damage)
    out, secs[BEFORE] = _time(transfer_before, model, pa, skeys, pb, list(names))
    secs[BEFORE] += t_pa + t_pb
    res[BEFORE] = truth_scores(out.astype(np.float64), true, list(names), tv, tf, damage)
    out, secs[PROP] = _time(transfer_keys, model, pa, skeys, pb, names=list(names), proportions=True)
    secs[PROP] += t_pa + t_pb
    res[PROP] = truth_scores(out.astype(np.float64), true, list(names), tv, tf, damage)
    if registered or vertex_order(sf, len(sv), tf, len(tv)) is not None:
        out, secs[REGISTERED] = _time(transfer_with, "SAME_TOPOLOGY", False, model, pa, skeys, pb, list(names))
        secs[REGISTERED] += t_pa + t_pb
        res[REGISTERED] = truth_scores(out.astype(np.float64), true, list(names), tv, tf, damage)
    if oracle is not None:
        res[ORACLE] = truth_scores(oracle, true, list(names), tv, tf, damage)
    out, secs["nearest"] = _time(nearest_keys, sv, sf, skeys, tv, tf, init_scale)
    res["nearest"] = truth_scores(out, true, list(names), tv, tf, damage)
    if HAVE_BPY:
        out, tm, bound = surface_deform_keys(sv, sf, skeys, tv, tf, init_scale)
        secs["Surface Deform"] = tm["total"]
        res["Surface Deform" + ("" if bound else " (bind failed)")] = truth_scores(out, true, list(names), tv, tf,
                                                                                    damage)
    if generated:
        (gn, out), secs["generated ICT keys"] = _time(model.facs_basis, pb, "ict", keys="auto")
        assert list(gn) == list(names)
        res["generated ICT keys"] = truth_scores(out.astype(np.float64), true, list(names), tv, tf, damage)
    res["truth"] = {"inv": sum(triangle_damage(tv, tf, true[list(names).index(n)])[0] for n in damage)}
    print(f"  {label}: " + ", ".join(f"{m} {r['pooled']:.3f}" for m, r in res.items() if "pooled" in r)
          + " | " + ", ".join(f"{m} {s:.1f}s" for m, s in secs.items()), file=sys.stderr, flush=True)
    return res, secs


def truth_table(cases, show) -> str:
    hdr = ("| case | method | rel. error (pooled) | × transfer | mean per-key rel. error | mean cosine | "
           + " | ".join(f"{n} err / cos" for n in show) + " | jaw/blink inverted | time |")
    lines = [hdr, "|" + "---|" * (hdr.count("|") - 1)]
    for label, (res, secs) in cases.items():
        ref = res["transfer"]["pooled"]
        for m, r in res.items():
            if m == "truth":
                lines.append(f"| {label} | truth | - | - | - | - | " + " | ".join("-" for _ in show)
                             + f" | {r['inv']} | - |")
                continue
            ks = " | ".join(f"{100 * r['keys'][n][0]:.1f} % / {r['keys'][n][1]:.2f}" for n in show)
            sec = secs.get(m.replace(" (bind failed)", ""))
            lines.append(f"| {label} | {m} | {100 * r['pooled']:.1f} % | {r['pooled'] / ref:.2f} | "
                         f"{100 * r['rel']:.1f} % | {r['cos']:.3f} | {ks} | {r['inv']} | "
                         f"{'-' if sec is None else f'{sec:.1f} s'} |")
    notes = []
    for label, (res, _) in cases.items():
        worst = sorted(res["transfer"]["keys"].items(), key=lambda kv: -kv[1][0])[:5]
        notes.append(f"- {label}: transfer's worst keys (rel. error; nearest's): " + ", ".join(
            f"{n} {100 * e:.0f} % ({100 * res['nearest']['keys'][n][0]:.0f} %)" for n, (e, _) in worst))
    return "\n".join(lines) + "\n\n" + "\n".join(notes)


def cross_pairs(model, heads, pairs):
    rows = []
    for a, b in pairs:
        src, dst = heads[a], heads[b]
        common = [n for n in src.names if n in dst.names and n != "tongueOut"]
        skeys = src.deltas
        pa, t_pa = _time(model.prepare, src.verts, src.faces, "Y", "Z")
        pb, t_pb = _time(model.prepare, dst.verts, dst.faces, "Y", "Z")
        out = {}
        k, t = _time(transfer_keys, model, pa, skeys, pb, names=src.names)
        out["transfer"] = (k.astype(np.float64), t + t_pa + t_pb)
        k, t = _time(transfer_before, model, pa, skeys, pb, src.names)
        out["before"] = (k.astype(np.float64), t + t_pa + t_pb)
        k, t = _time(transfer_keys, model, pa, skeys, pb, names=src.names, proportions=True)
        out["+ proportions"] = (k.astype(np.float64), t + t_pa + t_pb)
        k, t = _time(nearest_keys, src.verts, src.faces, skeys, dst.verts, dst.faces, 1.0)
        out["nearest"] = (k, t)
        if HAVE_BPY:
            k, tm, bound = surface_deform_keys(src.verts, src.faces, skeys, dst.verts, dst.faces, 1.0)
            out["Surface Deform" + ("" if bound else " (bind failed)")] = (k, tm["total"])
        art_inv = sum(triangle_damage(dst.verts, dst.faces, dst.key(n))[0] for n in DAMAGE_ARKIT)
        row = {"pair": f"{a} → {b}", "n": len(common), "artist_inv": art_inv, "m": {}}
        for m, (k, t) in out.items():
            met = [key_metrics(k[src.names.index(n)], dst.key(n)) for n in common]
            jaw = key_metrics(k[src.names.index("jawOpen")], dst.key("jawOpen"))
            inv = sum(triangle_damage(dst.verts, dst.faces, k[src.names.index(n)])[0] for n in DAMAGE_ARKIT)
            row["m"][m] = {"err": float(np.mean([x["err"] for x in met])), "cos": float(np.mean([x["cos"] for x in met])),
                           "jaw": jaw, "inv": inv, "t": t}
        print(f"  {row['pair']}: " + ", ".join(f"{m} {r['err']:.3f}/{r['cos']:.2f}" for m, r in row["m"].items()),
              file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def cross_table(rows) -> str:
    methods = list(rows[0]["m"])
    hdr = ("| source → target | keys | " + " | ".join(f"{m} err / cos" for m in methods)
           + " | best err | jawOpen err / cos (" + " / ".join(methods) + ") | jaw/blink inverted ("
           + " / ".join(["artist"] + methods) + ") | time (" + " / ".join(methods) + ") |")
    lines = [hdr, "|" + "---|" * (hdr.count("|") - 1)]
    for r in rows:
        best = min(r["m"], key=lambda m: r["m"][m]["err"])
        lines.append(f"| {r['pair']} | {r['n']} | "
                     + " | ".join(f"{100 * x['err']:.1f} % / {x['cos']:.2f}" for x in r["m"].values())
                     + f" | {best} | "
                     + " ; ".join(f"{100 * x['jaw']['err']:.0f} % / {x['jaw']['cos']:.2f}" for x in r["m"].values())
                     + f" | {r['artist_inv']} / " + " / ".join(str(x["inv"]) for x in r["m"].values())
                     + " | " + " / ".join(f"{x['t']:.1f} s" for x in r["m"].values()) + " |")
    return "\n".join(lines)


def speed(model, ict, va, vb, modes, names, n_target=10000):
    n = crop_sizes("full")[0]
    fa = ict.crop_faces("full")
    topo = make_topology(ict, "full", n_target, "voronoi", 7)
    tb = topo.positions(vb)
    model.clear_cache()
    t0 = time.perf_counter()
    # the two heads prepared at once, as the add-on's Transfer Shape Keys and the CLI do (``runtime.threads.both``)
    pa, pb = both(lambda: model.prepare(va, fa, "Y", "Z"), lambda: model.prepare(tb, topo.faces, "Y", "Z"))
    t1 = time.perf_counter()
    transfer_keys(model, pa, modes, pb, names=list(names))
    t2 = time.perf_counter()
    row = {"target": f"ICT B Voronoi {topo.n_verts:,} v", "source": f"ICT A full crop {n:,} v",
           "keys": len(modes), "prepare": t1 - t0, "transfer": t2 - t1}
    if HAVE_BPY:
        _, tm, bound = surface_deform_keys(va, fa, modes, tb, topo.faces, 1.0)
        row["sd"], row["bound"] = tm, bound
    return row


def lashes_speed(model, ict, repeats: int = 3):
    """A target whose only pieces are lashes (MakeHuman's head with its lash cards, tests/data, CC0), from ICT A's
    face crop: ``transfer_keys`` with ``transfer._inner_candidates`` (no ICT registration of the target for
    ``_jaw_pieces``) against the same call forced to register, alternating, fresh prepared heads each time;
    {label: [seconds]} and whether the keys agree bit for bit."""
    d = np.load(Path(__file__).resolve().parents[1] / "tests" / "data" / "makehuman_head.npz")
    v, f = d["verts"].astype(np.float64), d["faces"].astype(np.int64)
    keep = np.zeros(len(v), bool)
    keep[d["body"]] = keep[d["lashes"]] = True
    tv, tf = v[keep], (np.cumsum(keep) - 1)[f[keep[f].all(axis=1)]]
    n = crop_sizes("face")[0]
    va = ict.identity_verts(held_out_identities(1)[0], "face")
    modes = ict.expression_modes[:, :n].astype(np.float64)
    names = list(ict.expression_names)
    real = transfer_module._inner_candidates
    times, outs = {"skip": [], "register": []}, {}
    try:
        for _ in range(repeats):
            for label in times:
                transfer_module._inner_candidates = real if label == "skip" else (lambda pm, rows: len(rows) > 0)
                model.clear_cache()
                pa = model.prepare(va, ict.crop_faces("face"), "Y", "Z")
                pb = model.prepare(tv, tf, "Y", "Z")
                t0 = time.perf_counter()
                outs[label] = transfer_keys(model, pa, modes, pb, names=names)
                times[label].append(time.perf_counter() - t0)
    finally:
        transfer_module._inner_candidates = real
    return {"target": f"MakeHuman + lashes {len(tv):,} v", "times": times,
            "same": bool(np.array_equal(outs["skip"], outs["register"]))}


def lashes_table(row) -> str:
    med = {k: float(np.median(t)) for k, t in row["times"].items()}
    return ("| case | transfer_keys (no target registration) | forced to register | ratio | keys identical |\n"
            "|---|---|---|---|---|\n"
            f"| ICT A face crop → {row['target']} | {med['skip']:.2f} s | {med['register']:.2f} s | "
            f"{med['register'] / med['skip']:.2f} | {row['same']} |")


def speed_table(row) -> str:
    lines = ["| case | transfer_keys | prepare ×2 (at once) | transfer total | Surface Deform pipeline | SD: ICP align / "
             "build objects + keys / bind / per-key evaluate | SD / transfer total |", "|---|---|---|---|---|---|---|"]
    sd = row.get("sd")
    tot = row["prepare"] + row["transfer"]
    lines.append(f"| {row['keys']} keys, {row['source']} → {row['target']} | {row['transfer']:.2f} s | "
                 f"{row['prepare']:.2f} s | {tot:.2f} s | "
                 + (f"{sd['total']:.2f} s | {sd['align']:.2f} / {sd['build']:.2f} / {sd['bind']:.2f} / {sd['eval']:.2f} s"
                    f" | {sd['total'] / tot:.2f} |" if sd else "- | - | - |"))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="2k decimated ICT case, the warped dev head, 2 cross-artist pairs, the speed case")
    ap.add_argument("--heads", default=str(HEADS_DIR), help="the dev heads folder (real_faces)")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    model = Model.load()
    ict = load_ict()
    n = crop_sizes("full")[0]
    ids = held_out_identities(2)
    va = ict.identity_verts(ids[0], "full")
    vb = ict.identity_verts(ids[1], "full")
    fa = ict.crop_faces("full")
    names = list(ict.expression_names)
    modes = ict.expression_modes[:, :n].astype(np.float64)

    # 1a. ICT A -> B on other topologies
    ict_cases = {}
    topos = [("B decimated", make_topology(ict, "full", 2000, "decimate", 3))]
    if not args.quick:
        topos += [("B Voronoi", make_topology(ict, "full", 8000, "voronoi", 5)), ("B face mask", face_mask_topology(ict))]
    for label, topo in topos:
        m = crop_sizes(topo.crop)[0]
        tb = topo.positions(vb[:m])
        true = topo.positions(vb[None, :m] + modes[:, :m]) - tb[None]
        label = f"ICT A → {label} ({topo.n_verts:,} v)"
        oracle = oracle_keys(topo.positions(va[None, :m] + modes[:, :m]) - topo.positions(va[:m])[None],
                             topo.positions(va[:m]), tb)
        ict_cases[label] = run_truth_case(model, label, va, fa, modes, names, tb, topo.faces, true, SHOW_ICT,
                                          DAMAGE_ICT, generated=True, oracle=oracle)

    # 1b. a dev head -> its warped, remeshed copy
    heads = {h.name: h for h in load_real_heads(args.heads)}
    h = heads[WARP_HEAD]
    dev_case = {}
    for strength, n_target, what in ((0.0, 3000, "remeshed copy, no warp"),
                                     (0.5, 3000, "warped (half) + remeshed copy"),
                                     (1.0, 3000, "warped + remeshed copy")):
        tv, tf, true, at, pts = warped_copy(h, strength, n_target, with_truth=True)
        label = f"{short_name(WARP_HEAD)} ({len(h.verts)} v) → {what} ({len(tv):,} v)"
        dev_case[label] = run_truth_case(model, label, h.verts, h.faces, h.deltas, h.names, tv, tf, true,
                                         SHOW_ARKIT, DAMAGE_ARKIT, oracle=oracle_keys(at, pts, tv))

    # 1b'. a dev head -> the front half of its remeshed copy (a mask cut from it: a piece of the source's surface)
    tv, tf, true, at, pts = warped_copy(h, 0.0, 3000, with_truth=True)
    front = np.flatnonzero(tv[:, 2] > np.median(tv[:, 2]))
    tv, tf, true, at, pts = front_piece(tv, tf, true, at, pts, front)
    label = f"{short_name(WARP_HEAD)} ({len(h.verts)} v) → the front half of its remeshed copy ({len(tv):,} v)"
    dev_case[label] = run_truth_case(model, label, h.verts, h.faces, h.deltas, h.names, tv, tf, true,
                                     SHOW_ARKIT, DAMAGE_ARKIT, oracle=oracle_keys(at, pts, tv))

    # 1c. a dev head -> its warped copy, the same mesh (one topology: matched vertex for vertex)
    size = float(np.ptp(h.verts[:, 1]))
    for strength, what in ((0.5, "warped (half) copy, the same mesh"), (1.0, "warped copy, the same mesh")):
        tv = warp(h.verts, size, strength)
        true = warp(h.verts[None] + h.deltas, size, strength) - tv[None]
        label = f"{short_name(WARP_HEAD)} ({len(h.verts)} v) → {what}"
        dev_case[label] = run_truth_case(model, label, h.verts, h.faces, h.deltas, h.names, tv, h.faces, true,
                                         SHOW_ARKIT, DAMAGE_ARKIT)
    # ... the full warp with its vertices numbered otherwise (``runtime/renumber.py`` puts them back in order)
    perm = np.random.default_rng(0).permutation(len(h.verts))           # its vertex j is the source's perm[j]
    label = f"{short_name(WARP_HEAD)} ({len(h.verts)} v) → warped copy, the same mesh renumbered"
    dev_case[label] = run_truth_case(model, label, h.verts, h.faces, h.deltas, h.names, tv[perm],
                                     np.argsort(perm)[h.faces], true[:, perm], SHOW_ARKIT, DAMAGE_ARKIT)
    # ... the full warp from the head with two eyeballs added (pieces the copy lacks: its face island is one
    # topology with the copy, ``transfer.SAME_FACE``)
    ev, ef = eyeballs(h.verts)
    label = f"{short_name(WARP_HEAD)} + two eyeballs ({len(h.verts) + len(ev)} v) → warped copy, the same mesh"
    dev_case[label] = run_truth_case(model, label, np.concatenate([h.verts, ev]),
                                     np.concatenate([h.faces, ef + len(h.verts)]),
                                     np.concatenate([h.deltas, np.zeros((len(h.deltas), len(ev), 3))], axis=1),
                                     h.names, tv, h.faces, true, SHOW_ARKIT, DAMAGE_ARKIT, registered=True)

    # 2. cross-artist
    hs = {short_name(k): v for k, v in heads.items()}
    pairs = [(a, b) for a in hs for b in hs if a != b]
    if args.quick:
        pairs = [("hand-made", "Rocketbox"), ("Rocketbox", "hand-made")]
    cross = cross_pairs(model, hs, pairs)

    # 3. speed
    sp = speed(model, ict, va, vb, modes, names)
    lashes = lashes_speed(model, ict)

    bl = "-"
    if HAVE_BPY:
        bl = bpy.app.version_string
    env = (f"Python {platform.python_version()}, numpy {np.__version__}, bpy {bl}, {os.cpu_count()} CPUs, "
           f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, load average {load0:.1f} at "
           f"start, {os.getloadavg()[0]:.1f} at end; whole run {time.perf_counter() - t_start:.0f} s")
    print(f"### Shape-key transfer vs nearest vs Surface Deform{' (--quick)' if args.quick else ''}\n\n{env}\n")
    print("#### 1. Ground truth by construction (relative error, cosine)\n")
    print(truth_table(ict_cases, SHOW_ICT) + "\n")
    print(truth_table(dev_case, SHOW_ARKIT) + "\n")
    print("#### 2. Cross-artist pairs (best-scale error / cosine against the target artist's own keys)\n")
    print(cross_table(cross) + "\n")
    print("#### 3. Speed\n")
    print(speed_table(sp))
    print("\nA target whose only pieces are lashes (``transfer._inner_candidates``; medians of 3, alternating):\n")
    print(lashes_table(lashes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
