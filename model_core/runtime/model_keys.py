"""The Model's FACS keys of a mesh: ``facs_basis`` / ``facs_basis_iter`` (ICT or ARKit names) from one of three key
sources: the decoder's one-hot decodes (one streamed pass for all keys), ICT's keys carried by correspondence
(``template_face_keys``, ``template_keys.py``), or ``auto_face_keys``: the decoder's on faces like ICT's, the
template's elsewhere, by how far the two disagree.

Part of ``Model`` (``model_common.py``); uses ``Decoding`` (``model_decoder.py``: the decoder's per-mesh part,
frame and caller-frame map) and ``Skinning._resolve_probs`` / ``_region_share`` (``model_skinning.py``).
"""
from __future__ import annotations

import threading

import numpy as np

from . import blas
from .facs_names import ARKIT_NAMES, ARKIT_SOURCES, ICT_NAMES
from .mesh import face_normals, turned_over
from .mesh_checks import welded
from .model_common import F32, ModelPart, check_finite, one_blas_thread
from .prepared_mesh import PreparedMesh

KEY_SOURCES = ("auto", "template", "decoder")
AUTO_DISAGREEMENT = (0.20, 0.30)  # 'auto' keys: the decoder's below 20 % disagreement with the template's, the
                                # template's above 30 %, blended between (held-out ICT faces: 11-19 %; artists'
                                # heads: 41-126 %; docs/model.md, *Which keys*)
AUTO_EYE_DISAGREEMENT = (0.60, 0.70)  # the eye keys alone: the template's above 70 % disagreement over them (eyes
                                # 1.6x ICT's and larger: the decoder's blink closes a third), whatever the rest;
                                # ICT's faces, remeshed or not: at most 56 %
TEMPLATE_WELD = True            # the template path reads a face split along UV seams welded (``mesh_checks.welded``)
TEMPLATE_TAIL = 0.05            # the template's keys: motion below 5 % of each key's largest faded out, after 'auto'
                                # judged them (ICT's scans move a fifth of the face a little; artists' keys do not:
                                # template_keys.trim_tails)
EAR_TAIL = 0.25                 # ... and below 25 % of it on the ears, in the share of the skinning's ear probability
                                # (ICT's scans move the ear with the cheek: 1.8 mm of mouthSmile_L's 15.8, 1.5 mm of
                                # jawOpen's 42; the auricle is fixed to the skull, and artists' keys leave it still)


class FacsKeys(ModelPart):
    """``facs_basis``, ``facs_basis_iter``, ``template_face_keys`` and ``auto_face_keys``."""

    def _basis_codes(self, names: str) -> list[tuple[str, list[int]]]:
        if names == "ict":
            return [(n, [i]) for i, n in enumerate(ICT_NAMES)]
        if names == "arkit":
            return [(n, list(src)) for n, src in zip(ARKIT_NAMES, ARKIT_SOURCES)]
        raise ValueError(f"names must be 'ict' or 'arkit', got {names!r}")

    def _basis_face(self, pm: PreparedMesh, codes: list, pf: np.ndarray | None, out: np.ndarray) -> None:
        """Canonical face-island displacements of the one-hot FACS codes into ``out`` (K, Nf, 3) float32.

        Streams over the face vertices in chunks of ``decode_rows``: each chunk's decoder per-mesh part is
        computed once for all K codes and dropped (cached for the whole mesh only while it fits
        ``_CACHE_BYTES``), so the cost is one decoder pass plus K cheap products and the memory is ``out``
        plus one chunk."""
        dec = self.net.decoder
        nf = len(pm.face_index)
        a, _ = self.decoder_frame(pm)
        for s in range(0, nf, self.decode_rows):
            e = min(nf, s + self.decode_rows)
            base, rest = self._base_rest(pm, s, e)         # cached whole below _CACHE_BYTES, else per chunk
            w = self._face_weights(pm, pf, s, e)
            for i, (_name, idx) in enumerate(codes):
                if idx:
                    d = dec.displace_onehot(base, rest, w, idx)
                    out[i, s:e] = d if a == 1.0 else d / F32(a)
                else:
                    out[i, s:e] = 0.0

    def _basis_deltas(self, pm: PreparedMesh, names: str, probs, canon: np.ndarray, keys=None):
        """Yields (i, name, delta (N, 3) float32 caller frame) after filling ``canon`` (K, Nf, 3) float32 (may
        be a view of the output array's first Nf rows: row i is read before delta i is yielded)."""
        codes = self._basis_codes(names)
        keys = self.keys if keys is None else keys
        if keys not in KEY_SOURCES:
            raise ValueError(f"keys must be one of {', '.join(KEY_SOURCES)}, got {keys!r}")
        pf = None if probs is None else self._resolve_probs(pm, probs)[pm.face_index]
        if pf is None and keys != "decoder":         # painted regions (probs) always go through the decoder
            tk = self.template_face_keys(pm) if keys == "template" else self.auto_face_keys(pm)[0]
            for i, (_name, idx) in enumerate(codes):
                canon[i] = tk[idx].sum(axis=0) if idx else 0.0
                if len(idx) > 1:                     # ARKit's browInnerUp, cheekPuff: ICT's _L + _R
                    canon[i] = self._unturned_sum(pm, tk, idx, canon[i])
        else:
            with blas.single_threaded(self.blas_single_thread):  # per step: not held while suspended at a yield
                self._basis_face(pm, codes, pf, canon)
        template = pf is None and keys != "decoder"
        inner_rows, inner = self.template_inner_keys(pm) if template else (np.zeros(0, np.int64), None)
        for i, (name, idx) in enumerate(codes):
            with blas.single_threaded(self.blas_single_thread):
                disp = canon[i][None].copy()
                delta = check_finite(self._to_caller(pm, disp, np.float64), f"decoder ({name})")[0].astype(F32)
                if template:             # lashes, brows: the face's own keys at the nearest face vertices
                    self.follow_skin(pm, canon[i], delta)
                if len(inner_rows):      # teeth, tongue, eyeballs: ICT's own inner parts, not the nearest skin
                    d = inner[idx].sum(axis=0) if idx else np.zeros((len(inner_rows), 3), F32)
                    delta[pm.other_index[inner_rows]] = pm.normalization.invert_vectors(d.astype(np.float64))
            yield i, name, delta

    def _unturned_sum(self, pm: PreparedMesh, tk: np.ndarray, idx: list, total: np.ndarray) -> np.ndarray:
        """A key made of several (``total`` (Nf, 3) = the sum of ``tk[idx]``, canonical, face island) with the
        triangles it turns over where none of its parts does relaxed away (``unflip.unflip_keys``; Rokoko's
        cheekPuff: 40 turned, each half none). Returns ``total`` or its relaxed copy."""
        from .unflip import unflip_keys
        pts, faces = pm.canon, pm.face_faces

        def parts(_k):          # asked by unflip_keys only when the sum turns a triangle over
            n0 = face_normals(pts, faces, normalize=False)
            return np.logical_or.reduce([turned_over(pts, faces, tk[k], n0) for k in idx])
        return unflip_keys(total[None], pts, faces, allowed=parts)[0][0]

    def facs_basis_iter(self, pm: PreparedMesh, names: str = "ict", probs=None, keys=None):
        """Generator over the FACS blendshapes of a mesh, one at a time (steppable, cancellable).

        Yields ``(i, name, delta)`` with delta (N, 3) float32 displacements in the caller's frame and units,
        for the code with 1 at the shape's ICT index and 0 elsewhere. ``names='ict'``: the 53 ICT shapes in ICT
        order. ``names='arkit'``: the 52 ARKit shapes in ARKit order; ``browInnerUp`` and ``cheekPuff`` are the
        decode of the code with BOTH the ICT ``_L`` and ``_R`` entries set to 1 (not a sum of two decodes);
        ``tongueOut`` is all zeros (ICT has no tongue shape). ``keys``: 'decoder', 'template' (the sums of
        ICT's keys carried by ``template_face_keys``) or 'auto' (``auto_face_keys``: the decoder's on faces
        like ICT's, the template's on others); None = ``Model.keys``; painted ``probs`` always decode.

        Cost: the first step decodes all K shapes of the face island in one streamed pass over the vertices
        (the decoder's per-mesh part is computed once, chunk by chunk; ~1-2 s per 100k vertices on 2 cores) and
        holds them, (K, Nf, 3) float32; each step then maps one shape to the caller's frame. The code part of a
        one-hot code needs no (N, Z) product (``code_onehot``).
        """
        self._check_pm(pm)
        codes = self._basis_codes(names)
        canon = np.empty((len(codes), len(pm.face_index), 3), F32)
        yield from self._basis_deltas(pm, names, probs, canon, keys)

    @one_blas_thread
    def template_face_keys(self, pm: PreparedMesh, progress=None) -> np.ndarray:
        """The 53 ICT keys of the face island carried by dense correspondence (``runtime/template_keys.py``), each
        key's motion below ``TEMPLATE_TAIL`` of its largest faded out (``template_keys.trim_tails``), below
        ``EAR_TAIL`` of it on the ears (in the share of the skinning's ear probability): (53, Nf, 3) float32
        canonical displacements (cached per mesh). The face starts in ICT's frame where the model's face-core
        frame (``decoder_frame``) puts it."""
        self._check_pm(pm)

        def run():
            from .template_keys import trim_tails
            keys = self._template_match(pm, progress)[0]
            share = self.template_tail(pm)
            if not np.any(share > 0.0):
                return keys
            return trim_tails(keys.copy(), share, pm.canon, pm.face_faces)
        return self._cached(pm, "template_keys_trimmed", run)

    def template_tail(self, pm: PreparedMesh):
        """The share of each key's largest motion below which ``template_face_keys`` fades a face vertex's motion
        out (``template_keys.trim_tails``): ``TEMPLATE_TAIL``, rising to ``EAR_TAIL`` with the skinning's ear
        probability; (Nf,) float64, or the float ``TEMPLATE_TAIL`` for a model without ear regions. To score the
        template's keys against ICT's own, trim those alike."""
        ears = self._region_share(pm, ("ear_L", "ear_R")) if EAR_TAIL > TEMPLATE_TAIL else None
        if ears is None:
            return TEMPLATE_TAIL
        return TEMPLATE_TAIL + (EAR_TAIL - TEMPLATE_TAIL) * np.clip(ears, 0.0, 1.0).astype(np.float64)

    def template_frame(self, pm: PreparedMesh, points=None) -> tuple[np.ndarray, float]:
        """The face island's positions (Nf, 3), or ``points`` (L, 3) in the caller's frame, in the ICT template's
        frame and centimetres, where the model's face-core frame (``decoder_frame``) puts them; and the factor
        (cm per canonical unit) that turns displacements there back into canonical ones."""
        from .template_keys import default_template
        tpl = default_template()
        a, b = self.decoder_frame(pm)
        canon = pm.canon if points is None else pm.normalization.apply(np.asarray(points, np.float64))
        return (canon * a + b) * tpl.gen_size + tpl.gen_center, tpl.gen_size * a

    def _template_face(self, pm: PreparedMesh):
        """The face island as the template path reads it: (pts (M, 3) ICT cm, faces (F, 3), weld (Nf,) int64 or None:
        each face vertex's row of pts, cm per canonical unit). Split UV seams are not openings: with ``TEMPLATE_WELD``
        the face is read welded (M <= Nf)."""
        pts, cm = self.template_frame(pm)
        faces, weld = pm.face_faces, pm.face_weld if TEMPLATE_WELD else None
        if weld is not None:
            pts, faces, weld = welded(pts, faces, weld)
        return pts, faces, weld, cm

    def _template_match(self, pm: PreparedMesh, progress=None):
        """(the template's keys untrimmed, their ``TemplateMatch``), cached per mesh."""
        def run():
            from .inner_parts import default_inner_parts
            from .template_keys import default_template, template_keys
            pts, faces, weld, cm = self._template_face(pm)
            # a second start where the face's own canonical frame puts the template (scale a in the face-core
            # frame a * canon + b), tried when the face-core frame's fit is poor, and more starts when the fit
            # leaves most of the template off the face, as on a tight face mask (``similarity_pose``)
            keys, match = template_keys(default_template(), pts, faces, progress=progress,
                                        return_match=True, sockets=default_inner_parts(),
                                        retry_scale=self.decoder_frame(pm)[0], scale_search=True)
            if weld is not None:
                keys, match = keys[:, weld], match.rows(weld)
            keys /= F32(cm)                                    # its own fresh array: in place, the same numbers
            return check_finite(keys, "template keys"), match
        return self._cached(pm, "template_keys", run)

    def ict_pose(self, pm: PreparedMesh) -> tuple[float, np.ndarray, np.ndarray]:
        """(s, R (3, 3), t (3,)): the similarity that puts ICT's template on the face island in its template frame
        (``template_frame``; the face read welded), fitted as the template path fits it (``similarity_pose`` with
        its retry and scale search), cached per mesh. The face-core frames of two artists' heads can differ in scale
        by up to 1.9x; these poses say where each head's face lies against the same template."""
        def run():
            from .correspond import Surface
            from .template_keys import border_faces, default_template, similarity_pose
            pts, faces = self._template_face(pm)[:2]
            return similarity_pose(default_template(), pts, faces, Surface(pts, faces), border_faces(pts, faces),
                                   retry_scale=self.decoder_frame(pm)[0], scale_search=True)
        return self._cached(pm, "ict_pose", run)

    @one_blas_thread
    def auto_face_keys(self, pm: PreparedMesh, progress=None) -> tuple[np.ndarray, float]:
        """The keys ``keys='auto'`` gives: (53, Nf, 3) float32 canonical displacements and the decoder's share
        in them (0..1), cached per mesh.

        The decoder was trained with exact correspondences on ICT's identities and is the more accurate there;
        on faces outside ICT's identity space its fields miss the features and the template's keys are right
        (docs/model.md). How far the two disagree tells which case a face is: d = mean |decoder - template| /
        mean |template| over the 53 keys and the face's vertices, or over jawOpen alone when that is larger (a
        decoder whose mouth stays shut must not win on the other keys' agreement); the decoder's share is 1 below
        ``AUTO_DISAGREEMENT[0]``, 0 above ``[1]``, linear between. The eye keys (``eye*``) are judged once more
        on their own: where the two disagree over them beyond ``AUTO_EYE_DISAGREEMENT`` (stylised eyes far larger
        than ICT's, on which the decoder's blink closes a third of the eye) they take the template's even on a
        face whose other keys are the decoder's. The share returned is the other keys'. The template's keys are
        judged as carried; a face that takes them alone (share 0) gets ``template_face_keys``' (their tails
        trimmed), a blend of share s takes s * decoder + (1 - s) * (s * carried + (1 - s) * trimmed), so the keys
        are continuous in s (a face just past the threshold is not a step away from one just short of it)."""
        self._check_pm(pm)

        def run():
            # the decoder's keys do not depend on the template's: they are decoded in a second thread while the
            # registration runs (numpy releases the GIL in both; on 2 cores the decoder's time mostly disappears)
            self.decoder_frame(pm)                             # both read it: computed once, before they split
            codes = self._basis_codes("ict")
            dec = np.empty((len(codes), len(pm.face_index), 3), F32)
            failed = []

            def decode():
                try:
                    with blas.single_threaded(self.blas_single_thread):
                        self._basis_face(pm, codes, None, dec)
                except BaseException as exc:                   # re-raised in the caller's thread
                    failed.append(exc)

            worker = threading.Thread(target=decode, name="nfs-decoder-keys", daemon=True)
            worker.start()
            tk = self._template_match(pm, progress)[0]        # a cancel raises here; the worker ends on its own
            worker.join()
            if failed:
                raise failed[0]
            def lengths(x, y=None):
                """np.linalg.norm(x - y, axis=-1), the same numbers, one key at a time (no (K, N, 3) temporaries)."""
                if x.ndim == 2:
                    return lengths(x[None], None if y is None else y[None])[0]
                out = np.empty(x.shape[:-1], x.dtype)
                for k in range(len(x)):
                    d = x[k] if y is None else x[k] - y[k]
                    q = d * d
                    np.sqrt(q[..., 0] + q[..., 1] + q[..., 2], out=out[k])
                return out

            def disagreement(ks=None):
                """Over the keys ks (default all; both untrimmed): mean |decoder - template| / mean |template|."""
                x, y = (dec, tk) if ks is None else (dec[ks], tk[ks])
                return float(lengths(x, y).mean() / max(lengths(y).mean(), 1e-30))
            jaw = ICT_NAMES.index("jawOpen")
            eyes = [k for k, n in enumerate(ICT_NAMES) if n.startswith("eye")]
            found = {"all": disagreement(), "jawOpen": disagreement([jaw]), "eyes": disagreement(eyes)}
            self._cached(pm, "auto_disagreement", lambda: found)
            d = max(found["all"], found["jawOpen"])
            lo, hi = AUTO_DISAGREEMENT
            share = float(np.clip((hi - d) / (hi - lo), 0.0, 1.0))
            lo, hi = AUTO_EYE_DISAGREEMENT
            eye_share = min(share, float(np.clip((hi - found["eyes"]) / (hi - lo), 0.0, 1.0)))
            if share == 1.0 and eye_share == 1.0:
                return dec, share
            trimmed = self.template_face_keys(pm)
            if share == 0.0:                                   # a face unlike ICT's: the template's keys in an
                return trimmed, share                          # artist's style, their tails trimmed
            # a face partly like ICT's: the template's part is itself carried-vs-trimmed in the same share, so the
            # keys move continuously from the template's trimmed keys (share 0) to the decoder's (share 1)
            out = np.empty_like(dec)
            for k in range(len(dec)):                          # one key at a time: no (53, Nf, 3) temporaries
                s = eye_share if k in eyes else share
                out[k] = s * dec[k] + (1.0 - s) * (s * tk[k] + (1.0 - s) * trimmed[k])
            return out, share
        return self._cached(pm, "auto_keys", run)

    def auto_disagreement(self, pm: PreparedMesh, progress=None) -> dict:
        """How far the decoder's and the template's keys disagree on this mesh, as ``auto_face_keys`` judged it:
        {'all': over the 53 keys, 'jawOpen': over jawOpen, 'eyes': over the eye keys} (mean |decoder - template|
        / mean |template|; see ``auto_face_keys``). Computes the keys when they are not cached yet."""
        self.auto_face_keys(pm, progress)
        return dict(self._cached(pm, "auto_disagreement", dict))

    @one_blas_thread
    def facs_basis(self, pm: PreparedMesh, names: str = "ict", probs=None, keys=None) -> tuple[list, np.ndarray]:
        """All FACS blendshapes of a mesh: (names list (K,), deltas (K, N, 3) float32, caller frame and units).

        K = 53 for ``names='ict'`` (ICT order), 52 for ``'arkit'`` (ARKit order; ``browInnerUp``/``cheekPuff`` =
        decode of the code with both ICT ``_L`` and ``_R`` set to 1; ``tongueOut`` = zeros). See
        ``facs_basis_iter`` for a one-at-a-time generator and ``keys``. Memory: the output plus one decoder chunk (the
        canonical shapes are decoded into the output's own rows first).
        """
        self._check_pm(pm)
        codes = self._basis_codes(names)
        out = np.empty((len(codes), pm.n_verts, 3), F32)
        for i, _, d in self._basis_deltas(pm, names, probs, out[:, :len(pm.face_index)], keys):
            out[i] = d
        return [n for n, _ in codes], out

