"""Turn one sampled face group (one identity, one topology, K expressions) into network inputs (numpy).

Everything is expressed in the canonical frame of the group's neutral mesh, exactly as the runtime
will see a user's mesh: the same normalisation, the same proxy, the same features.
"""
from __future__ import annotations

import numpy as np

from ..runtime.config import ModelConfig
from ..runtime.frames import canonical_normalization, decoder_frame
from ..runtime.mesh import face_normals, vertex_areas, vertex_normals
from ..runtime.proxy import build_proxy, expression_features, neutral_features
from .ict import CROPS, ICTModel
from .warps import Warp


def label_decoder_frame(pos: np.ndarray, vert_area: np.ndarray, labels: np.ndarray, cfg: ModelConfig
                ) -> tuple[float, np.ndarray]:
    """``FaceSkinningNet.decoder_frame`` from true region labels: (a, b (3,)) taking the area-weighted centroid and
    sqrt(area) of the vertices labelled ``cfg.face_core`` onto ``cfg.face_ref``.

    pos (N, 3), vert_area (N,) canonical; labels (N,) region indices."""
    return decoder_frame(pos, np.isin(labels, list(cfg.face_core)) * vert_area, cfg.face_ref)


def prepare_group(group, ict: ICTModel, cfg: ModelConfig, rng: np.random.Generator, *,
                  n_faces: int = 600, n_template: int = 500, template_labels: np.ndarray | None = None) -> dict:
    """Network inputs and targets for a face group.

    Args:
        group: a ``sampler.FaceGroup`` (neutral (N,3), posed (K,N,3), faces (F,3), facs (K,53),
            id_coeffs (100,), labels (N,), crop, scale, rotation (3,3), translation (3,), warp), ICT axes, cm.
            A warped group's ICT template, its keys and the single shapes go through the same map; its identity
            terms are off (``warped`` = 1, identity modes 0).
        n_faces: faces whose corners the decoder is trained on (vertex/normal/edge losses).
        n_template: ICT-template vertices used by the blendshape-consistency terms.
        template_labels: (n_crop,) region labels of the ICT crop (for the template skinning).
    Returns:
        dict of float32/int64 arrays (see keys below); displacements are canonical units.
    """
    warp = None if getattr(group, "warp", None) is None else Warp.from_array(group.warp)
    if warp is not None and warp.is_identity:
        warp = None                      # a caricature: its (scaled) identity coefficients are exact, ICT's space
    if warp is not None and cfg.id_offset:
        raise ValueError("warped face groups carry no identity offsets: train id_offset models with warp_prob 0")
    nz = canonical_normalization(group.neutral, group.faces)
    cn = nz.apply(group.neutral)
    cp = nz.apply(group.posed)
    disp = cp - cn[None]
    faces = group.faces
    proxy = build_proxy(cn, faces, target=cfg.proxy_target, k_eig=cfg.k_eig, knn=cfg.knn)
    nrm = vertex_normals(cn, faces)
    vert_area = vertex_areas(cn, faces)

    # decoder subset: corners of random faces (for normal and edge terms)
    fsel = rng.choice(len(faces), size=min(n_faces, len(faces)), replace=False)
    sub_faces_global = faces[fsel]
    sub_verts, sub_faces = np.unique(sub_faces_global, return_inverse=True)
    sub_faces = sub_faces.reshape(-1, 3)

    # ICT template of the same identity and crop, under the same augmentation + normalisation
    tcrop = "full" if group.crop not in CROPS else group.crop      # a head with sockets: the skin's template
    n_crop = CROPS[tcrop][0]
    tsel = np.sort(rng.choice(n_crop, size=min(n_template, n_crop), replace=False))
    tverts_full = ict.identity_verts(group.id_coeffs, tcrop)
    tfaces = ict.crop_faces(tcrop)
    gverts = tverts_full if tcrop == group.crop else ict.identity_verts(group.id_coeffs, group.crop)  # the group's crop
    aug = lambda p: group.scale * p @ np.asarray(group.rotation).T + group.translation  # noqa: E731
    rot_vec = lambda d: (group.scale * d @ np.asarray(group.rotation).T) @ nz.rotation.T / nz.size  # noqa: E731
    modes = ict.expression_modes[:, tsel].astype(np.float64)                 # (53, S, 3) cm
    # the 53 single FACS shapes at the decoder subset: ICT modes carried through the topology's barycentric map
    corners, bary = np.asarray(group.corners)[sub_verts], np.asarray(group.bary)[sub_verts]     # (S, 3)
    sub_modes = np.einsum("ksjc,sj->ksc", ict.expression_modes[:, corners].astype(np.float64), bary)
    if warp is None:
        tnrm_full = vertex_normals(tverts_full, tfaces)
        id_modes = rot_vec(ict.identity_modes[:, tsel].astype(np.float64))   # (100, S, 3)
    else:
        # a warped group: the template, its keys and the singles through the same map, W(n + d) - W(n);
        # identity modes do not describe a warped face (its identity terms are off: "warped" below)
        sub_n = np.einsum("sjc,sj->sc", gverts[corners], bary)
        sub_modes = warp(sub_n[None] + sub_modes) - warp(sub_n)[None]
        modes = warp(tverts_full[tsel][None] + modes) - warp(tverts_full[tsel])[None]
        tverts_full = warp(tverts_full)
        tnrm_full = vertex_normals(tverts_full, tfaces)
        id_modes = np.zeros((ict.identity_modes.shape[0], len(tsel), 3))
    tpos = nz.apply(aug(tverts_full[tsel]))
    tnrm = tnrm_full[tsel] @ np.asarray(group.rotation).T @ nz.rotation.T
    ex_modes = rot_vec(modes)                                                # (53, S, 3)
    tlab = template_labels[tsel] if template_labels is not None else np.zeros(len(tsel), np.int64)
    sub_singles = rot_vec(sub_modes)                                                            # (53, S, 3)
    offsets = {}
    if cfg.id_offset:
        id_delta = gverts - ict.identity_verts(None, group.crop)     # (n_crop, 3) cm vs the generic head
        # identity offsets in the decoder frame: each vertex in its face frame minus the same barycentric point of
        # the generic head in the generic head's face frame (both frames from the true labels)
        gen = cn - rot_vec(np.einsum("njc,nj->nc", id_delta[np.asarray(group.corners)], np.asarray(group.bary)))
        labels = np.asarray(group.labels)
        a1, b1 = label_decoder_frame(cn, vert_area, labels, cfg)
        a2, b2 = label_decoder_frame(gen, vertex_areas(gen, faces), labels, cfg)
        offsets = {"id_off": (a1 * cn + b1) - (a2 * gen + b2),                                  # (N, 3)
                   "t_off": (a1 * tpos + b1) - (a2 * (tpos - rot_vec(id_delta[tsel])) + b2)}    # (T, 3)

    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return {
        "evals": f32(proxy.evals), "evecs": f32(proxy.evecs), "mass": f32(proxy.mass),
        "feats_n": f32(neutral_features(proxy)),
        "feats_e": f32(expression_features(proxy, disp, cfg.expr_feat_scale)),
        "knn_idx": proxy.knn_idx, "knn_w": f32(proxy.knn_w),
        "labels": np.asarray(group.labels, dtype=np.int64),
        "pos": f32(cn), "vert_area": f32(vert_area),
        "sub_pos": f32(cn[sub_verts]), "sub_nrm": f32(nrm[sub_verts]), "sub_idx": sub_verts.astype(np.int64),
        "sub_faces": sub_faces.astype(np.int64), "sub_disp": f32(disp[:, sub_verts]),
        "sub_gt_fn": f32(np.stack([face_normals(p[sub_verts], sub_faces) for p in cp])),
        "sub_singles": f32(sub_singles),
        "facs": f32(group.facs), "id_coeffs": f32(group.id_coeffs),
        "t_pos": f32(tpos), "t_nrm": f32(tnrm), "t_labels": tlab.astype(np.int64),
        "t_ex_modes": f32(ex_modes), "t_id_modes": f32(id_modes),
        "size": np.float32(nz.size), "warped": np.float32(warp is not None),
        **{k: f32(v) for k, v in offsets.items()},   # id_offset models: identity offsets, decoder-frame units
    }
