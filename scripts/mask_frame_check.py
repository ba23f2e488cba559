"""Why face masks fail or work: relative error of exported weights on ICT face masks of several radii, with the
model's own region probabilities and with the true regions (frame and skinning weights), and how much of the
decoder frame's face core each mask keeps.

    python scripts/mask_frame_check.py [--weights model_core/weights/nfs_v5] [--radii 9,11,13] [--identities 2]

Held-out identities (``evaluate.held_out_identities``), the 53 single FACS shapes, the numpy runtime.
docs/model.md (*nfs_v4: a central face core*) reports its output. Needs ICT-FaceKit (NFS_ICT_DIR).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="weights stem or .npz (default: the bundled weights)")
    p.add_argument("--radii", default="9,11,13", help="mask radii around the nose tip, cm")
    p.add_argument("--identities", type=int, default=2)
    a = p.parse_args(argv)
    from model_core.evaluation.evaluate import face_mask_topology, held_out_identities
    from model_core.dataset.ict import load_ict
    from model_core.runtime.mesh import vertex_areas
    from model_core.runtime.regions import load_ict_labels
    from model_core.runtime import Model

    ict, labels = load_ict(), load_ict_labels()
    model = Model.load(a.weights)
    cfg = model.config
    core = list(cfg.face_core)
    v_gen, f_full = ict.head(None, None, "full")
    core_area = (np.isin(labels, core) * vertex_areas(v_gen, f_full)).sum()
    codes = np.zeros((53, cfg.z_dim), np.float32)
    codes[:, :53] = np.eye(53)
    print(f"weights: {model.weights.npz_path}; face core {core}")
    for radius in (float(r) for r in a.radii.split(",")):
        topo = face_mask_topology(ict, radius)
        lab = topo.labels(labels)
        gen = topo.positions(ict.identity_verts(None, "face")[None])[0]
        kept = (np.isin(lab, core) * vertex_areas(gen, topo.faces)).sum() / core_area
        res = {"model": [], "true labels": []}
        for c in held_out_identities(a.identities):
            neutral = ict.identity_verts(c, "face")
            v = topo.positions(neutral[None])[0]
            gt = topo.positions(neutral[None] + ict.expression_modes[:, :len(neutral)].astype(np.float64))
            gt = gt - v[None]
            for mode in res:
                model.clear_cache()
                pm = model.prepare(v, topo.faces)
                if mode == "true labels":   # the frame and the skinning weights read the cached probabilities
                    onehot = np.eye(cfg.n_regions, dtype=np.float32)[lab]
                    model._cached(pm, "probs", lambda: onehot)
                d = model.decode_displacements(pm, codes)
                res[mode].append(np.linalg.norm(d - gt, axis=-1).mean() / np.linalg.norm(gt, axis=-1).mean())
        print(f"  radius {radius:g} cm: {topo.n_verts} vertices, face core kept {kept:.0%}; relative error "
              + ", ".join(f"{k} {np.mean(x):.1%}" for k, x in res.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
