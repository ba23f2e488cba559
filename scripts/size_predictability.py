"""Can a face's absolute size be read from its normalised shape? ICT-FaceKit's expression deltas are the same
in centimetres for every identity, so the decoder (which works in normalised units) would need it to scale
its output; ``scripts/error_breakdown.py`` measures what a per-head amplitude would gain.

    python scripts/size_predictability.py [--weights model_core/weights/nfs_v5] [--train 400] [--test 150]

Target: log of the face core's size, sqrt(area of the ``face_core`` regions) in cm, of each identity's ICT
mesh. Ridge regressions (the best ridge on the test set is printed, so each line is an upper bound for its
features), trained and tested on identities from two seed streams that neither training nor the evaluation
uses, one of the three crops each, every second one remeshed (1.5k-8k vertices), from:

- ``vertex PCA``: the canonical positions of ICT's own vertices (exact correspondence; ICT topology only; not
  available for a user's mesh), 100 principal components;
- ``region moments``: per face-core region, in the decoder frame, from the model's region probabilities:
  sqrt(area), centroid, second moments (80 numbers);
- ``depth map``: the front-facing surface's depth in the decoder frame on a 24 x 24 grid over the face (a
  frontal image, as the paper's CNN feature reads).

docs/model.md (*What limits the decoder*) reports its output. Needs ICT-FaceKit (NFS_ICT_DIR).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


CROP_CYCLE = ("full", "face", "narrow")
GRID = 24
GRID_X, GRID_Y = (-0.3, 0.3), (-0.3, 0.35)   # decoder-frame extent of the depth map (face core: size 0.276)
FRONT_NZ = 0.2                                # vertices whose normal's forward component exceeds this are "front"


def region_moments(model, pm) -> np.ndarray:
    """(8 * 10,) per face-core region: sqrt(area), centroid (3), second moments (6), decoder frame."""
    from model_core.runtime.mesh import vertex_areas
    a, b = model.decoder_frame(pm)
    x = pm.canon * a + b
    probs = model.skinning(pm)[0][pm.face_index][:, list(model.config.face_core)].astype(np.float64)
    area = vertex_areas(pm.canon, pm.face_faces) * a * a
    out = []
    for r in range(probs.shape[1]):
        m = probs[:, r] * area
        c = (m[:, None] * x).sum(0) / m.sum()
        d = x - c
        cov = np.einsum("n,ni,nj->ij", m, d, d) / m.sum()
        out += [np.sqrt(m.sum()), *c, *cov[np.triu_indices(3)]]
    return np.array(out)


def depth_map(model, pm) -> np.ndarray:
    """(GRID * GRID,) depth (decoder-frame z) of the front-facing vertices, inverse-distance interpolated from the
    4 nearest in the image plane."""
    from model_core.runtime.proxy import knn_weights
    a, b = model.decoder_frame(pm)
    x = (pm.canon * a + b)[pm.normals[:, 2] > FRONT_NZ]
    gx, gy = np.meshgrid(np.linspace(*GRID_X, GRID), np.linspace(*GRID_Y, GRID))
    flat = lambda p: np.c_[p[:, :2], np.zeros(len(p))]  # noqa: E731
    idx, w = knn_weights(flat(np.c_[gx.ravel(), gy.ravel()]), flat(x), 4)
    return (x[idx, 2] * w).sum(axis=1)


def ridge_residual(x_tr, y_tr, x_te, y_te, lams=(1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)) -> float:
    """Smallest test residual std over the ridge strengths (features standardised on the training set)."""
    mu, sd = x_tr.mean(0), x_tr.std(0)
    keep = sd > 1e-8 * sd.max()                      # constant features (or PCA beyond the sample count)
    a, b = (x_tr - mu)[:, keep] / sd[keep], (x_te - mu)[:, keep] / sd[keep]
    best = np.inf
    for lam in lams:
        w = np.linalg.solve(a.T @ a + lam * len(a) * np.eye(a.shape[1]), a.T @ (y_tr - y_tr.mean()))
        best = min(best, float((b @ w + y_tr.mean() - y_te).std()))
    return best


def measure(weights=None, n_train: int = 400, n_test: int = 150) -> dict:
    """{"std": test std of the target, "pca" / "moments" / "depth": residual std of the best ridge regression}."""
    from model_core.runtime.frames import canonical_normalization
    from model_core.dataset.ict import load_ict
    from model_core.runtime.mesh import vertex_areas
    from model_core.runtime.regions import load_ict_labels
    from model_core.dataset.remesh import random_topology
    from model_core.runtime import Model

    ict, labels = load_ict(), load_ict_labels()
    model = Model.load(weights)
    f_full = ict.crop_faces("full")
    core = np.isin(labels, list(model.config.face_core))

    def dataset(seed: int, n: int) -> dict:
        rng = np.random.default_rng(seed)
        out = {"y": [], "pca": [], "moments": [], "depth": []}
        for i in range(n):
            c = rng.standard_normal(100)
            v_full = ict.identity_verts(c, "full")
            out["y"].append(0.5 * np.log((vertex_areas(v_full, f_full) * core).sum()))
            out["pca"].append(canonical_normalization(v_full, f_full).apply(v_full)[::4].ravel())
            crop = CROP_CYCLE[i % 3]
            v, f = ict.identity_verts(c, crop), ict.crop_faces(crop)
            if i % 2:
                topo = random_topology(ict, crop, int(rng.integers(1500, 8000)), rng)
                v, f = topo.positions(v), topo.faces
            pm = model.prepare(v, f)
            out["moments"].append(region_moments(model, pm))
            out["depth"].append(depth_map(model, pm))
        return {k: np.array(v) for k, v in out.items()}

    tr, te = dataset(11, n_train), dataset(12, n_test)
    mu = tr["pca"].mean(0)
    basis = np.linalg.svd(tr["pca"] - mu, full_matrices=False)[2][:100]
    tr["pca"], te["pca"] = (tr["pca"] - mu) @ basis.T, (te["pca"] - mu) @ basis.T
    return {"std": float(te["y"].std()),
            **{k: ridge_residual(tr[k], tr["y"], te[k], te["y"]) for k in ("pca", "moments", "depth")}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="weights stem or .npz (default: the bundled weights)")
    p.add_argument("--train", type=int, default=400)
    p.add_argument("--test", type=int, default=150)
    a = p.parse_args(argv)
    r = measure(a.weights, a.train, a.test)
    print(f"log face-core size (cm): std {r['std']:.4f} over {a.test} test identities ({a.train} for training); "
          f"residual std of the best ridge regression from")
    print(f"  vertex PCA (exact correspondence, ICT topology): {r['pca']:.4f}")
    print(f"  region moments (model's regions):                {r['moments']:.4f}")
    print(f"  depth map {GRID}x{GRID} (decoder frame):             {r['depth']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
