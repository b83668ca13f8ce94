"""HDF5 artifacts: round trips, validation messages, atomic writes."""
import h5py
import numpy as np
import pytest
import torch

from npeff import io
from npeff.decompose import Decomposition
from npeff.runtime import is_timing_attribute


def test_pefs_round_trip(tmp_path):
    G = torch.randn(5, 2, 8)
    path = io.write_pefs(tmp_path / "p.h5", G, torch.rand(5), torch.log_softmax(torch.randn(5, 3), 1),
                         torch.tensor([0, 1, 2, -1, 0]), {"model": "tiny", "projection_seed": 3, "rows": "lrm",
                                                          "param_exclude": ["*embed*", "*norm*"], "svd_rank": None})
    arrays, attrs = io.read_pefs(path)
    np.testing.assert_array_equal(arrays["G"], G.numpy())
    assert arrays["preds"].dtype.kind == "i" and arrays["preds"].shape == (5,)
    assert attrs["kind"] == "pefs" and attrs["model"] == "tiny" and attrs["projection_seed"] == 3
    assert attrs["param_exclude"] == ["*embed*", "*norm*"] and "svd_rank" not in attrs


def test_forwarded_attributes_cannot_overwrite_the_kind(tmp_path):
    source_attrs = {"kind": "pefs", "npeff_version": "0.0.0", "projection_seed": 4}
    path = io.write_coefficients(tmp_path / "c.h5", torch.rand(4, 2), torch.rand(4), source_attrs)
    _, attrs = io.read_coefficients(path)
    assert attrs["kind"] == "coefficients" and attrs["npeff_version"] != "0.0.0" and attrs["projection_seed"] == 4


def test_many_example_ids_are_stored_as_a_dataset(tmp_path):
    ids = [f"yahoo_answers_topics-{i}" for i in range(100_000)]  # far past HDF5's 64 KiB attribute limit
    path = io.write_coefficients(tmp_path / "c.h5", torch.rand(100_000, 2), torch.rand(100_000), {}, ids=ids)
    arrays, _ = io.read_coefficients(path)
    assert list(arrays["ids"][:2]) == ids[:2] and len(arrays["ids"]) == 100_000
    with pytest.raises(io.ArtifactError, match="dimension 'm' is 3 in 'ids'"):
        io.write_coefficients(tmp_path / "bad.h5", torch.rand(4, 2), torch.rand(4), {}, ids=["a", "b", "c"])


def test_decomposition_and_recovered_round_trip(tmp_path):
    dec = Decomposition(W=torch.rand(6, 3), H=torch.randn(3, 10), loss_history=[1.0, 0.5],
                        pef_norms=torch.rand(6), step_seconds=[0.1, 0.1], n_h_only_steps=1)
    arrays, attrs = io.read_decomposition(io.write_decomposition(tmp_path / "d.h5", dec, {"n_components": 3}))
    np.testing.assert_allclose(arrays["H"], dec.H.numpy())
    assert attrs["n_h_only_steps"] == 1
    vectors = np.zeros((2, 50), np.float32)
    vectors[0, [3, 7]] = [1.5, -2.0]
    vectors[1, 49] = 4.0
    ids, dense, attrs = io.read_recovered(io.write_recovered(tmp_path / "r.h5", [4, 9], vectors, {}))
    assert ids.tolist() == [4, 9] and attrs["n_parameters"] == 50
    np.testing.assert_array_equal(dense, vectors)
    # a decomposition without an eligible component: an empty file, not a failed run
    ids, dense, attrs = io.read_recovered(io.write_recovered(tmp_path / "e.h5", [], [], {"fpc_iterations": []},
                                                             n_parameters=50))
    assert ids.shape == (0,) and dense.shape == (0, 50) and attrs["fpc_iterations"] == []


def test_wrong_kind_missing_dataset_and_mismatched_dims_are_named(tmp_path):
    path = io.write_coefficients(tmp_path / "c.h5", torch.rand(4, 2), torch.rand(4), {})
    with pytest.raises(io.ArtifactError, match="expected a 'pefs' artifact.*kind='coefficients'"):
        io.read_pefs(path)
    with h5py.File(path, "a") as f:
        del f["reconstruction_loss"]
    with pytest.raises(io.ArtifactError, match="lacks dataset 'reconstruction_loss'"):
        io.read_coefficients(path)
    with pytest.raises(io.ArtifactError, match="dimension 'm' is 3 in 'reconstruction_loss' but 4 in 'W'"):
        io.write_coefficients(tmp_path / "bad.h5", torch.rand(4, 2), torch.rand(3), {})
    with pytest.raises(io.ArtifactError, match="dims"):
        io.write_coefficients(tmp_path / "bad.h5", torch.rand(4), torch.rand(4), {})
    assert not (tmp_path / "bad.h5").exists()
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(io.ArtifactError, match="not a readable HDF5"):
        io.read_coefficients(tmp_path / "junk.h5")
    with pytest.raises(io.ArtifactError, match="no such file"):
        io.read_coefficients(tmp_path / "missing.h5")


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(h5py.Group, "create_dataset", explode)
    with pytest.raises(KeyboardInterrupt):
        io.write_coefficients(tmp_path / "c.h5", torch.rand(4, 2), torch.rand(4), {})
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_the_old_file_and_no_temporary_when_a_write_fails(tmp_path):
    from npeff._atomic import atomic_path

    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]
    folder = tmp_path / "model"
    for content in ("first", "second"):  # a folder replaces the previous one whole
        with atomic_path(folder) as tmp:
            tmp.mkdir()
            (tmp / "weights").write_text(content)
    assert (folder / "weights").read_text() == "second" and len(list(tmp_path.iterdir())) == 2


def test_the_next_write_removes_a_temporary_left_by_a_killed_writer(tmp_path):
    from npeff._atomic import atomic_path

    (tmp_path / ".heldin.tmp-424242.h5").write_text("half, from a writer killed with SIGKILL")
    (tmp_path / ".model.tmp-424242").mkdir()
    (tmp_path / ".other.tmp-424242.h5").write_text("another output's: not ours to touch")
    with atomic_path(tmp_path / "heldin.h5") as tmp:
        tmp.write_text("whole")
    with atomic_path(tmp_path / "model") as tmp:
        tmp.mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-424242.h5", "heldin.h5", "model"]


def damaged_pefs(tmp_path, damage):
    """A valid PEF file with 4,096-dim rows, then `damage(h5py.File)` applied in place."""
    path = io.write_pefs(tmp_path / "p.h5", torch.rand(3, 2, 4096), torch.rand(3), torch.rand(3, 2).log(),
                         torch.tensor([0, 1, 0]), {"projection_out_dim": 4096}, ids=["a", "b", "c"])
    with h5py.File(path, "a") as f:
        damage(f)
    return path


def test_non_finite_values_are_named_with_the_file_and_the_first_bad_example(tmp_path):
    def nan_in_second_example(f):
        G = f["G"][()]
        G[1, 0, 7] = np.nan
        f["G"][...] = G

    path = damaged_pefs(tmp_path, nan_in_second_example)
    with pytest.raises(io.ArtifactError, match=r"p\.h5: dataset 'G' holds NaN or Inf \(first at example 1, id 'b'\)"):
        io.read_pefs(path)
    with pytest.raises(io.ArtifactError, match="'W' holds NaN or Inf"):
        io.write_coefficients(tmp_path / "c.h5", torch.tensor([[0.0, float("inf")]]), torch.rand(1), {})
    assert not (tmp_path / "c.h5").exists()
    with pytest.raises(io.ArtifactError, match="'H' holds NaN or Inf"):
        io.write_decomposition(tmp_path / "d.h5", Decomposition(W=torch.ones(2, 1), H=torch.full((1, 3), torch.nan),
                                                                loss_history=[1.0], pef_norms=torch.ones(2)), {})


def test_a_last_axis_that_disagrees_with_the_files_projection_is_named(tmp_path):
    def cut_rows(f):
        G = f["G"][()]
        del f["G"]
        f["G"] = G[:, :, :100]

    with pytest.raises(io.ArtifactError, match="dimension 'd' of 'G' is 100 but the file's attribute "
                                               "projection_out_dim is 4096"):
        io.read_pefs(damaged_pefs(tmp_path, cut_rows))


def test_concatenated_parts_equal_one_file_written_whole(tmp_path):
    G, norms = torch.randn(7, 2, 8), torch.rand(7)
    log_probs, labels = torch.log_softmax(torch.randn(7, 3), 1), torch.tensor([0, 1, 2, 0, 1, 2, 0])
    ids = [f"ex{i}" for i in range(7)]
    attrs = {"model": "tiny", "projection_seed": 3}
    whole = io.write_pefs(tmp_path / "whole.h5", G, norms, log_probs, labels, {**attrs, "seconds_per_example_pef": 0.5},
                          ids)
    parts = [io.write_pefs(tmp_path / f"part{k}.h5", G[lo:hi], norms[lo:hi], log_probs[lo:hi], labels[lo:hi],
                           {**attrs, **({"seconds_per_example_pef": 0.5} if lo == 0 else {})}, ids[lo:hi])
             for k, (lo, hi) in enumerate([(0, 3), (3, 6), (6, 7)])]
    joined = io.concatenate_artifacts(parts, tmp_path / "joined.h5", per_part=is_timing_attribute)
    (want, want_attrs), (got, got_attrs) = io.read_pefs(whole), io.read_pefs(joined)
    assert sorted(got) == sorted(want) and got_attrs == want_attrs
    for name in want:
        assert np.array_equal(got[name], want[name]), name


def test_parts_with_different_settings_are_not_concatenated(tmp_path):
    def part(name, seed):
        return io.write_pefs(tmp_path / name, torch.randn(2, 1, 4), torch.rand(2), torch.log_softmax(torch.randn(2, 2), 1),
                             torch.tensor([0, 1]), {"projection_seed": seed})

    with pytest.raises(io.ArtifactError, match=r"b\.h5: cannot be concatenated with .*a\.h5: attributes \['projection_seed'\]"):
        io.concatenate_artifacts([part("a.h5", 0), part("b.h5", 1)], tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()
