"""ICT-FaceKit loading, heads and crops against the raw arrays."""
import numpy as np
import pytest

from model_core.dataset.ict import CROPS, default_npz_path, load_ict, read_obj_polygons
from model_core.runtime.mesh import face_areas, triangulate_polygons



def test_head_matches_raw_arrays(ict):
    raw = np.load(default_npz_path())
    rng = np.random.default_rng(0)
    c, w = rng.standard_normal(100), rng.uniform(0, 1, 53)
    v, f = ict.head(c, w, crop=None)
    ref = raw["neutral"].astype(np.float64) + np.einsum("i,ivc->vc", c, raw["identity_modes"]) \
        + np.einsum("k,kvc->vc", w, raw["expression_modes"])
    assert f is None and v.shape == (26719, 3)
    assert np.abs(v - ref).max() < 1e-5


@pytest.mark.parametrize("crop", sorted(CROPS))
def test_crops_are_reindexed_and_preserve_area(ict, crop):
    n_v, n_p = CROPS[crop]
    v, f = ict.head(None, None, crop)
    assert v.shape == (n_v, 3) and f.min() == 0 and f.max() == n_v - 1
    assert len(np.unique(f)) == n_v  # every crop vertex is used
    # area of the polygons computed independently (quads split along the other diagonal)
    sizes = ict.face_sizes[:n_p]
    corners = ict.corner_indices[: int(sizes.sum())]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    area = 0.0
    for s, k in zip(starts, sizes):
        poly = v[corners[s:s + k]]
        nrm = np.zeros(3)
        for i in range(k):  # Newell's method: exact area of a planar polygon
            nrm += np.cross(poly[i], poly[(i + 1) % k])
        area += 0.5 * np.linalg.norm(nrm)
    tri_area = face_areas(v, f).sum()
    assert abs(tri_area - area) / area < 2e-3  # quads are slightly non-planar; triangulation differs by < 0.2 %


def test_triangulate_polygons_fans():
    tris, poly = triangulate_polygons([0, 1, 2, 3, 4, 5, 6], [4, 3])
    assert tris.tolist() == [[0, 1, 2], [0, 2, 3], [4, 5, 6]] and poly.tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="corners"):
        triangulate_polygons([0, 1, 2], [4])


def test_bad_coefficients_raise(ict):
    with pytest.raises(ValueError, match=r"shape \(100,\)"):
        ict.head(np.zeros(10))
    with pytest.raises(ValueError, match="NaN"):
        ict.head(np.full(100, np.nan))
    with pytest.raises(ValueError, match="unknown crop"):
        ict.head(crop="ears")


def test_missing_data_folder_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="NFS_ICT_DIR"):
        load_ict(tmp_path / "nowhere", cache=False)


def test_facex_obj_folder_gives_same_arrays(tmp_path):
    """A tiny FaceXModel-style folder (real layout, tiny mesh) loads into the same fields."""
    import json
    rng = np.random.default_rng(1)
    verts = rng.standard_normal((5, 3)).astype(np.float32)
    names = [f"expr{i}" for i in range(53)]

    def write(name, v):
        with open(tmp_path / f"{name}.obj", "w") as fh:
            fh.writelines(f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in v)
            fh.write("f 1/1 2/2 3/3 4/4\nf 1 4 5\n")
    write("generic_neutral_mesh", verts)
    id_d = rng.standard_normal((100, 5, 3)).astype(np.float32) * 0.1
    ex_d = rng.standard_normal((53, 5, 3)).astype(np.float32) * 0.1
    for i in range(100):
        write(f"identity{i:03d}", verts + id_d[i])
    for i, n in enumerate(names):
        write(n, verts + ex_d[i])
    (tmp_path / "vertex_indices.json").write_text(json.dumps({"expressions": names, "idx_to_landmark_verts": [0, 1]}))
    m = load_ict(tmp_path, cache=False)
    assert m.expression_names == names and m.landmarks.tolist() == [0, 1]
    assert np.allclose(m.identity_modes, id_d, atol=1e-5) and np.allclose(m.expression_modes, ex_d, atol=1e-5)
    assert m.face_sizes.tolist() == [4, 3]
    v, c, s = read_obj_polygons(tmp_path / "generic_neutral_mesh.obj")
    assert c.tolist() == [0, 1, 2, 3, 0, 3, 4]
