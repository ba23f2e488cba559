"""Evaluation on artist-made heads with their own ARKit shape keys (``../shared/data/real_faces``, evaluation only).

``python -m model_core.evaluation.evaluate --real ../shared/data/real_faces`` prints, per head and per ARKit key, how a
method's generated key compares with the artist's own key on the same mesh:

- best-scale error: with s* = <p, g> / <p, p> (the best scalar for the generated key p), mean_v |s* p - g| /
  mean_v |g| (so a key with the right shape but the wrong strength still scores well; 100 % = no better than 0);
- cosine: <p, g> / (|p| |g|) of the two flattened displacement fields;
- amplitude: mean_v |p| / mean_v |g| (1 = the artist's strength);
- jawOpen lip gap: how far the upper- and lower-lip midline points move apart, against the artist's;
- eyeBlinkLeft/Right lid travel: the key's motion along the artist's motion on the artist's lid vertices, as a
  share of the artist's; and the largest motion outside the eye region (mm);
- triangles inverted (normal flips) or stretched 3x (an edge 3x longer) at weight 1;
- a performance error: a seeded ARKit weight sequence (smoothed random walk, blinks, speech-like jaw) drives
  both key sets; mean_v,t |ours - artist| / mean_v,t |artist|;
- the geometry-path bake (the model's keys only): the same sequence drives the artist's keys, the model's
  inverse rig (``Model.expression``, fitted onto its own keys of the same kind) reads the frames back as ICT
  weights; mean absolute error on the 10 most active keys (MAE10) and the share of their frames pushed to 1 where
  the take stays below 0.99 (saturated).

Methods (same run): the model's keys (``facs_basis``), (n) nearest: ICT's narrow face aligned by scaled ICP,
each vertex copies its nearest ICT vertex's delta (scaled), and (x) other artists: every other dev head's own
keys carried over by the same nearest transfer after scaled ICP (how much artists disagree).
Units: heads are metres, +Y up, face toward +Z (the files' convention); lengths are printed in mm.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtime.correspond import similarity_icp
from ..runtime.facs_names import ARKIT_NAMES, ARKIT_SOURCES
from ..runtime.mesh import edge_table, turned_over
from ..runtime.proxy import knn_weights


@dataclass
class RealHead:
    """An artist's head: verts (V, 3) m, faces (F, 3), names (K,) ARKit names, deltas (K, V, 3) m."""
    name: str
    verts: np.ndarray
    faces: np.ndarray
    names: list
    deltas: np.ndarray

    def key(self, name: str) -> np.ndarray | None:
        return self.deltas[self.names.index(name)] if name in self.names else None


def load_real_heads(folder) -> list[RealHead]:
    """Every ``*.npz`` head in ``folder`` (format: ``../shared/data/real_faces/README.md``), sorted by name."""
    folder = Path(folder)
    files = sorted(folder.glob("*.npz"))
    if not files:
        raise ValueError(f"no .npz heads in {folder}; point --real at ../shared/data/real_faces")
    heads = []
    for f in files:
        d = np.load(f)
        heads.append(RealHead(f.stem, d["verts"].astype(np.float64), d["faces"].astype(np.int64),
                              [str(n) for n in d["shape_names"]], d["shape_deltas"].astype(np.float64)))
    return heads


def save_real_head(path, head: dict) -> str:
    """Write ``head`` ({``verts`` (V, 3) m, ``faces`` (F, 3), ``shape_names`` (K,), ``shape_deltas`` (K, V, 3) m},
    the format ``load_real_heads`` reads) to the .npz ``path``; returns a line saying what was written."""
    np.savez_compressed(path, **head)
    size = 100 * np.ptp(head["verts"], axis=0)
    return (f"wrote {path}: {len(head['verts'])} vertices, {len(head['faces'])} triangles, "
            f"{len(head['shape_names'])} ARKit shapes, {size[0]:.1f} x {size[1]:.1f} x {size[2]:.1f} cm")


def key_metrics(pred: np.ndarray, true: np.ndarray) -> dict:
    """pred, true (V, 3) displacements -> best-scale error, cosine, amplitude ratio."""
    pp, pg, gg = float((pred * pred).sum()), float((pred * true).sum()), float((true * true).sum())
    s = pg / pp if pp > 1e-30 else 0.0
    mag = np.linalg.norm(true, axis=1).mean()
    return {"err": float(np.linalg.norm(s * pred - true, axis=1).mean() / max(mag, 1e-30)),
            "cos": pg / np.sqrt(max(pp * gg, 1e-60)),
            "amp": float(np.linalg.norm(pred, axis=1).mean() / max(mag, 1e-30))}


def lip_pair(head: RealHead) -> tuple[int, int]:
    """(upper, lower) lip midline vertices: among front-facing midline vertices between the nose tip and the
    chin, the vertically adjacent pair across which the artist's jawOpen changes most (the mouth slit)."""
    v, jaw = head.verts, head.key("jawOpen")
    nose = int(np.argmax(v[:, 2]))
    width = np.ptp(v[:, 0])
    mid = np.where((np.abs(v[:, 0]) < 0.02 * width) & (v[:, 1] < v[nose, 1]) &
                   (v[:, 2] > v[nose, 2] - 0.25 * np.ptp(v[:, 2])))[0]
    mid = mid[np.argsort(-v[mid, 1])]  # top to bottom
    dy = jaw[mid, 1]
    jump = dy[:-1] - dy[1:]  # the lower vertex moves down more
    i = int(np.argmax(jump))
    return int(mid[i]), int(mid[i + 1])


def lip_gap(head: RealHead, disp: np.ndarray, pair) -> float:
    """Opening (m) of the lip pair under ``disp`` (V, 3): distance after minus distance before."""
    u, l = pair
    v = head.verts
    return float(np.linalg.norm((v[l] + disp[l]) - (v[u] + disp[u])) - np.linalg.norm(v[l] - v[u]))


def lid_travel(true: np.ndarray, pred: np.ndarray, verts: np.ndarray) -> tuple[float, float]:
    """(share of the artist's lid travel, largest motion (m) outside the eye region).

    The lid = vertices that move more than half the artist's maximum; travel = mean over them of the motion
    along the artist's direction, over the artist's mean motion there. The eye region = within 15 % of the
    head's width of a lid vertex."""
    mag = np.linalg.norm(true, axis=1)
    lid = mag > 0.5 * mag.max()
    u = true[lid] / mag[lid, None]
    share = float((pred[lid] * u).sum(axis=1).mean() / mag[lid].mean())
    idx, _ = knn_weights(verts, verts[lid], 1)
    far = np.linalg.norm(verts - verts[lid][idx[:, 0]], axis=1) > 0.15 * np.ptp(verts[:, 0])
    outside = float(np.linalg.norm(pred[far], axis=1).max()) if far.any() else 0.0
    return share, outside


def triangle_damage(verts: np.ndarray, faces: np.ndarray, disp: np.ndarray) -> tuple[int, int]:
    """(inverted, stretched) triangle counts at weight 1: a normal turned by more than 90 degrees, or an edge
    more than 3x its rest length."""
    inverted = int(turned_over(verts, faces, disp).sum())
    edge_id, e, _, _ = edge_table(faces)
    l0 = np.linalg.norm(verts[e[:, 0]] - verts[e[:, 1]], axis=1)
    l1 = np.linalg.norm((verts + disp)[e[:, 0]] - (verts + disp)[e[:, 1]], axis=1)
    bad_e = l1 > 3.0 * np.maximum(l0, 1e-12)
    stretched = bad_e[edge_id].reshape(3, len(faces)).any(axis=0)      # half-edge k * F + i belongs to face i
    return inverted, int(stretched.sum())


def performance_weights(n_frames: int = 600, seed: int = 7, fps: float = 30.0) -> np.ndarray:
    """A seeded, realistic ARKit weight sequence (n_frames, 52) in [0, 1]: a smoothed random walk on every key
    (mostly small), blinks (both eyes, ~every 3 s, 0.25 s long) and a speech-like jawOpen (3-6 Hz syllables
    in phrases)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fps
    w = np.zeros((n_frames, len(ARKIT_NAMES)))
    kern = np.exp(-0.5 * (np.arange(-15, 16) / 5.0) ** 2)
    kern /= kern.sum()
    for k in range(len(ARKIT_NAMES)):
        walk = np.cumsum(rng.normal(0, 0.04, n_frames + 30))
        walk = np.convolve(walk - walk.mean(), kern, mode="same")[15:15 + n_frames]
        amp = rng.uniform(0.1, 0.5) if rng.random() < 0.4 else 0.05
        w[:, k] = np.clip(amp * (walk - walk.min()) / max(np.ptp(walk), 1e-9), 0, 1)
    blink = np.zeros(n_frames)
    for tb in np.cumsum(rng.uniform(1.5, 4.5, 64)):
        blink = np.maximum(blink, np.exp(-0.5 * ((t - tb) / 0.06) ** 2))
    for n in ("eyeBlinkLeft", "eyeBlinkRight"):
        w[:, ARKIT_NAMES.index(n)] = np.maximum(w[:, ARKIT_NAMES.index(n)], blink)
    phrase = (np.sin(2 * np.pi * t / rng.uniform(2.5, 4.0)) > -0.3).astype(float)
    syll = 0.5 + 0.5 * np.sin(2 * np.pi * np.cumsum(rng.uniform(3, 6, n_frames)) / fps)
    w[:, ARKIT_NAMES.index("jawOpen")] = np.clip(np.convolve(phrase * syll * 0.6, kern, "same"), 0, 1)
    return w


def performance_frames(head: RealHead, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(frames (T, V, 3), truth (T, 53)): ``head``'s artist keys driven by ``weights`` ((T, 52) ARKit, default
    ``performance_weights()``; the keys the head lacks stay 0) and the ICT weights that take says."""
    from ..runtime.facs_names import arkit_to_ict
    w = performance_weights() if weights is None else np.asarray(weights, np.float64)
    have = [k for k, n in enumerate(ARKIT_NAMES) if head.key(n) is not None]
    w = w.copy()
    w[:, [k for k in range(len(ARKIT_NAMES)) if k not in have]] = 0.0     # the take drives the keys it has
    frames = head.verts[None] + np.einsum("tk,kvc->tvc", w[:, have], np.stack([head.key(ARKIT_NAMES[k])
                                                                             for k in have]))
    return frames, np.asarray(arkit_to_ict(w), np.float64)


def bake_error(model, pm, head: RealHead, keys: str, weights: np.ndarray | None = None) -> tuple[float, float]:
    """(MAE10, saturated share) of the geometry-path bake of ``head``'s artist keys driven by ``weights``
    ((T, 52) ARKit, default ``performance_weights()``; ``performance_frames``) and read back by
    ``model.expression(..., keys=keys)`` on the prepared ``pm`` of the head (see the module docstring)."""
    frames, truth = performance_frames(head, weights)
    z = model.expression(frames, pm, keys=keys)[:, :truth.shape[1]]
    act = np.argsort(-truth.mean(axis=0))[:10]
    mae = float(np.abs(z[:, act] - truth[:, act]).mean())
    sat = float(((z[:, act] > 0.99) & (truth[:, act] < 0.99)).mean())
    return mae, sat


def performance_error(pred: np.ndarray, true: np.ndarray, weights: np.ndarray) -> float:
    """pred, true (K, V, 3) keys in the same order; weights (T, K) -> mean error / mean artist motion."""
    err = mag = 0.0
    for row in weights:
        g = np.tensordot(row, true, axes=1)
        p = np.tensordot(row, pred, axes=1)
        err += np.linalg.norm(p - g, axis=1).mean()
        mag += np.linalg.norm(g, axis=1).mean()
    return float(err / max(mag, 1e-30))


def nearest_keys(src_verts, src_faces, src_keys, dst_verts, dst_faces, init_scale: float) -> np.ndarray:
    """Nearest-point transfer after scaled ICP: align the source onto the target (the source's nose tip, max +Z,
    onto the target's, scale ``init_scale``, then similarity ICP of the source's vertices onto the target's
    surface); each target vertex copies its nearest aligned source vertex's key delta, times the scale.

    src_keys (K, Vs, 3) in source units -> (K, Vd, 3) in target units."""
    s, R, t = similarity_icp(src_verts, dst_verts, dst_faces, init_scale=init_scale)
    moved = s * src_verts @ R.T + t
    idx, _ = knn_weights(dst_verts, moved, 1)
    return s * np.einsum("kvj,ij->kvi", src_keys[:, idx[:, 0]], R)


def ict_nearest_arkit(ict, head: RealHead) -> np.ndarray:
    """(52, V, 3) ARKit keys on ``head`` by nearest transfer from ICT's narrow face (cm -> m)."""
    from ..dataset.ict import CROPS
    n = CROPS["narrow"][0]
    faces = ict.crop_faces("narrow")
    keys_ict = ict.expression_modes[:, :n].astype(np.float64)
    moved = nearest_keys(ict.neutral[:n].astype(np.float64), faces, keys_ict, head.verts, head.faces, 0.01)
    return ict_keys_to_arkit(moved)


def ict_keys_to_arkit(keys53: np.ndarray) -> np.ndarray:
    """(53, V, 3) ICT-order keys -> (52, V, 3) ARKit-order keys: each ARKit key is the sum of the ICT keys it
    stands for (``facs_names.ARKIT_SOURCES``; browInnerUp = _L + _R, as the model's ARKit basis), tongueOut 0."""
    return np.stack([keys53[list(src)].sum(axis=0) if src else np.zeros(keys53.shape[1:])
                     for src in ARKIT_SOURCES])


KEY_ROWS = ("jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "mouthSmileLeft", "browInnerUp", "mouthPucker")


def evaluate_head(head: RealHead, methods: dict, others: list | None = None) -> dict:
    """Score every method's ARKit keys (52, V, 3) on ``head`` against the artist's.

    Args: methods: {label: (52, V, 3) keys in ARKit order}; others: other heads whose artist keys are carried
    over by nearest transfer as the 'other artists' baseline. Returns {label: summary dict} with the mean
    best-scale error, mean cosine, median amplitude, jawOpen cosine / lip-gap share / damaged triangles,
    blink lid-travel shares and largest motion outside the eye region (m), the performance error and the
    per-key rows. A head without jawOpen (or a blink) gets NaN for the metrics read on it: an anime face whose
    jaw is a bone has no jawOpen shape."""
    keys = dict(methods)
    for o in others or []:
        src = np.zeros((len(ARKIT_NAMES),) + o.verts.shape)
        for k, n in enumerate(ARKIT_NAMES):
            if o.key(n) is not None:
                src[k] = o.key(n)
        keys[f"artist {o.name}"] = nearest_keys(o.verts, o.faces, src, head.verts, head.faces, 1.0)
    common = [k for k, n in enumerate(ARKIT_NAMES) if head.key(n) is not None and n != "tongueOut"]
    truth = np.stack([head.key(ARKIT_NAMES[k]) for k in common])
    weights = performance_weights()[:, common]
    has_jaw = head.key("jawOpen") is not None
    pair = lip_pair(head) if has_jaw else None
    jo = ARKIT_NAMES.index("jawOpen")
    art_gap = lip_gap(head, head.key("jawOpen"), pair) if has_jaw else np.nan
    out = {}
    for label, ks in keys.items():
        rows = {ARKIT_NAMES[k]: key_metrics(ks[k], head.key(ARKIT_NAMES[k])) for k in common}
        blink = [lid_travel(head.key(n), ks[ARKIT_NAMES.index(n)], head.verts) if head.key(n) is not None
                 else (np.nan, np.nan) for n in ("eyeBlinkLeft", "eyeBlinkRight")]
        out[label] = {
            "err": float(np.mean([r["err"] for r in rows.values()])),
            "cos": float(np.mean([r["cos"] for r in rows.values()])),
            "amp": float(np.median([r["amp"] for r in rows.values()])),
            "jaw_cos": rows["jawOpen"]["cos"] if has_jaw else np.nan,
            "jaw_gap": lip_gap(head, ks[jo], pair) / max(art_gap, 1e-12) if has_jaw else np.nan,
            "jaw_damage": triangle_damage(head.verts, head.faces, ks[jo]),
            "blink": [b[0] for b in blink], "blink_outside_m": [b[1] for b in blink],
            "perf": performance_error(ks[common], truth, weights),
            "keys": rows}
    return out


def format_real(results: dict) -> str:
    """Markdown tables: per head and method a summary row, then the key rows of ``KEY_ROWS``."""
    lines = ["| head | method | best-scale err | cosine | amplitude | jawOpen cos | lip gap | jaw inverted / "
             "stretched | blink L / R lid travel | outside eye (mm) | performance err | bake MAE10 / saturated |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for head, per in results.items():
        for label, r in per.items():
            lines.append(f"| {head} | {label} | {r['err']:.1%} | {r['cos']:.2f} | {r['amp']:.2f} | {r['jaw_cos']:.2f} | "
                         f"{r['jaw_gap']:.0%} | {r['jaw_damage'][0]} / {r['jaw_damage'][1]} | "
                         f"{r['blink'][0]:.0%} / {r['blink'][1]:.0%} | "
                         f"{1000 * r['blink_outside_m'][0]:.1f} / {1000 * r['blink_outside_m'][1]:.1f} | "
                         f"{r['perf']:.1%} | "
                         + (f"{r['bake'][0]:.3f} / {r['bake'][1]:.1%} |" if r.get("bake") else "- |"))
    lines += ["", "| head | method | " + " | ".join(f"{k} err / cos" for k in KEY_ROWS) + " |",
              "|---|---|" + "---|" * len(KEY_ROWS)]
    for head, per in results.items():
        for label, r in per.items():
            cells = [f"{r['keys'][k]['err']:.0%} / {r['keys'][k]['cos']:.2f}" if k in r["keys"] else "-"
                     for k in KEY_ROWS]
            lines.append(f"| {head} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tilt_real(heads: list, angles=(0.0, 5.0, 10.0, -10.0), weights=None, *, keys: str = "auto") -> list[dict]:
    """Sensitivity of the keys to a head that is not upright, on artist-made heads (``RealHead`` list, e.g.
    ``load_real_heads``): each head (and its artist's keys) pitched by each angle (degrees, ``evaluate.pitch_matrix``,
    about the left-right axis through its centroid) before the model sees it, its ``keys`` scored as
    ``evaluate_head`` scores them (no other artists). Returns [{"head", "angle", "err", "cos", "jaw_cos"}], heads
    in the given order, angles in the given order."""
    from ..runtime import Model
    from .evaluate import pitch_matrix
    if not len(heads):
        raise ValueError("tilt_real needs at least one head (load_real_heads(folder))")
    model = Model.load(weights)
    rows = []
    for head in heads:
        ctr = head.verts.mean(axis=0)
        for ang in angles:
            rot = pitch_matrix(ang)
            tilted = RealHead(head.name, (head.verts - ctr) @ rot.T + ctr, head.faces, head.names, head.deltas @ rot.T)
            pm = model.prepare(tilted.verts, tilted.faces, "Y", "Z")
            ks = model.facs_basis(pm, names="arkit", keys=keys)[1].astype(np.float64)
            r = evaluate_head(tilted, {keys: ks})[keys]
            rows.append({"head": head.name, "angle": float(ang), "err": r["err"], "cos": r["cos"],
                         "jaw_cos": r["jaw_cos"]})
    return rows


def format_tilt_real(rows: list[dict]) -> str:
    """``tilt_real``'s rows as a markdown table: one row per head, best-scale error / cosine / jawOpen cosine per
    angle."""
    angles = list(dict.fromkeys(r["angle"] for r in rows))
    lines = ["| head | " + " | ".join(f"pitched {a:+g} deg: error / cosine / jawOpen cosine" for a in angles) + " |",
             "|---|" + "---|" * len(angles)]
    for name in dict.fromkeys(r["head"] for r in rows):
        by = {r["angle"]: r for r in rows if r["head"] == name}
        lines.append(f"| {name} | " + " | ".join(f"{100 * by[a]['err']:.1f} % / {by[a]['cos']:.3f} / "
                                                   f"{by[a]['jaw_cos']:.2f}" for a in angles) + " |")
    return "\n".join(lines)


def run_real(folder, weights=None, *, heads=None, others: bool = True, verbose: bool = True) -> dict:
    """Evaluate the model's keys ('auto', the default, 'template' and 'decoder'), ICT nearest and the other artists on
    every dev head in ``folder`` (or the names in ``heads``). Returns {head name: evaluate_head(...)}."""
    from ..dataset.ict import load_ict
    from ..runtime import Model
    all_heads = load_real_heads(folder)
    chosen = [h for h in all_heads if heads is None or h.name in heads]
    if not chosen:
        raise ValueError(f"none of {heads} in {folder}; choose from {[h.name for h in all_heads]}")
    model = Model.load(weights)
    ict = load_ict()
    results = {}
    for head in chosen:
        pm = model.prepare(head.verts, head.faces, "Y", "Z")
        methods = {}
        for keys in ("auto", "template", "decoder"):
            methods[f"model ({keys})"] = model.facs_basis(pm, names="arkit", keys=keys)[1].astype(np.float64)
        methods["ICT nearest"] = ict_nearest_arkit(ict, head)
        results[head.name] = evaluate_head(head, methods, [h for h in all_heads if h is not head] if others else None)
        for keys in ("auto", "template", "decoder"):
            results[head.name][f"model ({keys})"]["bake"] = bake_error(model, pm, head, keys)
        results[head.name]["model (auto)"]["decoder_share"] = model.auto_face_keys(pm)[1]
        if verbose:
            print(format_real({head.name: results[head.name]}).split("\n\n")[0], flush=True)
    return results
