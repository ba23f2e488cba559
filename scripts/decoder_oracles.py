"""What limits the decoder: its relative error on held-out identities when it is given exact information.

    python scripts/decoder_oracles.py runs/gA/checkpoint.pt [more checkpoints] [--groups 12]

For each training checkpoint (torch), on ``--groups`` held-out groups of 16 expressions (the training stream's
crops, topologies and augmentation; ``identity_split="test"``), the decoder is given the true FACS codes and
its relative error (mean |error| / mean |true displacement| over the group's decoder subset) is printed per
topology kind for:

- ``as run``: everything else from the model (skinning weights and frame from its region probabilities;
  identity offsets predicted, for ``id_offset`` models);
- ``true offsets``: the decoder reads each vertex's generic-head point (the exact identity offsets of
  ``batch.prepare_group``), also for models trained without offsets;
- ``... + labels``: skinning weights and the face frame from the true region labels.

docs/model.md (*What limits the decoder*) reports its output. Needs ICT-FaceKit (NFS_ICT_DIR) and torch.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--groups", type=int, default=12)
    p.add_argument("--seed", type=int, default=99)
    a = p.parse_args(argv)
    import torch
    import torch.nn.functional as F

    from model_core.dataset.batch import prepare_group
    from model_core.dataset.ict import load_ict
    from model_core.training.losses import to_tensors
    from model_core.runtime.regions import load_ict_labels
    from model_core.dataset.remesh import TopologyBank
    from model_core.dataset.sampler import FaceSampler
    from model_core.training.train import BANK_PER_SIZE, load_model

    ict, labels = load_ict(), load_ict_labels()
    bank = TopologyBank(ict, seed=7, per_size=BANK_PER_SIZE)
    for ck in a.checkpoints:
        model = load_model(ck)
        cfg = model.cfg
        sampler = FaceSampler(ict, labels, seed=a.seed, bank=bank, n_expr=16, max_angle_deg=1.0,
                              identity_split="test")
        rng = np.random.default_rng(0)
        errs: dict[tuple[str, str], list[float]] = {}
        for _ in range(a.groups):
            g = sampler.sample_group()
            # (the exact identity offsets come with id_offset configs; the inputs are the same either way)
            it = to_tensors(prepare_group(g, ict, replace(cfg, id_offset=True), rng, n_faces=3000, n_template=100,
                                          template_labels=labels))
            with torch.no_grad():
                op = (it["evals"], it["evecs"], it["mass"])
                z_id = model.identity(it["feats_n"], op)
                logits, off = model.skinning_outputs(it["feats_n"], op, it["knn_idx"], it["knn_w"])
                probs = torch.softmax(logits, -1)
                onehot = F.one_hot(it["labels"], cfg.n_regions).float()
                sub = it["sub_idx"]
                z = torch.cat([it["facs"], torch.zeros(len(it["facs"]), cfg.z_dim - it["facs"].shape[1])], 1)
                gt = it["sub_disp"]
                for name, shift in (("as run", None if off is None else off[sub]),
                                    ("true offsets", it["id_off"][sub])):
                    for lab in (False, True):
                        pr = onehot if lab else probs
                        frame = model.decoder_frame(it["pos"], pr, it["vert_area"])
                        pred = model.decode_in_frame(frame, it["sub_pos"], it["sub_nrm"], model.skin_weights(pr[sub]),
                                                     z, z_id, shift=shift)
                        e = float((pred - gt).norm(dim=-1).mean() / gt.norm(dim=-1).mean())
                        errs.setdefault((g.kind, name + (" + labels" if lab else "")), []).append(e)
                if off is not None:
                    r = (off - it["id_off"]).norm(dim=-1).pow(2).mean().sqrt() / it["id_off"].norm(dim=-1).pow(2).mean().sqrt()
                    errs.setdefault((g.kind, "offset RMS error / RMS offset"), []).append(float(r))
        print(ck)
        for (kind, name), v in sorted(errs.items()):
            print(f"  {kind:10s} {name:30s} {np.mean(v):6.1%}  ({len(v)} groups)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
