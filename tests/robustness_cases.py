"""The robustness matrix (issue 8): the list of bad-input / data-safety cases, the mesh / CSV / weights-file
builders the tests share, and the snapshot-and-compare function for Blender state.

Importable in two places:

* the pytest process (numpy only): ``CASES``, ``markdown()`` (the table in docs/robustness.md), the numpy mesh
  builders, CSV and weights-file corruptors;
* headless Blender (``blender_harness`` puts ``tests/`` on ``PYTHONPATH``): the same, plus ``snapshot()``, ``diff()``,
  ``violations()``, ``attempt()`` and the object builders, which import ``bpy`` only when called.

Every case has an id (``A-`` add-on, ``R-`` runtime API, ``C-`` command line, ``F-`` fuzz), the input, the
expected kind of outcome and, for errors, a phrase the one-line message must contain. The tests run every case
of their group and assert the outcome; ``test_robustness_runtime.py`` checks that docs/robustness.md is this
table (``python tests/robustness_cases.py`` rewrites it) and that every id is used by a test.

Outcome kinds:

* ``result``: the operator / call finishes; only the documented additions appear (``violations`` lists the
  rest), values are finite; undo returns the exact previous state, redo the exact result.
* ``error``: one ERROR report (Blender: the RuntimeError text has exactly one ``Error:`` line, no
  ``Traceback``; runtime: ValueError / FileNotFoundError; CLI: exit status 1 and one stderr line) containing
  ``says``; everything the user had is identical afterwards.
* ``refused``: the operator's poll refuses with a message containing ``says`` (the button is greyed out and its
  tooltip says why); nothing runs.
* ``cancelled``: Esc in the modal run: one WARNING, nothing changed.
"""
from __future__ import annotations

import fnmatch
import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_core.dataset.ict import default_npz_path
from model_core.runtime.frames import ict_to_blender

REPO = Path(__file__).resolve().parents[1]
ICT_NPZ = default_npz_path()  # $NFS_ICT_DIR or ../shared/data/ict_facekit
DOC = REPO / "docs" / "robustness.md"
# numpy 2.x's OpenBLAS spins a thread per core; on a loaded 2-core CI machine that makes the small dense eigh /
# matmul of the runtime 10-25x slower. The subprocesses of these tests run single-threaded BLAS.
SUBPROCESS_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


# ============================================================================================== the matrix
@dataclass(frozen=True)
class Case:
    id: str
    group: str
    input: str
    expect: str          # result | error | refused | cancelled
    outcome: str         # what happens, for the doc
    says: str = ""       # (error / refused) a phrase of the message, case-insensitive


GROUPS = {
    "addon-geometry": ("Add-on: mesh inputs (the real runtime, committed weights, decoder keys)", "tests/test_robustness_addon.py::test_geometry_matrix"),
    "addon-runtime": ("Add-on with the real numpy runtime (random weights): the runtime's own checks",
                      "tests/test_robustness_addon.py::test_runtime_backed_matrix"),
    "addon-user": ("Add-on: the user's data (shape keys, values, drivers, action, vertex groups, modifiers), "
                   "every operator twice, undo", "tests/test_robustness_addon.py::test_user_data_matrix"),
    "addon-io": ("Add-on: bake sources, Live Link CSV files, cancel, model failures",
                 "tests/test_robustness_addon.py::test_io_cancel_matrix"),
    "runtime": ("Runtime API (model_core.runtime, numpy, random weights)",
                "tests/test_robustness_runtime.py"),
    "cli": ("Command line (python -m model_core)", "tests/test_robustness_runtime.py::test_cli_matrix"),
    "fuzz": ("Fuzz (seeded, bounded in count and time)", "tests/test_fuzz.py"),
}

_C = Case
CASES: tuple[Case, ...] = (
    # ---------------------------------------------------------------------------------------- add-on geometry
    _C("A-points-only", "addon-geometry", "mesh of 12 loose vertices (no edges, no faces)", "refused",
       "every mesh operator's poll refuses", "has no faces"),
    _C("A-edges-only", "addon-geometry", "wire mesh: 12 vertices, 11 edges, no faces", "refused",
       "every mesh operator's poll refuses", "has no faces"),
    _C("A-empty-mesh", "addon-geometry", "mesh with 0 vertices", "refused", "poll refuses", "has no faces"),
    _C("A-nan-coords", "addon-geometry", "ICT head with 5 NaN vertex coordinates", "error",
       "skinning and FACS keys stop before the model runs", "NaN or infinite coordinates"),
    _C("A-inf-coords", "addon-geometry", "ICT head with +inf / -inf coordinates", "error",
       "skinning and FACS keys stop before the model runs", "NaN or infinite coordinates"),
    _C("A-far-mesh-data", "addon-geometry", "ICT head whose mesh data sits 1e6 m from its object origin "
       "(float32: 6 cm steps); and one 1e6 m away by its object location", "error",
       "data: refused before the model runs, saying to move the data to the origin; location: works (float64 "
       "world positions)", "Origin to Geometry"),
    _C("A-zero-area-dup", "addon-geometry", "head + 40 collapsed (zero-area) faces + 30 duplicated faces",
       "result", "53 finite FACS keys, 12 NFS_ groups; mesh untouched"),
    _C("A-non-manifold", "addon-geometry", "head + 3 extra faces on one edge (edge shared by 4 faces)", "result",
       "53 finite FACS keys; mesh untouched"),
    _C("A-ngons-quads", "addon-geometry", "head of quads + triangles with its neck hole closed by one n-gon",
       "result", "53 finite FACS keys (n-gon triangulated as Blender draws it)"),
    _C("A-transform", "addon-geometry",
       "rotated, off-origin, non-uniformly scaled head parented to a rotated empty (nothing applied)", "result",
       "world-space key displacements equal those of the same head with the transforms applied (< 1e-3 relative; "
       "measured 2.5e-4: round-off in the moved positions flips a few of the runtime's k-NN ties, as in "
       "A-rt-scale-1mm)"),
    _C("A-zero-scale", "addon-geometry", "head with object scale (1, 0, 1)", "refused",
       "poll refuses (the transform cannot be inverted)", "zero scale"),
    _C("A-mirror-modifier", "addon-geometry", "half a head (x >= 0) with an enabled Mirror modifier", "refused",
       "Compute Skinning, Generate FACS Shape Keys, Transfer Shape Keys and Bake refuse in poll (the model would "
       "see half a face; asymmetric keys cannot live on a mirrored half)", "apply the Mirror modifier first"),
    _C("A-half-head", "addon-geometry", "the same half head (x >= 0, stride 2) with no Mirror modifier (exported "
       "or applied before it was mirrored)", "error", "Compute Skinning and Generate FACS Shape Keys stop before "
       "the model runs, saying to mirror it; the scene is unchanged (was: keys made, all 0 on a real head's half)",
       "add a Mirror modifier and apply it"),
    _C("A-300k-refused", "addon-geometry", "302 400-vertex sculpt (sphere), default 'Max vertices' 300 000",
       "error", "refused in < 1 s, naming the preference and the limit", "'Max vertices' (300000)"),
    _C("A-280k-skinning", "addon-geometry", "280 900-vertex sculpt, below the limit", "result",
       "Compute Skinning Weights finishes (bounded: < 60 s), weights sum to 1"),
    _C("A-max-vertices-pref", "addon-geometry", "'Max vertices' lowered to the head's vertex count, then 1 less",
       "error", "at the limit it works; one vertex over it is refused naming the limit", "'Max vertices'"),
    _C("A-non-mesh", "addon-geometry", "an empty, a camera, a curve active; and no active object", "refused",
       "all 11 operators refuse in poll; the message says to select a mesh", "mesh"),
    _C("A-edit-mode", "addon-geometry", "head in Edit Mode", "refused", "poll refuses", "Object Mode"),
    _C("A-linked-library", "addon-geometry", "object + mesh linked from a library .blend", "refused",
       "poll refuses (changes to linked data are lost on reload)", "linked from library"),
    _C("A-library-override", "addon-geometry", "library override of a linked object (its mesh stays linked)",
       "refused", "poll refuses", "linked from library"),
    # ---------------------------------------------------------------------------------------- add-on + runtime
    _C("A-rt-handful", "addon-runtime", "a quad (4 vertices)", "error",
       "the runtime refuses: the face needs at least 20 vertices", "at least 20"),
    _C("A-rt-zero-area", "addon-runtime", "60 faces, all of zero area (vertices on one line)", "error",
       "the runtime refuses", "zero area"),
    _C("A-rt-islands-follow", "addon-runtime", "head + eyeballs + teeth in one mesh, 'Other pieces' = Follow",
       "result", "the head is used as the face; eyes/teeth keys follow the nearest face motion (finite, not all 0)"
       "; every vertex gets region weights"),
    _C("A-rt-islands-static", "addon-runtime", "the same mesh, 'Other pieces' = Static", "result",
       "eyes/teeth displacements are exactly 0; the head's keys equal the Follow run's"),
    _C("A-rt-flipped", "addon-runtime", "head with every face's winding reversed (normals inward)", "result",
       "keys equal the correctly wound head's (< 1e-5 relative)"),
    _C("A-rt-scale-1mm", "addon-runtime", "head scaled (mesh data) to 1 mm tall", "result",
       "keys = the 0.34 m head's x scale (98 % of vertices within 1e-4 relative (float32 keys), all within 2 %: "
       "k-NN ties)"),
    _C("A-rt-scale-10m", "addon-runtime", "head scaled (object scale, not applied) to 10 m tall", "result",
       "world-space keys = the 0.34 m head's x scale (as 1 mm)"),
    _C("A-rt-mirrored", "addon-runtime", "head with object scale (-1, 1, 1) (mirrored, not applied)", "result",
       "world-space keys equal the applied mirror's (< 1e-5 relative)"),
    _C("A-rt-plane", "addon-runtime", "a plain 2 m plane (21 x 21 grid), not a face", "error",
       "refused before any key is written (was: 53 keys on the plane)", "flat"),
    _C("A-rt-two-heads", "addon-runtime", "two heads side by side (0.5 m apart) in one object", "result",
       "53 finite keys; the largest head is the face, the other gets none of its motion (was: up to 100 % of "
       "it where near); one WARNING saying only the largest head was processed and to separate them", ""),
    _C("A-rt-nan", "addon-runtime", "head with NaN coordinates", "error", "refused before the runtime runs",
       "NaN or infinite coordinates"),
    _C("A-weights-missing", "addon-runtime", "'Weights file' pointing to a missing .npz", "error",
       "nothing changed", "weights file not found"),
    _C("A-weights-truncated", "addon-runtime", "weights .npz cut to half its size", "error", "nothing changed",
       "corrupt"),
    _C("A-weights-version", "addon-runtime", "weights .json with format_version 99", "error", "nothing changed",
       "format version"),
    _C("A-weights-no-json", "addon-runtime", "weights .npz without its .json", "error", "nothing changed",
       "not found"),
    _C("A-weights-garbage", "addon-runtime", "weights .npz / .json replaced by random bytes", "error",
       "nothing changed", "cannot load the model weights"),
    _C("A-weights-nan", "addon-runtime", "weights with a NaN array", "error", "nothing changed", "NaN"),
    _C("A-weights-recover", "addon-runtime", "after the failures, 'Weights file' fixed", "result",
       "the next run loads the good weights and works"),
    # ---------------------------------------------------------------------------------------- add-on user data
    _C("A-user-skinning", "addon-user", "rigged head (keys, values, driver, action, groups, modifiers): "
       "Compute Skinning Weights", "result", "adds NFS_ groups + NFS_regions only; undo exact"),
    _C("A-user-skinning-twice", "addon-user", "Compute Skinning Weights again", "result",
       "same groups (no .001 copies), same weights, nothing else changed; undo exact"),
    _C("A-user-facs", "addon-user", "Generate FACS Shape Keys on the rigged head", "result",
       "53 keys appended after the user's; user keys, values, driver, action unchanged; undo exact"),
    _C("A-user-facs-twice", "addon-user", "Generate FACS Shape Keys again without 'Replace existing'", "error",
       "names the clash; nothing changed", "tick 'Replace existing'"),
    _C("A-user-facs-replace", "addon-user", "Generate again with 'Replace existing'", "result",
       "same coordinates as the first run (nothing changes); values, order kept; undo exact"),
    _C("A-user-existing-facs-name", "addon-user", "the user's own sculpted key named jawOpen (right after a run "
       "with 'Replace existing')", "error", "names the clash (the option is not remembered); the user's jawOpen "
       "untouched", "jawOpen"),
    _C("A-user-bake", "addon-user", "Bake From Source (FACS-named source keys) onto the rigged head", "result",
       "F-curves for the FACS keys added to the user's action; the user's F-curves and driver unchanged; undo exact"),
    _C("A-user-bake-twice", "addon-user", "Bake again", "result",
       "the FACS F-curves are replaced (same count, same keys), nothing else changed; undo exact"),
    _C("A-user-csv", "addon-user", "Import Live Link Face CSV on the rigged head", "result",
       "only FACS F-curves (and the scene end when the take is longer) change; undo exact"),
    _C("A-user-csv-twice", "addon-user", "Import the same CSV again", "result", "nothing changes"),
    _C("A-user-reset", "addon-user", "Reset FACS Group (mouth), twice", "result",
       "only mouth FACS values change; the second run changes nothing"),
    _C("A-user-mirror", "addon-user", "Mirror FACS Values L->R twice; Swap twice", "result",
       "only FACS values change; L->R is idempotent; Swap twice restores the values"),
    _C("A-user-colors-toggle", "addon-user", "Show Region Colours twice", "result",
       "viewport shading and the mesh's active colour attribute restored"),
    _C("A-user-update-colors", "addon-user", "Colours From Painted Groups twice", "result",
       "only NFS_regions changes; the second run changes nothing"),
    _C("A-user-clear", "addon-user", "Clear Skinning Weights twice", "refused",
       "first run removes only NFS_ data; the second is refused by poll", "no NFS_ skinning data"),
    # ---------------------------------------------------------------------------------------- add-on io / cancel
    _C("A-bake-no-source", "addon-io", "Bake with no source chosen", "refused", "poll refuses",
       "Choose a source"),
    _C("A-bake-empty-range", "addon-io", "Bake range End < Start", "error", "nothing changed", "frame range is empty"),
    _C("A-bake-vertex-count", "addon-io", "mesh-deformation source with a Subdivision modifier", "error",
       "nothing changed, the frame restored", "disable modifiers"),
    _C("A-bake-no-names", "addon-io", "'FACS shape keys' source without FACS-named keys", "error",
       "nothing changed", "no shape keys with FACS names"),
    _C("A-bake-nan-source", "addon-io", "source shape key with NaN coordinates (mesh-deformation bake)", "error",
       "nothing changed", "NaN"),
    _C("A-bake-huge-range", "addon-io", "Bake End = 1 000 000 (Start 1); and 'Bake corrective' over 90 000 frames",
       "error", "refused before any frame is read (limit 100 000 frames; the corrective's (frames x vertices) "
       "store at most 1 GiB); nothing changed", "frames, more than | GiB"),
    _C("A-bake-driven-target", "addon-io", "target's jawOpen and eyeBlink_L keys driven by drivers (FACS-named "
       "source)", "result", "baked; one WARNING naming the driven keys (their drivers override the keyframes); "
       "drivers untouched", ""),
    _C("A-csv-wrong-header", "addon-io", "CSV whose first column is not Timecode", "error", "nothing changed",
       "not a Live Link Face CSV"),
    _C("A-csv-missing-columns", "addon-io", "CSV without 5 blendshape columns", "error", "nothing changed",
       "column(s) missing"),
    _C("A-csv-non-numeric", "addon-io", "CSV with 'oops' in a value cell", "error", "nothing changed",
       "is not a number"),
    _C("A-csv-nan", "addon-io", "CSV with 'nan' / 'inf' values", "error", "nothing changed", "not a finite number"),
    _C("A-csv-short-row", "addon-io", "CSV row with fewer fields than the header", "error", "nothing changed",
       "fields, the header has"),
    _C("A-csv-bad-timecode", "addon-io", "CSV with a malformed timecode", "error", "nothing changed",
       "timecode"),
    _C("A-csv-timecode-jump", "addon-io", "CSV with one row's timecode at 00:00:00:00 (10 h before the others)",
       "error", "nothing changed (no 10-hour take)", "timecode jumps"),
    _C("A-csv-empty", "addon-io", "empty CSV file / header only", "error", "nothing changed", "empty | no data rows"),
    _C("A-csv-binary", "addon-io", "random bytes named .csv", "error", "nothing changed",
       "not a text CSV | not a Live Link Face CSV"),
    _C("A-csv-missing-file", "addon-io", "path to a missing file / a folder", "error", "nothing changed",
       "CSV file not found"),
    _C("A-csv-huge-start", "addon-io", "2 s take at start frame 1 048 570 (it would end after Blender's last frame)",
       "error",
       "nothing changed", "last frame"),
    _C("A-cancel-facs", "addon-io", "Esc after 10 of 53 FACS shapes (modal run)", "cancelled",
       "one WARNING; no key, no Basis added"),
    _C("A-cancel-skinning", "addon-io", "Esc after the first step of Compute Skinning Weights (modal run)",
       "cancelled", "one WARNING; no NFS_ group, no colour attribute"),
    _C("A-cancel-bake", "addon-io", "Esc in the middle of a mesh-deformation bake", "cancelled",
       "one WARNING; no F-curve; the current frame restored"),
    _C("A-model-fails-midway", "addon-io", "the model raises an unexpected exception at shape 30 of 53", "error",
       "nothing changed (no partial keys)", "nothing was changed"),
    _C("A-model-nan", "addon-io", "the model returns NaN for one FACS shape", "error",
       "nothing changed (no NaN vertices)", "NaN or infinite values"),
    # ---------------------------------------------------------------------------------------- runtime API
    _C("R-points-only", "runtime", "vertices, no faces", "error", "ValueError", "no faces"),
    _C("R-edges-only", "runtime", "(F, 2) edges as faces", "error", "ValueError", "at least 3 corners"),
    _C("R-handful", "runtime", "4 vertices, 2 triangles", "error", "ValueError naming the minimum", "at least 20"),
    _C("R-nan", "runtime", "NaN coordinates", "error", "ValueError", "NaN or infinite"),
    _C("R-inf", "runtime", "inf coordinates", "error", "ValueError", "NaN or infinite"),
    _C("R-bad-indices", "runtime", "face index out of range / negative / fractional", "error", "ValueError",
       "face indices"),
    _C("R-bad-shapes", "runtime", "verts (N, 2), 1-D verts, empty arrays", "error", "ValueError",
       "shape | at least | no vertices"),
    _C("R-zero-area-all", "runtime", "all faces zero-area", "error", "ValueError", "zero area"),
    _C("R-zero-area-dup", "runtime", "head + collapsed + duplicated faces", "result",
       "finite basis; the zero-area faces are reported as dropped"),
    _C("R-non-manifold", "runtime", "head + faces sharing one edge 4 ways", "result", "finite basis"),
    _C("R-islands", "runtime", "head + eyeballs + teeth: follow / static", "result",
       "face island = the head; static: others exactly 0; follow: others finite, moving; head identical"),
    _C("R-ngons-quads", "runtime", "(F, 4) quads and a list of mixed polygons (with an n-gon)", "result",
       "equal to the explicitly fan-triangulated mesh"),
    _C("R-flipped", "runtime", "every triangle's winding reversed", "result", "flipped=True, same basis"),
    _C("R-half-flipped", "runtime", "half the triangles (random) of a head reversed (inconsistent winding)",
       "result", "faces re-wound consistently per piece over shared edges: basis equal to the clean head's "
       "(< 1e-5 relative; real weights, edge-connected ICT head: 0.0); one warning; pieces joined only at "
       "vertices keep their own winding (ICT stride-2 checkerboard: 1.18 relative RMS, was 1.78)"),
    _C("R-unmerged-halves", "runtime", "head modelled as two halves never merged: the midline's 200 vertices "
       "doubled, 5 um apart (a mirror-modelled face; 2-10 um on the hand-made dev head cut to a face mask)", "result",
       "the open seam is closed (``mesh_checks.weld_open_seams``): face island = both halves, basis equal to the "
       "merged head's (4.5e-5 relative RMS), both copies of a seam vertex move as one, no warning (was: one half taken as the face, 'looks toward +Z with -X "
       "up', the other half still: 1.12 relative RMS)"),
    _C("R-floor", "runtime", "head + a 2 m floor quad; head + a 2 m floor grid (21 x 21), same mesh", "result",
       "the face is picked by shape (flat pieces are not faces): head basis equal to the clean head's, the "
       "floor's displacement exactly 0 (was: quad refused 'at least 20', grid taken as the face); one warning"),
    _C("R-stray-vertex", "runtime", "one loose vertex 10 m from the head; one head vertex dragged 10 m away",
       "result", "loose vertex: 0 displacement, head unchanged; head vertex: its faces left out of the face, "
       "it gets 0 displacement, one warning naming it (real weights: other vertices' keys 21 % from the clean "
       "head's, was 40 000 %)"),
    _C("R-orientation", "runtime", "ICT head facing +Y, rolled 90 degrees, upside down; prepared with Blender's "
       "axes (Z up, -Y forward)", "result", "the face's frame is found from its shape (mirror plane + ICT face "
       "template fit, runtime/orientation.py) and used: keys equal the upright head's turned with the mesh "
       "(0.0 relative; trained weights: was 1.01 / 1.51 / 2.45, reported as success); one warning naming the "
       "found axes; correctly oriented heads, face crops, masks and the dev heads unchanged (prepare, 11k "
       "vertices: 0.345 -> 0.363 s); not run when the face piece is under 30 % of the mesh (a mesh in 316 "
       "pieces was turned on the shape of its largest, 8 % of it)"),
    _C("R-plane", "runtime", "a plain 2 m plane (grid), not a face", "error", "ValueError: a flat piece is not "
       "a face", "flat"),
    _C("R-half-head", "runtime", "half a head (x >= 0, or x <= 0), cut at its midline as a Mirror modifier's half is "
       "modelled, with no modifier to say so", "error", "ValueError naming the fix (mirror it, apply the Mirror "
       "modifier) before the model runs (was: keys made, every one 0 on the dev heads' halves); a face mask cut "
       "at the front, or with straight sides, is still a face (``mesh_checks.half_problem``)",
       "add a Mirror modifier and apply it"),
    _C("R-two-heads", "runtime", "two heads side by side 0.5 m apart in one mesh", "result",
       "the face is one head (same basis as alone), the other's displacement is 0; one warning naming the "
       "second head-sized piece", ""),
    _C("R-bust", "runtime", "head with 42 cm shoulders joined below its neck (a bust), Blender's axes", "result",
       "the model reads the head above the neck's base; the shoulders follow the skin above them, finite; one "
       "warning saying so", "below the neck"),
    _C("R-scale", "runtime", "head scaled to 1 mm and to 10 m", "result",
       "basis scales with the head (98 % of vertices within 1e-5 relative, all within 2 %: k-NN ties)"),
    _C("R-transform", "runtime", "rotated into Blender axes and moved 100 m off origin, axes given", "result",
       "basis rotated accordingly (as R-scale)"),
    _C("R-300k", "runtime", "301 000 vertices", "error", "refused in < 1 s naming the limit", "limit of 300000"),
    _C("R-far-float64", "runtime", "float64 head (m) 1e6 m from the origin", "result",
       "recentred in float64 first (exactly): basis equals that of the same float64 values moved to the origin "
       "(< 1e-7 relative) and the original head's (as R-scale)"),
    _C("R-far-float32", "runtime", "float32 head (m) 1e6 m from the origin (stored in 6 cm steps)", "error",
       "ValueError: the float32 steps are too coarse; pass float64 or move the data near the origin", "float64"),
    _C("R-huge-scale", "runtime", "head scaled by 1e200", "error",
       "ValueError saying the mesh is too large (not 'zero area')", "too large"),
    _C("R-tiny-scale", "runtime", "head scaled by 1e-200", "error",
       "ValueError saying the mesh is too small (not 'zero area')", "too small"),
    _C("R-empty", "runtime", "(0, 3) vertices", "error", "ValueError: the mesh has no vertices", "no vertices"),
    _C("R-inputs-unchanged", "runtime", "prepare / expression / decode / facs_basis on caller arrays", "result",
       "the caller's arrays are never modified"),
    _C("R-expression-bad", "runtime", "posed frames with NaN / wrong vertex count / non-numeric", "error",
       "ValueError", "posed_verts"),
    _C("R-decode-bad", "runtime", "z_ge with NaN / wrong length / strings", "error", "ValueError", "z_ge"),
    _C("R-probs-bad", "runtime", "painted probs negative / NaN / wrong shape", "error", "ValueError", "probs"),
    _C("R-retarget-cancel", "runtime", "retarget whose progress callback returns False", "error",
       "Cancelled raised, nothing returned", "cancelled"),
    _C("R-weights-missing", "runtime", "missing .npz / missing .json", "error", "FileNotFoundError", "not found"),
    _C("R-weights-truncated", "runtime", ".npz cut in half; .json cut in half", "error", "ValueError",
       "corrupt"),
    _C("R-weights-version", "runtime", "format_version 99 / 0 / '1'", "error", "ValueError naming both versions",
       "format version"),
    _C("R-weights-mismatch", "runtime", "array missing / extra / wrong shape / wrong dtype", "error", "ValueError",
       "re-export"),
    _C("R-weights-nan", "runtime", "an array with NaN", "error", "ValueError", "NaN"),
    _C("R-weights-checksum", "runtime", "npz changed after export (sha256 mismatch)", "error", "ValueError",
       "checksum"),
    _C("R-weights-json-garbage", "runtime", ".json not JSON / a list / missing keys / bad config", "error",
       "ValueError", "re-export"),
    # ---------------------------------------------------------------------------------------- CLI
    _C("C-missing-mesh", "cli", "skin on a path that does not exist", "error", "exit 1, one line",
       "mesh file not found"),
    _C("C-points-obj", "cli", "OBJ with vertices only", "error", "exit 1, one line, no output file", "no faces"),
    _C("C-nan-obj", "cli", "OBJ with 'nan' coordinates", "error", "exit 1, one line, no output file",
       "NaN or infinite"),
    _C("C-handful-obj", "cli", "OBJ with 4 vertices", "error", "exit 1, one line, no output file", "at least 20"),
    _C("C-binary-obj", "cli", "random bytes named .obj", "error", "exit 1, one line", "obj"),
    _C("C-truncated-ply", "cli", "binary PLY cut in half", "error", "exit 1, one line", "truncated"),
    _C("C-bad-index-obj", "cli", "OBJ face index beyond the vertex count", "error", "exit 1, one line",
       "face indices"),
    _C("C-weights-missing", "cli", "--weights to a missing file", "error", "exit 1, one line", "not found"),
    _C("C-weights-truncated", "cli", "--weights to a truncated .npz", "error", "exit 1, one line",
       "corrupt"),
    _C("C-weights-version", "cli", "--weights with format_version 99", "error", "exit 1, one line",
       "format version"),
    _C("C-too-many-vertices", "cli", "--max-vertices 100 on a 6706-vertex head", "error", "exit 1, one line",
       "limit of 100"),
    _C("C-frame-vertex-count", "cli", "encode with a posed frame of another vertex count", "error",
       "exit 1, one line, no output file", "vertices, the neutral has"),
    _C("C-bad-output", "cli", "output with an unknown suffix; output folder that is a file", "error",
       "exit 1, one line", "output must end in | is not a folder"),
    _C("C-indented-obj", "cli", "OBJ with every other face line indented by spaces / tabs", "result",
       "read like the unindented file (all faces); skin writes its output"),
    _C("C-empty-obj", "cli", "empty .obj / .ply file (0 bytes, or blank lines)", "error",
       "exit 1, one line saying the file is empty", "empty"),
    _C("C-no-vertices-obj", "cli", "OBJ with comments and other lines but no 'v' lines", "error",
       "exit 1, one line naming what was found", "no vertex"),
    _C("C-folder-obj", "cli", "a folder named head.obj given as the mesh / neutral / target", "error",
       "exit 1, one line", "is a folder"),
    _C("C-max-vertices-flag", "cli", "a head above --max-vertices", "error",
       "the refusal names the command-line flag, not the Python attribute", "--max-vertices"),
    _C("C-frame-faces", "cli", "encode / retarget with a posed frame of the same vertex count but other faces "
       "(vertex order changed)", "error", "exit 1, one line, no output file", "faces differ"),
    _C("C-retarget-frame-count", "cli", "retarget with a source frame of another vertex count", "error",
       "exit 1, one line, no output folder", "vertices, the neutral has"),
    _C("C-bad-arguments", "cli", "unknown command / missing -o", "error", "exit 2, one line", "error"),
    # ---------------------------------------------------------------------------------------- fuzz
    _C("F-runtime-meshes", "fuzz", "40 random meshes (ICT pieces, random subsets, transforms, NaN, collapsed and "
       "out-of-range faces), runtime prepare + basis", "result", "each either a finite basis or a ValueError; 0 "
       "other exceptions"),
    _C("F-csv-parse", "fuzz", "300 random corruptions of a Live Link CSV (cut, swap, inject nan / text / fields)",
       "result", "each either parses to finite values or raises ValueError; 0 other exceptions"),
    _C("F-blender", "fuzz", "24 random meshes with random transforms and coordinate corruption through Compute "
       "Skinning + Generate FACS keys (every other one through the real runtime, the rest the stand-in); 16 "
       "corrupted CSVs through the import", "result",
       "each FINISHED with finite data or one ERROR with nothing changed; 0 tracebacks, 0 crashes"),
)

CASE_IDS = tuple(c.id for c in CASES)
BY_ID = {c.id: c for c in CASES}
assert len(CASE_IDS) == len(set(CASE_IDS)), "duplicate case ids"


def says_ok(case: Case, message: str) -> bool:
    """Whether ``message`` contains the case's phrase (or one of its ' | '-separated alternatives)."""
    if not case.says:
        return True
    low = message.lower()
    return any(alt.strip().lower() in low for alt in case.says.split(" | "))


def cases(group: str) -> list[Case]:
    return [c for c in CASES if c.group == group]


def markdown() -> str:
    """The text of docs/robustness.md (generated from ``CASES``)."""
    out = [
        "# Robustness: bad input and data safety",
        "",
        "<!-- generated by `python tests/robustness_cases.py` from tests/robustness_cases.py::CASES; "
        "tests/test_robustness_runtime.py fails when this file and the cases differ -->",
        "",
        "Every case ends either in a correct result or in one clear error saying what was wrong and what to do:",
        "never a Python traceback, a Blender crash, NaN vertices or a partially written result. In Blender, a",
        "snapshot of everything the user has (objects and transforms, mesh coordinates and topology, attributes,",
        "vertex groups and weights, modifiers, shape keys with values / ranges / coordinates, drivers, actions and",
        "F-curves, custom properties, the scene's frames) is taken before and after each operator:",
        "",
        "* **error** / **refused** / **cancelled**: the snapshot is identical afterwards;",
        "* **result**: identical except for the documented additions, every new value finite; Undo returns the",
        "  exact previous snapshot and Redo the exact result.",
        "",
        "**refused** means the operator's poll refuses: the button is greyed out and its tooltip says why (a script",
        "calling it gets a RuntimeError with the same sentence). **error** means one ERROR report (runtime:",
        "ValueError / FileNotFoundError; command line: exit status 1 and a one-line reason on stderr, 2 for bad",
        "arguments). The phrase column is part of the message the tests require.",
        "",
        "Run: `.venv/py311/bin/python -m pytest tests/test_robustness_*.py tests/test_fuzz.py -q` (Blender 4.2) and",
        "the same with `.venv/py313/bin/python` (Blender 5.3).",
        "",
    ]
    for group, (title, where) in GROUPS.items():
        out += [f"## {title}", "", f"Tested by `{where}`.", "",
                "| case | input | expected | outcome | message contains |", "|---|---|---|---|---|"]
        for c in cases(group):
            says = " or ".join(f"`{a.strip()}`" for a in c.says.split(" | ")) if c.says else ""
            out.append(f"| {c.id} | {c.input} | {c.expect} | {c.outcome} | {says} |")
        out.append("")
    out += [
        "## Limits and choices",
        "",
        "* Mesh size: the add-on refuses meshes above the 'Max vertices' preference (default 300 000) before",
        "  anything runs; the runtime has the same default limit (`Model.max_vertices`).",
        "* Pieces other than the face (eyeballs, teeth, lashes): the largest connected piece by area that is not",
        "  flat (thickness >= 5 % of its width) is the face; a face that is flat (a plane) is refused. The 'Other",
        "  pieces' preference chooses Follow (move with the nearest face surface; with Automatic or Template keys,",
        "  pieces inside the face, such as teeth, tongue and eyeballs, move as ICT's own inner parts do:",
        "  `inner_parts.py`) or Static; Follow fades out",
        "  between 15 % and 30 % of the face's bounding-box diagonal away from it, so a floor, a second head or a",
        "  stray vertex metres away gets no motion. A second non-flat piece with half the face's area or more",
        "  (a second head) is reported: only the largest is processed; separate them (By Loose Parts).",
        "* Winding: faces wound opposite to their edge neighbours are re-wound for the model (per piece, the",
        "  majority's winding kept; reported). Vertices farther than 5 x the 95th-percentile distance from their",
        "  piece's median point (a vertex dragged metres away) are left out of the face (not moved, reported).",
        "* A Mirror modifier (enabled) on the mesh: every operator that writes keys or weights refuses; apply it",
        "  first (keys on a mirrored half would be mirrored, and the model needs the whole face).",
        "* Linked and library-override meshes are refused: shape keys or vertex groups added to linked data are",
        "  lost when the file is reloaded. Make the object and its mesh local first.",
        "* Viewport shading changed by Show Region Colours is screen (UI) data, which Blender's Undo does not",
        "  restore; running the toggle again restores it.",
        "* NaN / infinite coordinates are refused by the add-on itself before the model runs (the message names",
        "  the first vertices); a mesh-deformation bake source producing them at some frame is refused likewise.",
        "* 'Replace existing' (Generate FACS Shape Keys) is never remembered from an earlier run: overwriting",
        "  keys is always a deliberate choice.",
        "* Bake and CSV import set each keyed shape key's value to its new F-curve's value at the current frame, so",
        "  the Key records the change and Undo restores the previous values exactly.",
        "* A Live Link CSV whose timecode jumps by more than 10 s between consecutive rows is refused (one damaged",
        "  timecode would otherwise stretch the take to hours of keyframes); minutes and seconds must be < 60.",
        "* The runtime's region weights and the displacements of pieces other than the face come from the k",
        "  nearest proxy vertices; where round-off flips a tie between the k-th and (k+1)-th neighbour (ICT's",
        "  symmetric midline) a vertex's value can change by up to ~2 % under scaling or moving the mesh.",
        "* Far from the origin: `prepare` recentres the mesh in float64 before anything else (by a power-of-two",
        "  multiple, exactly). It cannot restore precision the caller's array never had: float32 positions whose",
        "  storage step exceeds 0.1 % of the mesh's size (a 0.3 m head beyond ~1 km from the origin) are refused;",
        "  pass float64 or move the data near the origin. Meshes spanning more than 1e100 or less than 1e-100",
        "  units are refused as too large / too small (their areas overflow / underflow). In Blender an object",
        "  may sit anywhere (world positions are float64), but mesh data far from its own origin is refused the",
        "  same way (Blender stores it in float32): Set Origin > Origin to Geometry first.",
        "* Bake From Source takes at most 100 000 frames per run (about an hour at 24 fps; bake longer takes in",
        "  parts), and 'Bake corrective' at most 1 GiB of per-frame corrections (frames x vertices x 12 bytes).",
        "  Memory per baked frame is otherwise ~1 kB (weights, codes, keyframes); the source is read in batches",
        "  of 16 frames.",
        "* A target FACS key whose value has a driver keeps it: the driver overrides the baked keyframes, so the",
        "  bake warns and names those keys.",
        "* Command line: posed frames must have the neutral's vertex count and, when a frame file has faces, the",
        "  neutral's faces (a frame exported in another vertex order is refused, not encoded).",
        "",
    ]
    return "\n".join(out)


def write_doc(path: Path = DOC) -> None:
    path.write_text(markdown(), encoding="utf-8")


# ============================================================================================== numpy builders
_ICT: dict = {}
PARTS = {  # inclusive vertex range, inclusive polygon range (ICT-FaceKit documentation)
    "head": ((0, 11247), (0, 11143)),
    "narrow": ((0, 6705), (0, 6559)),
    "teeth": ((17039, 21450), (17006, 21495)),
    "eyeballs": ((21451, 24590), (21496, 24691)),
}


def _ict():
    if not _ICT:
        d = np.load(ICT_NPZ)
        sizes = d["face_sizes"].astype(np.int64)
        _ICT.update(neutral=d["neutral"].astype(np.float64), sizes=sizes,
                    corners=d["face_vertex_indices"].astype(np.int64),
                    starts=np.concatenate([[0], np.cumsum(sizes)]))
    return _ICT


def ict_mesh(parts=("head",), *, stride: int = 1, blender: bool = True):
    """Vertices and polygons of ICT-FaceKit pieces, re-indexed to 0..n-1.

    Args:
        parts: names from ``PARTS``.
        stride: keep every stride-th polygon only (a cheaper, different tessellation).
        blender: convert to Blender's frame (metres, Z up, face toward -Y); else ICT's (cm, Y up, +Z forward).
    Returns:
        (verts (N, 3) float64, corners (C,) int64, sizes (P,) int64).
    """
    d = _ict()
    cs, ss = [], []
    for part in parts:
        (_v0, _v1), (p0, p1) = PARTS[part]
        keep = np.arange(p0, p1 + 1)[::stride]
        ss.append(d["sizes"][keep])
        cs.append(np.concatenate([d["corners"][d["starts"][p]:d["starts"][p + 1]] for p in keep]))
    corners, sizes = np.concatenate(cs), np.concatenate(ss)
    used, corners = np.unique(corners, return_inverse=True)
    v = d["neutral"][used]
    if blender:
        v = ict_to_blender(v)
    return v, np.asarray(corners, np.int64).ravel(), sizes


def part_vertex_mask(parts, which: str) -> np.ndarray:
    """(N,) bool: vertices of ``ict_mesh(parts)`` that came from the piece ``which``."""
    d = _ict()
    all_used = []
    for part in parts:
        (_v0, _v1), (p0, p1) = PARTS[part]
        all_used.append(np.unique(d["corners"][d["starts"][p0]:d["starts"][p1 + 1]]))
    used = np.unique(np.concatenate(all_used))
    (v0, v1), _ = PARTS[which]
    return (used >= v0) & (used <= v1)


def triangulate(corners, sizes) -> np.ndarray:
    """(T, 3) fan triangulation of polygons."""
    corners, sizes = np.asarray(corners, np.int64), np.asarray(sizes, np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ntri = sizes - 2
    poly = np.repeat(np.arange(sizes.size), ntri)
    k = np.arange(int(ntri.sum())) - np.repeat(np.cumsum(ntri) - ntri, ntri)
    s = starts[poly]
    return np.stack([corners[s], corners[s + k + 1], corners[s + k + 2]], axis=1)


def flip_polygons(corners, sizes) -> np.ndarray:
    """Corners with every polygon's winding reversed (first corner kept: (a, b, c, d) -> (a, d, c, b))."""
    corners = np.asarray(corners, np.int64).copy()
    s = 0
    for k in np.asarray(sizes):
        k = int(k)
        corners[s + 1:s + k] = corners[s + 1:s + k][::-1].copy()
        s += k
    return corners


def boundary_loops(corners, sizes) -> list[np.ndarray]:
    """Boundary loops (vertex index arrays) of a polygon mesh, longest first."""
    corners, sizes = np.asarray(corners, np.int64), np.asarray(sizes, np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    a = corners
    nxt = np.empty_like(a)
    for s, k in zip(starts, sizes):
        nxt[s:s + k] = np.roll(a[s:s + k], -1)
    e = np.stack([a, nxt], 1)
    key = np.minimum(e[:, 0], e[:, 1]) * (a.max() + 1) + np.maximum(e[:, 0], e[:, 1])
    uniq, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    bnd = e[cnt[inv] == 1]
    succ = {int(x): int(y) for x, y in bnd[:, ::-1]}  # reversed: the hole's polygon winds opposite
    loops, seen = [], set()
    for start in list(succ):
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen and v in succ:
            seen.add(v)
            loop.append(v)
            v = succ[v]
        if len(loop) >= 3:
            loops.append(np.array(loop))
    return sorted(loops, key=len, reverse=True)


def with_ngon_cap(verts, corners, sizes):
    """Close the longest boundary loop (the ICT head's neck) with one n-gon. Returns (corners, sizes)."""
    loop = boundary_loops(corners, sizes)[0]
    return np.concatenate([corners, loop]), np.concatenate([sizes, [len(loop)]])


def with_fin(verts, corners, sizes, n_extra: int = 3):
    """Add ``n_extra`` triangles sharing the first polygon's first edge (a non-manifold edge).
    Returns (verts, corners, sizes)."""
    verts = np.asarray(verts, np.float64)
    a, b = int(corners[0]), int(corners[1])
    mid = 0.5 * (verts[a] + verts[b])
    span = np.linalg.norm(verts[a] - verts[b])
    new_v, new_c = [], []
    for i in range(n_extra):
        ang = 2 * np.pi * i / n_extra
        new_v.append(mid + span * np.array([np.cos(ang), np.sin(ang), 0.7]))
        new_c += [a, b, len(verts) + i]
    return (np.concatenate([verts, np.array(new_v)]), np.concatenate([corners, new_c]),
            np.concatenate([sizes, [3] * n_extra]))


def with_degenerate(verts, corners, sizes, n_collapse: int = 40, n_dup: int = 30, seed: int = 0):
    """Collapse ``n_collapse`` triangles to zero area (their 3 corners moved onto one point, as new vertices)
    and duplicate ``n_dup`` polygons. Returns (verts, corners, sizes)."""
    rng = np.random.default_rng(seed)
    verts = np.asarray(verts, np.float64)
    sizes = np.asarray(sizes, np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    p = rng.choice(len(sizes), n_dup, replace=False)
    dup_c = np.concatenate([corners[starts[i]:starts[i] + sizes[i]] for i in p])
    # collapsed triangles: 3 new vertices at one point next to an existing vertex
    base = verts[rng.choice(len(verts), n_collapse, replace=False)]
    new_v = np.repeat(base, 3, axis=0)
    new_c = len(verts) + np.arange(3 * n_collapse)
    return (np.concatenate([verts, new_v]), np.concatenate([corners, dup_c, new_c]),
            np.concatenate([sizes, sizes[p], np.full(n_collapse, 3)]))


def sphere(nu: int, nv: int, radius: float = 0.12):
    """UV sphere without poles: (verts (nu * nv, 3), corners, sizes (quads)); radius in metres."""
    th = np.linspace(0.05, np.pi - 0.05, nv)
    ph = np.linspace(0, 2 * np.pi, nu, endpoint=False)
    t, p = np.meshgrid(th, ph, indexing="ij")
    v = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3) * radius
    i = np.arange(nv - 1)[:, None] * nu
    j = np.arange(nu)[None, :]
    a = (i + j).ravel()
    b = (i + (j + 1) % nu).ravel()
    quads = np.stack([a, b, b + nu, a + nu], 1)
    return v, quads.ravel().astype(np.int64), np.full(len(quads), 4, np.int64)


def transform_matrix(rng) -> np.ndarray:
    """A random (4, 4) similarity-ish transform: rotation, non-uniform scale 0.3..3, translation +-5 m."""
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    r = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    m = np.eye(4)
    m[:3, :3] = r * np.exp(rng.uniform(np.log(0.3), np.log(3.0), 3))[None, :]
    m[:3, 3] = rng.uniform(-5, 5, 3)
    return m


def fuzz_mesh(rng, *, blender: bool = True):
    """A random mesh for the fuzz runs: a random ICT piece (or a sphere), a random subset of its polygons, random
    scale and offset, and one random corruption of coordinates or polygons.

    Returns (verts (N, 3) float64, corners (C,) int64, sizes (P,) int64, info str).
    """
    base = int(rng.integers(0, 5))
    if base == 4:
        v, c, s = sphere(int(rng.integers(6, 40)), int(rng.integers(4, 30)))
        if not blender:
            v = v * 100.0
        what = "sphere"
    else:
        parts = [("narrow",), ("head",), ("head", "eyeballs"), ("eyeballs",)][base]
        v, c, s = ict_mesh(parts, stride=int(rng.integers(2, 9)), blender=blender)
        what = "+".join(parts)
    sizes = np.asarray(s, np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    # a connected-ish patch: polygons whose first corner lies within a random ball, a few random holes
    first = v[c[starts]]
    centre = v[int(rng.integers(0, len(v)))]
    radius = float(rng.uniform(0.05, 1.2)) * float(np.ptp(v, axis=0).max())
    inside = np.linalg.norm(first - centre, axis=1) < radius
    keep = np.flatnonzero(inside & (rng.random(len(sizes)) > rng.choice([0.0, 0.02, 0.3])))
    c = np.concatenate([c[starts[i]:starts[i] + sizes[i]] for i in keep]) if len(keep) else np.zeros(0, np.int64)
    s = sizes[keep]
    v = v * float(np.exp(rng.uniform(np.log(1e-4), np.log(1e4)))) + rng.uniform(-50, 50, 3)
    v = v.copy()
    n = len(v)
    kind = int(rng.integers(0, 9))
    info = f"{what}, {len(s)} polygons"
    if kind == 0 and n:
        v[rng.integers(0, n, int(rng.integers(1, 5)))] = np.nan
        info += ", NaN coordinates"
    elif kind == 1 and n:
        v[rng.integers(0, n), int(rng.integers(0, 3))] = rng.choice([np.inf, -np.inf])
        info += ", infinite coordinate"
    elif kind == 2 and n:
        idx = rng.choice(n, max(1, n // 3), replace=False)
        v[idx] = v[idx[0]]
        info += ", a third of the vertices collapsed onto one point"
    elif kind == 3 and n:
        v[rng.integers(0, n, 3)] *= 1e12
        info += ", 3 vertices 1e12 away"
    elif kind == 4 and len(s):
        j = rng.choice(len(s), max(1, len(s) // 4))
        st = np.concatenate([[0], np.cumsum(s)[:-1]])
        c = np.concatenate([c] + [c[st[i]:st[i] + s[i]] for i in j])
        s = np.concatenate([s, s[j]])
        info += ", duplicated faces"
    elif kind == 5:
        v = v[:, :] * np.array([1.0, 1.0, 0.0])
        info += ", flattened to a plane"
    elif kind == 6 and len(s):
        c = flip_polygons(c, s)
        info += ", flipped winding"
    elif kind == 7:
        v = v + rng.normal(0, float(np.ptp(v[np.isfinite(v).all(1)], axis=0).max() if n else 1) * 0.05, v.shape)
        info += ", noisy"
    return v, np.asarray(c, np.int64), np.asarray(s, np.int64), info


# ============================================================================================== CSV builders
def csv_text(n_rows: int = 61, rate: int = 60, *, columns=None, seed: int = 0) -> str:
    """A Live Link Face CSV: Timecode, BlendShapeCount, the 52 ARKit columns (PascalCase), head/eye rotations."""
    from model_core.runtime.facs_names import ARKIT_NAMES
    cols = [n[0].upper() + n[1:] for n in ARKIT_NAMES] if columns is None else list(columns)
    extra = ["HeadYaw", "HeadPitch", "HeadRoll"]
    rng = np.random.default_rng(seed)
    lines = [",".join(["Timecode", "BlendShapeCount"] + cols + extra)]
    for i in range(n_rows):
        s, f = divmod(i, rate)
        vals = rng.uniform(0, 1, len(cols))
        lines.append(",".join([f"10:20:{30 + s:02d}:{f:02d}.000", "61"] + [f"{x:.5f}" for x in vals]
                              + ["0.1", "0.0", "-0.1"]))
    return "\n".join(lines) + "\n"


def corrupt_csv(text: str, rng) -> str:
    """One random corruption of a CSV text (what a broken export or an editor accident would do)."""
    lines = text.splitlines()
    kind = int(rng.integers(0, 10))
    if len(lines) < 2:                             # already cut down to (part of) the header
        return text[: int(rng.integers(0, len(text) + 1))]
    i = int(rng.integers(1, len(lines))) if len(lines) > 1 else 0
    cells = lines[i].split(",")
    j = int(rng.integers(0, len(cells)))
    if kind == 0:                                  # cut the file anywhere
        return text[: int(rng.integers(0, len(text)))]
    if kind == 1:                                  # a value becomes text / nan / inf / empty
        cells[j] = str(rng.choice(["oops", "nan", "inf", "-inf", "", "1e999", "0x10", "1,5"]))
    elif kind == 2:                                # a field dropped or added
        if rng.random() < 0.5 and len(cells) > 1:
            del cells[j]
        else:
            cells.insert(j, "0.5")
    elif kind == 3:                                # header damaged
        i = 0
        cells = lines[0].split(",")
        j = int(rng.integers(0, len(cells)))
        cells[j] = str(rng.choice(["", "Time code", "EyeBlinkLeft", "X" * 50]))
    elif kind == 4:                                # timecode damaged
        cells[0] = str(rng.choice(["", "12:34", "aa:bb:cc:dd", "99:99:99:99.9", "-1:00:00:00", "00:00:00:00"]))
    elif kind == 5:                                # two rows swapped / duplicated
        k = int(rng.integers(1, len(lines)))
        lines[i], lines[k] = lines[k], lines[i]
        return "\n".join(lines + [lines[k]]) + "\n"
    elif kind == 6:                                # random bytes in a cell
        cells[j] = "".join(chr(int(c)) for c in rng.integers(32, 0x2FF, 6))
    elif kind == 7:                                # huge / negative values
        cells[j] = str(rng.choice(["1e30", "-1e30", "12345678901234567890", "-0.0"]))
    elif kind == 8:                                # blank lines and trailing separators
        return "\n\n".join(lines) + ",\n"
    else:                                          # header only
        return lines[0] + "\n"
    lines[i] = ",".join(cells)
    return "\n".join(lines) + "\n"


# ============================================================================================== weights files
def write_bad_weights(folder, kind: str, good_stem) -> Path:
    """A broken copy of the weights pair ``good_stem`` (.npz + .json) in ``folder``; returns the .npz path.

    kind: 'missing', 'truncated', 'version', 'no-json', 'garbage', 'nan', 'truncated-json', 'shape', 'extra',
    'missing-array', 'dtype', 'checksum', 'json-list', 'json-keys', 'bad-config', 'version-0', 'version-str'.
    """
    import json
    import shutil
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    good_npz, good_json = Path(str(good_stem) + ".npz"), Path(str(good_stem) + ".json")
    npz, js = folder / f"{kind}.npz", folder / f"{kind}.json"
    if kind == "missing":
        return npz
    shutil.copy(good_npz, npz)
    shutil.copy(good_json, js)
    meta = json.loads(good_json.read_text())

    def rewrite_arrays(fn):
        with np.load(good_npz) as d:
            arrays = {k: d[k] for k in d.files}
        fn(arrays)
        np.savez(npz, **arrays)
        meta.pop("weights_sha256", None)
        js.write_text(json.dumps(meta))

    if kind == "truncated":
        data = good_npz.read_bytes()
        npz.write_bytes(data[: len(data) // 2])
    elif kind == "truncated-json":
        text = good_json.read_text()
        js.write_text(text[: len(text) // 2])
    elif kind in ("version", "version-0", "version-str"):
        meta["format_version"] = {"version": 99, "version-0": 0, "version-str": str(meta["format_version"])}[kind]
        js.write_text(json.dumps(meta))
    elif kind == "no-json":
        js.unlink()
    elif kind == "garbage":
        rng = np.random.default_rng(1)
        npz.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
        js.write_bytes(rng.integers(0, 256, 512, dtype=np.uint8).tobytes())
    elif kind == "nan":
        def f(a):
            k = sorted(a)[0]
            a[k] = a[k].copy()
            a[k].flat[0] = np.nan
        rewrite_arrays(f)
    elif kind == "shape":
        def f(a):
            k = sorted(a)[0]
            a[k] = np.zeros(tuple(s + 1 for s in a[k].shape), np.float32)
        rewrite_arrays(f)
    elif kind == "extra":
        rewrite_arrays(lambda a: a.__setitem__("bogus.weight", np.zeros(3, np.float32)))
    elif kind == "missing-array":
        rewrite_arrays(lambda a: a.pop(sorted(a)[0]))
    elif kind == "dtype":
        def f(a):
            k = sorted(a)[0]
            a[k] = a[k].astype(np.int32)
        rewrite_arrays(f)
    elif kind == "checksum":
        with np.load(good_npz) as d:
            arrays = {k: d[k] for k in d.files}
        k = sorted(arrays)[0]
        arrays[k] = arrays[k] * 1.5
        np.savez(npz, **arrays)                    # the json keeps the old sha256
    elif kind == "json-list":
        js.write_text("[1, 2, 3]")
    elif kind == "json-keys":
        js.write_text(json.dumps({"format_version": meta["format_version"]}))
    elif kind == "bad-config":
        meta["config"] = dict(meta["config"], z_dim=-5)
        js.write_text(json.dumps(meta))
    else:
        raise ValueError(f"unknown corruption {kind!r}")
    return npz


# ============================================================================================== Blender state
def _h(arr) -> str:
    return hashlib.sha1(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]


def _plain(v):
    for attr in ("to_dict", "to_list"):
        if hasattr(v, attr):
            return getattr(v, attr)()
    if hasattr(v, "name") and hasattr(v, "rna_type"):
        return f"<{type(v).__name__} {v.name}>"
    return v


def _props(idb) -> tuple:
    return tuple(sorted((k, repr(_plain(idb[k]))) for k in idb.keys() if k != "_RNA_UI"))


def _fcurve_state(fc) -> tuple:
    n = len(fc.keyframe_points)
    co = np.empty(2 * n, np.float32)
    ipo = np.empty(n, np.int32)
    if n:
        fc.keyframe_points.foreach_get("co", co)
        fc.keyframe_points.foreach_get("interpolation", ipo)
    grp = fc.group.name if fc.group is not None else ""
    return (n, _h(co), _h(ipo), bool(fc.mute), grp, fc.extrapolation, len(fc.modifiers))


def action_fcurves(action) -> list:
    """[(where, fcurve)] of every F-curve of ``action`` (legacy ``action.fcurves`` or slotted channelbags)."""
    out = []
    if hasattr(action, "layers"):
        for li, layer in enumerate(action.layers):
            for si, strip in enumerate(layer.strips):
                for cb in getattr(strip, "channelbags", []):
                    slot = getattr(cb, "slot", None)
                    where = f"{li}/{si}/{getattr(slot, 'identifier', '?')}"
                    out.extend((where, fc) for fc in cb.fcurves)
    if not hasattr(action, "layers") or not out:
        try:
            out.extend(("legacy", fc) for fc in action.fcurves)
        except AttributeError:
            pass
    return out


def _anim(prefix: str, idb, snap: dict) -> None:
    ad = getattr(idb, "animation_data", None)
    if ad is None:
        return
    slot = getattr(ad, "action_slot", None)
    snap[f"{prefix}/anim"] = (ad.action.name if ad.action else None, getattr(slot, "identifier", None),
                              len(ad.nla_tracks))
    for fc in ad.drivers:
        d = fc.driver
        vars_ = tuple((v.name, v.type, tuple((t.id.name if t.id else None, t.data_path,
                                              getattr(t, "transform_type", "")) for t in v.targets))
                      for v in d.variables)
        snap[f"{prefix}/driver/{fc.data_path}[{fc.array_index}]"] = (d.type, d.expression, vars_, bool(fc.mute),
                                                                     _fcurve_state(fc))


_ATTR_FIELD = {"FLOAT": "value", "INT": "value", "BOOLEAN": "value", "INT8": "value", "FLOAT_VECTOR": "vector",
               "FLOAT2": "vector", "FLOAT_COLOR": "color", "BYTE_COLOR": "color", "QUATERNION": "value",
               "INT32_2D": "value"}


def snapshot(*, weights: bool = True) -> dict:
    """Everything the user has in ``bpy.data`` that the add-on could touch, as {path: comparable value}.

    Paths: ``data/<collection>/<name>``, ``o/<object>/...`` (type, data, parent, transforms, mode, modifiers,
    vertex groups with a hash of every vertex's weights when ``weights``, custom properties), ``m/<mesh>/...``
    (topology, coordinates, attributes with a hash of their data, active/default colour, materials, custom
    properties), ``k/<mesh>/...`` (the shape keys: each block's slot, value, range, mute, relative key, vertex
    group, interpolation and a hash of its coordinates), ``<id>/anim`` and ``<id>/driver/...`` (animation data,
    drivers), ``a/<action>/fc/...`` (every F-curve's keyframes), ``scene/...`` (frames, fps).
    """
    import bpy
    snap: dict = {}
    for coll in ("objects", "meshes", "shape_keys", "actions", "materials", "collections", "libraries",
                 "cameras", "curves"):
        for idb in getattr(bpy.data, coll):
            snap[f"data/{coll}/{idb.name}"] = (idb.library.filepath if idb.library else None,)
    sc = bpy.context.scene
    snap["scene/frame"] = (sc.frame_current, sc.frame_subframe)
    snap["scene/range"] = (sc.frame_start, sc.frame_end)
    snap["scene/fps"] = (sc.render.fps, sc.render.fps_base)
    snap["scene/props"] = _props(sc)
    for ob in bpy.data.objects:
        p = f"o/{ob.name}"
        snap[p] = (ob.type, ob.data.name if ob.data else None, ob.parent.name if ob.parent else None)
        snap[p + "/matrix_world"] = tuple(round(x, 9) for row in ob.matrix_world for x in row)
        snap[p + "/trs"] = (tuple(ob.location), tuple(ob.rotation_euler), tuple(ob.scale), ob.rotation_mode)
        snap[p + "/mode"] = ob.mode
        snap[p + "/props"] = _props(ob)
        for i, md in enumerate(ob.modifiers):
            snap[f"{p}/modifier/{md.name}"] = (i, md.type, md.show_viewport, md.show_render,
                                              getattr(md, "levels", None), getattr(md, "vertex_group", None))
        for vg in ob.vertex_groups:
            snap[f"{p}/vgroup/{vg.name}"] = (vg.index, vg.lock_weight)
        if ob.type == "MESH" and weights and len(ob.vertex_groups):
            me = ob.data
            w = np.full((len(me.vertices), len(ob.vertex_groups)), -1.0, np.float32)
            for v in me.vertices:
                for g in v.groups:
                    if g.group < w.shape[1]:
                        w[v.index, g.group] = g.weight
            for vg in ob.vertex_groups:
                snap[f"{p}/vgroup/{vg.name}/weights"] = _h(w[:, vg.index])
        _anim(p, ob, snap)
    for me in bpy.data.meshes:
        p = f"m/{me.name}"
        n = len(me.vertices)
        co = np.empty(3 * n, np.float32)
        me.vertices.foreach_get("co", co)
        loops = np.empty(len(me.loops), np.int32)
        me.loops.foreach_get("vertex_index", loops)
        snap[p + "/topology"] = (n, len(me.edges), len(me.loops), len(me.polygons), _h(loops))
        snap[p + "/co"] = _h(co)
        ca = me.color_attributes
        snap[p + "/colors"] = (getattr(ca, "active_color_name", None), getattr(ca, "default_color_name", None))
        snap[p + "/materials"] = tuple(m.name if m else None for m in me.materials)
        snap[p + "/props"] = _props(me)
        for a in me.attributes:
            if a.name.startswith(".") or a.name == "position":
                continue
            entry = [a.domain, a.data_type]
            fld = _ATTR_FIELD.get(a.data_type)
            if fld is not None:
                try:
                    width = {"vector": 3 if a.data_type == "FLOAT_VECTOR" else 2, "color": 4}.get(fld, 1)
                    if a.data_type in ("QUATERNION",):
                        width = 4
                    dt = np.float32 if a.data_type not in ("INT", "BOOLEAN", "INT8", "INT32_2D") else np.int32
                    buf = np.empty(len(a.data) * width, dt if a.data_type != "BOOLEAN" else bool)
                    a.data.foreach_get(fld, buf)
                    entry.append(_h(buf))
                except (TypeError, RuntimeError, AttributeError):
                    pass
            snap[f"{p}/attr/{a.name}"] = tuple(entry)
        key = me.shape_keys
        if key is not None:
            kp = f"k/{me.name}"
            snap[kp] = (key.use_relative, key.reference_key.name if key.reference_key else None)
            buf = np.empty(3 * n, np.float32)
            for i, kb in enumerate(key.key_blocks):
                snap[f"{kp}/kb/{kb.name}"] = (i, kb.value, kb.slider_min, kb.slider_max, kb.mute,
                                              kb.relative_key.name if kb.relative_key else None, kb.vertex_group,
                                              kb.interpolation)
                if len(kb.points) == n:
                    kb.points.foreach_get("co", buf)
                    snap[f"{kp}/kb/{kb.name}/co"] = _h(buf)
            _anim(kp, key, snap)
    for act in bpy.data.actions:
        for where, fc in action_fcurves(act):
            snap[f"a/{act.name}/fc/{where}/{fc.data_path}[{fc.array_index}]"] = _fcurve_state(fc)
    return snap


def diff(before: dict, after: dict) -> dict:
    """{'added': [...], 'removed': [...], 'changed': [...]} (sorted paths)."""
    return {"added": sorted(set(after) - set(before)), "removed": sorted(set(before) - set(after)),
            "changed": sorted(k for k in set(before) & set(after) if before[k] != after[k])}


def violations(before: dict, after: dict, allow=()) -> list:
    """Differences not matching any fnmatch pattern in ``allow`` (each as 'added|removed|changed path')."""
    d = diff(before, after)
    out = []
    for kind in ("added", "removed", "changed"):
        for path in d[kind]:
            if not any(fnmatch.fnmatchcase(path, pat) for pat in allow):
                out.append(f"{kind} {path}")
    return out


def literal(text: str) -> str:
    """``text`` escaped for fnmatch (brackets, * and ? match themselves)."""
    return "".join(f"[{ch}]" if ch in "[]*?" else ch for ch in text)


def key_paths(mesh_name: str, names) -> list:
    """Allow-patterns for the shape keys ``names`` of a mesh and their F-curves / values."""
    pats = []
    for n in names:
        pats += [literal(f"k/{mesh_name}/kb/{n}"), literal(f"k/{mesh_name}/kb/{n}/co"),
                 "a/*/fc/*/" + literal(f'key_blocks["{n}"].value[0]')]
    return pats


def call(op: str, **kw):
    """Run ``bpy.ops.<op>`` with EXEC_DEFAULT and an undo push. Returns (sorted result list or None, message)."""
    import bpy
    mod, name = op.split(".")
    fn = getattr(getattr(bpy.ops, mod), name)
    try:
        return sorted(fn("EXEC_DEFAULT", True, **kw)), ""
    except RuntimeError as exc:
        return None, str(exc)


def classify(res, msg: str) -> str:
    """'result' | 'error' | 'refused' | 'crash' (a traceback) | 'bad-report' (several / no ERROR lines) |
    'silent' (cancelled without a report)."""
    if res == ["FINISHED"]:
        return "result"
    if res is None:
        if "Traceback" in msg or "Python:" in msg:
            return "crash"
        if msg.startswith("Operator bpy.ops.") and ".poll()" in msg:
            return "refused"
        n_errors = sum(1 for ln in msg.splitlines() if ln.startswith("Error:"))
        return "error" if n_errors == 1 else "bad-report"
    return "silent"


def attempt(op: str, *, allow=(), undo: bool = True, weights: bool = True, **kw) -> dict:
    """Run an operator between two snapshots.

    Returns a JSON-able dict: outcome (``classify``), message, seconds, violations (differences outside
    ``allow`` for a result; every difference otherwise), added / changed counts, and for a result with ``undo``:
    undo_diff (differences between the state after Undo and before; [] = exact) and redo_diff (after Redo vs
    the result; [] = exact).
    """
    import bpy
    before = snapshot(weights=weights)
    bpy.ops.ed.undo_push(message="robustness: before")
    t0 = time.perf_counter()
    res, msg = call(op, **kw)
    dt = time.perf_counter() - t0
    after = snapshot(weights=weights)
    outcome = classify(res, msg)
    d = diff(before, after)
    out = {"outcome": outcome, "message": msg.strip(), "seconds": round(dt, 3),
           "violations": violations(before, after, allow if outcome == "result" else ())[:20],
           "added": d["added"][:200], "changed": d["changed"][:200]}
    if outcome == "result" and undo:
        bpy.ops.ed.undo()
        undone = snapshot(weights=weights)
        u = diff(before, undone)
        out["undo_diff"] = (u["added"] + u["removed"] + u["changed"])[:20]
        out["undo_detail"] = {k: [repr(before.get(k)), repr(undone.get(k))] for k in u["changed"][:3]}
        bpy.ops.ed.redo()
        redone = snapshot(weights=weights)
        r = diff(after, redone)
        out["redo_diff"] = (r["added"] + r["removed"] + r["changed"])[:20]
        out["redo_detail"] = {k: [repr(after.get(k)), repr(redone.get(k))] for k in r["changed"][:3]}
    return out


def run_cases(funcs: dict) -> dict:
    """Run {case id: callable} each isolated: an exception in a case becomes {'harness_error': traceback}."""
    import traceback
    out = {}
    for cid, fn in funcs.items():
        t0 = time.perf_counter()
        try:
            out[cid] = fn()
        except Exception:
            out[cid] = {"harness_error": traceback.format_exc()[-3000:]}
        if isinstance(out[cid], dict):
            out[cid].setdefault("case_seconds", round(time.perf_counter() - t0, 3))
    return out


# ---------------------------------------------------------------------------------------------- Blender builders
def activate(ob) -> None:
    import bpy
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = ob
    if ob is not None:
        ob.select_set(True)


def new_object(name, verts, corners=None, sizes=None, *, edges=None, location=(0.0, 0.0, 0.0),
               rotation=(0.0, 0.0, 0.0), scale=(1.0, 1.0, 1.0), parent=None, validate: bool = False):
    """A mesh object from numpy arrays (polygons given as corners + sizes; or only ``edges`` (E, 2); or only
    vertices), linked to the scene. ``validate`` runs ``Mesh.validate`` (which would remove degenerate or
    duplicate faces: off by default)."""
    import bpy
    me = bpy.data.meshes.new(name)
    v = np.asarray(verts, np.float64)
    me.vertices.add(len(v))
    if len(v):
        me.vertices.foreach_set("co", np.ascontiguousarray(v, np.float32).ravel())
    if edges is not None and len(edges):
        me.edges.add(len(edges))
        me.edges.foreach_set("vertices", np.ascontiguousarray(edges, np.int32).ravel())
    if corners is not None and len(sizes):
        sizes = np.asarray(sizes, np.int64)
        me.loops.add(len(corners))
        me.loops.foreach_set("vertex_index", np.ascontiguousarray(corners, np.int32))
        me.polygons.add(len(sizes))
        me.polygons.foreach_set("loop_start", np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32))
        try:
            me.polygons.foreach_set("loop_total", sizes.astype(np.int32))
        except (AttributeError, TypeError, RuntimeError):
            pass
    me.update(calc_edges=corners is not None)
    if validate:
        me.validate()
    ob = bpy.data.objects.new(name, me)
    bpy.context.scene.collection.objects.link(ob)
    ob.location, ob.rotation_euler, ob.scale = location, rotation, scale
    if parent is not None:
        ob.parent = parent
    bpy.context.view_layer.update()
    return ob


def mesh_keys(ob) -> dict:
    """{name: (N, 3) float64} of every shape key of ``ob`` (object space)."""
    out = {}
    me = ob.data
    n = len(me.vertices)
    if me.shape_keys is None:
        return out
    buf = np.empty(3 * n, np.float32)
    for kb in me.shape_keys.key_blocks:
        kb.points.foreach_get("co", buf)
        out[kb.name] = buf.reshape(n, 3).astype(np.float64)
    return out


def world_deltas(ob, names) -> np.ndarray:
    """(K, N, 3) world-space displacements of shape keys ``names`` relative to the reference key."""
    keys = mesh_keys(ob)
    ref = keys[ob.data.shape_keys.reference_key.name]
    m3 = np.array(ob.matrix_world, dtype=np.float64)[:3, :3]
    return np.stack([(keys[n] - ref) @ m3.T for n in names])


def group_weights(ob, prefix: str = "NFS_") -> np.ndarray:
    """(N, G) weights of the vertex groups whose name starts with ``prefix`` (0 where unassigned)."""
    me = ob.data
    cols = {vg.index: j for j, vg in enumerate(g for g in ob.vertex_groups if g.name.startswith(prefix))}
    w = np.zeros((len(me.vertices), len(cols)))
    for v in me.vertices:
        for g in v.groups:
            j = cols.get(g.group)
            if j is not None:
                w[v.index, j] = g.weight
    return w


if __name__ == "__main__":
    write_doc(DOC if len(sys.argv) < 2 else Path(sys.argv[1]))
    print(f"wrote {DOC if len(sys.argv) < 2 else sys.argv[1]} ({len(CASES)} cases)")
