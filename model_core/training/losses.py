"""Loss terms of the neural face skinning model (torch). Each term is its own entry with its own weight.

All displacement-like terms are measured in canonical units multiplied by ``cfg.disp_scale`` so that
their magnitudes are O(1). Terms:

- vertex:      mean squared error of predicted vs true displacements (decoder subset of vertices).
- vertex_abs:  mean Euclidean distance of predicted vs true displacements (same vertices; with the 53 singles
               below where they are computed): the evaluation's relative error is a mean of distances, where
               the many barely-moving vertices count as much as the few that move far; the squared term alone
               lets their small errors add up.
- singles:     the same as vertex for the 53 single FACS shapes (one-hot codes) on the same subset of the
               group's own topology: the decoder is linear in the code, so these fix every FACS field it can produce
               (nearly free with the bilinear decoder, whose per-vertex matrix is shared; skipped, 0, with
               the MLP decoder, where it would cost 53 decodes).
- normal:      1 - cos between predicted and true posed face normals (faces of the subset).
- edge:        squared error of posed edge vectors (the Jacobian of the deformation along each edge).
- code_id:     z_ID[:100] vs ICT identity coefficients (MSE); 0 for a warped face (``batch.prepare_group``).
- code_ge:     z_GE[:53] vs ICT FACS weights (MSE).
- code_zero:   z_GE[53:] pushed to 0 (mean square).
- seg:         NLL of the skinning logits vs the region labels at every vertex.
- offset:      (``id_offset`` models; 0 otherwise) squared error of the predicted identity offsets (decoder-frame
               units, times ``offset_scale``) at every vertex. The decoder reads a * position + b - offset: the
               true offsets under teacher forcing, the predicted ones (detached: this term alone trains them)
               otherwise.
- bs_codes:    blendshape consistency 1 - the ICT linear model driven by the predicted codes
               (z_ID[:100], z_GE[:53]) vs driven by the true ones, on ICT-template vertices.
- bs_decoder:  blendshape consistency 2 - the decoder run on the ICT template (template regions ->
               skinning MLP) with the expression code the decoder sees this step (predicted, or the true
               one under teacher forcing) vs the ICT linear model with the same code (code detached: this
               term trains the decoder and skinning MLP). With the bilinear decoder the 53 single-shape codes
               are added to the step's codes (nearly free: the decoder's per-vertex part is shared).
               The template is the group's own surface, so it is decoded in the group's decoder frame.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_WEIGHTS = {
    "vertex": 10.0, "vertex_abs": 0.0, "singles": 10.0, "normal": 1.0, "edge": 10.0, "code_id": 0.05,
    "code_ge": 2.0, "code_zero": 0.1, "seg": 0.2, "bs_codes": 5.0, "bs_decoder": 10.0, "offset": 3.0,
}


def _face_normals(p: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """p (B, V, 3), faces (F, 3) -> unit normals (B, F, 3)."""
    a, b, c = p[:, faces[:, 0]], p[:, faces[:, 1]], p[:, faces[:, 2]]
    return F.normalize(torch.cross(b - a, c - a, dim=-1), dim=-1, eps=1e-12)


def compute_losses(model, item: dict, weights: dict | None = None, *, teacher: bool = False
                   ) -> tuple[torch.Tensor, dict]:
    """Run the model on one prepared group (tensors from ``batch.prepare_group``) and return
    (weighted total, {term: unweighted value (float)}).

    teacher: feed the decoder the true expression code (FACS weights, zeros after them) instead of the
        encoder's prediction (teacher forcing). The decoder then learns the FACS semantics that
        ``facs_basis`` relies on (one-hot codes) from the first step; the other steps train end to end.
    """
    w = dict(DEFAULT_WEIGHTS, **(weights or {}))
    cfg = model.cfg
    s = cfg.disp_scale
    op = (item["evals"], item["evecs"], item["mass"])

    z_id = model.identity(item["feats_n"], op)                                     # (Z,)
    logits, off = model.skinning_outputs(item["feats_n"], op, item["knn_idx"], item["knn_w"])  # (N, R), (N, 3)
    probs = torch.softmax(logits, dim=-1)
    sub_shift = t_shift = None
    if off is not None:            # the decoder reads generic-head points: framed position - identity offset
        sub_shift = (item["id_off"] if teacher else off.detach())[item["sub_idx"]]
        t_shift = item["t_off"]
    z_ge = model.expression(item["feats_e"], op)                                   # (B, Z)

    n_id = item["id_coeffs"].shape[0]
    n_ex = item["facs"].shape[1]
    if teacher:
        z_dec = torch.cat([item["facs"], torch.zeros_like(z_ge[:, n_ex:])], dim=1)
    else:
        z_dec = z_ge
    sub = item["sub_idx"]
    wv = model.skin_weights(probs[sub])
    eye = torch.zeros(n_ex, z_ge.shape[1], dtype=z_ge.dtype, device=z_ge.device)
    eye[:, :n_ex] = torch.eye(n_ex, dtype=z_ge.dtype, device=z_ge.device)     # the 53 single-shape codes
    with_singles = model.bilinear and "sub_singles" in item and bool(w["singles"])
    frame = model.decoder_frame(item["pos"], probs, item["vert_area"])                # decoder frame (a, b)
    pred = model.decode_in_frame(frame, item["sub_pos"], item["sub_nrm"], wv,
                                 torch.cat([z_dec, eye]) if with_singles else z_dec, z_id,
                                 shift=sub_shift)                                  # (B [+ 53], S, 3)
    pred, pred_1 = pred[:len(z_dec)], pred[len(z_dec):]
    gt = item["sub_disp"]
    terms = {}
    terms["vertex"] = ((pred - gt) * s).pow(2).sum(-1).mean()
    if with_singles:
        terms["singles"] = ((pred_1 - item["sub_singles"]) * s).pow(2).sum(-1).mean()
    else:
        terms["singles"] = torch.zeros((), dtype=pred.dtype, device=pred.device)
    err = torch.cat([pred - gt, pred_1 - item["sub_singles"]]) if with_singles else pred - gt
    terms["vertex_abs"] = ((err * s).pow(2).sum(-1) + 1e-8).sqrt().mean()
    posed_pred = item["sub_pos"][None] + pred
    fn_pred = _face_normals(posed_pred, item["sub_faces"])
    terms["normal"] = (1.0 - (fn_pred * item["sub_gt_fn"]).sum(-1)).mean()
    f = item["sub_faces"]
    e_err = []
    for i, j in ((0, 1), (1, 2), (2, 0)):
        e_err.append((pred[:, f[:, j]] - pred[:, f[:, i]]) - (gt[:, f[:, j]] - gt[:, f[:, i]]))
    terms["edge"] = (torch.stack(e_err) * s).pow(2).sum(-1).mean() * 10.0

    known_id = 1.0 - item["warped"] if "warped" in item else 1.0        # a warped face has no ICT identity
    terms["code_id"] = (z_id[:n_id] - item["id_coeffs"]).pow(2).mean() * known_id
    terms["code_ge"] = (z_ge[:, :n_ex] - item["facs"]).pow(2).mean()
    terms["code_zero"] = z_ge[:, n_ex:].pow(2).mean()
    terms["seg"] = F.cross_entropy(logits, item["labels"])
    if off is not None:
        terms["offset"] = ((off - item["id_off"]) * cfg.offset_scale).pow(2).sum(-1).mean()
    else:
        terms["offset"] = torch.zeros((), dtype=logits.dtype, device=logits.device)

    ex_modes, id_modes = item["t_ex_modes"], item["t_id_modes"]                    # (53,S,3), (100,S,3)
    d_id = torch.einsum("i,isc->sc", z_id[:n_id] - item["id_coeffs"], id_modes)    # 0 for a warped face
    d_ex = torch.einsum("bk,ksc->bsc", z_ge[:, :n_ex] - item["facs"], ex_modes)
    terms["bs_codes"] = ((d_id[None] + d_ex) * s).pow(2).sum(-1).mean()

    zg = z_dec.detach()
    if model.bilinear:
        zg = torch.cat([zg, eye])
    onehot = F.one_hot(item["t_labels"], cfg.n_regions).to(pred.dtype)
    wt = model.skin_weights(onehot)
    pred_t = model.decode_in_frame(frame, item["t_pos"], item["t_nrm"], wt, zg, z_id.detach(),
                                   shift=t_shift)                                  # same surface
    lin_t = torch.einsum("bk,ksc->bsc", zg[:, :n_ex], ex_modes)
    terms["bs_decoder"] = ((pred_t - lin_t) * s).pow(2).sum(-1).mean()

    total = sum(w[k] * v for k, v in terms.items())
    return total, {k: float(v.detach()) for k, v in terms.items()}


def to_tensors(item: dict, device=None) -> dict:
    """numpy arrays -> torch tensors (no copy where possible) on ``device`` (default: CPU)."""
    return {k: torch.as_tensor(v, device=device) for k, v in item.items()}
