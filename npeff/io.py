"""HDF5 artifacts: one schema, writer and reader per kind.

Every file records its `kind`, the code version and every setting as
attributes. Readers (and writers) check the kind, the datasets' presence, rank
and dtype, that named dimensions agree across datasets (e.g. G's m equals W's m)
and with the file's own attributes (d equals the projection's out_dim), and that
the values the math needs are finite, and say exactly what is wrong and where.
Writers write to a hidden temporary file in the same folder and rename it at the
end, so an interrupted job never leaves a file that looks complete.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from npeff import __version__
from npeff._atomic import atomic_path


@dataclass(frozen=True)
class Field:
    dims: tuple[str, ...]  # named dimensions, checked for agreement across fields
    dtype: str  # numpy kind: "f" float, "i" integer, "S" string
    required: bool = True
    finite: bool = False  # NaN / Inf is an error (values every later step computes with)


SCHEMAS: dict[str, dict[str, Field]] = {
    # per-example representations: LRM-PEFs (R rows), gradients (R = 1)
    "pefs": {
        "G": Field(("m", "R", "d"), "f", finite=True),
        "pef_norms": Field(("m",), "f", finite=True),
        "log_probs": Field(("m", "r"), "f"),
        "preds": Field(("m",), "i"),
        "labels": Field(("m",), "i"),
        "ids": Field(("m",), "S", required=False),  # a dataset: HDF5 attributes stop at 64 KiB
        # exact eigenvalues of G G^T (= the PEF's nonzero spectrum), descending; Figure 3
        "gram_eigenvalues": Field(("m", "R"), "f", required=False, finite=True),
    },
    "activations": {
        "acts": Field(("m", "h"), "f", finite=True),
        "log_probs": Field(("m", "r"), "f"),
        "preds": Field(("m",), "i"),
        "labels": Field(("m",), "i"),
        "ids": Field(("m",), "S", required=False),
    },
    "decomposition": {
        "W": Field(("m", "C"), "f", finite=True),
        "H": Field(("C", "d"), "f", finite=True),
        "loss_history": Field(("steps",), "f"),
        "step_seconds": Field(("steps",), "f"),
        "pef_norms": Field(("m",), "f", required=False, finite=True),  # absent for the SAE (activations)
    },
    "coefficients": {
        "W": Field(("m", "C"), "f", finite=True),
        "reconstruction_loss": Field(("m",), "f", finite=True),
        "ids": Field(("m",), "S", required=False),
    },
    # sparse parameter-space vectors, CSR over components
    "recovered": {
        "component_ids": Field(("k",), "i"),
        "indptr": Field(("k1",), "i"),
        "indices": Field(("nnz",), "i"),
        "values": Field(("nnz",), "f", finite=True),
    },
}


class ArtifactError(ValueError):
    """An HDF5 file that is not the artifact it should be."""


def write_artifact(path, kind: str, arrays: dict, attrs: dict) -> Path:
    """Validate `arrays` against SCHEMAS[kind] and write them atomically with `attrs`."""
    path = Path(path)
    arrays = {k: _to_numpy(v) for k, v in arrays.items() if v is not None}
    _validate(kind, arrays, str(path), attrs)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for key, value in attrs.items():
            if value is not None:
                f.attrs[key] = _attr_value(value)
        # last, so attributes forwarded from a source file cannot claim its kind or version
        f.attrs["kind"] = kind
        f.attrs["npeff_version"] = __version__
        for name, arr in arrays.items():
            f.create_dataset(name, data=arr)
    return path


def read_artifact(path, kind: str) -> tuple[dict[str, np.ndarray], dict]:
    """Read and validate an artifact: (datasets, attributes)."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: no such file (expected a '{kind}' artifact)")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ArtifactError(f"{path}: not a readable HDF5 file ({err})") from err
    with f:
        found = f.attrs.get("kind")
        if found != kind:
            raise ArtifactError(f"{path}: expected a '{kind}' artifact, the file says kind={found!r}")
        arrays = {name: _decode(f[name][()]) for name in f.keys()}
        attrs = {k: _from_attr(v) for k, v in f.attrs.items()}
    _validate(kind, arrays, str(path), attrs)
    return arrays, attrs


# dimension -> the attribute that fixes its size, where a file has it
_DIM_ATTRS = {"d": "projection_out_dim"}


def _validate(kind: str, arrays: dict[str, np.ndarray], where: str, attrs: dict) -> None:
    if kind not in SCHEMAS:
        raise ArtifactError(f"{where}: unknown artifact kind {kind!r}; known: {sorted(SCHEMAS)}")
    sizes: dict[str, tuple[int, str]] = {}
    for name, field in SCHEMAS[kind].items():
        if name not in arrays:
            if field.required:
                raise ArtifactError(f"{where}: '{kind}' artifact lacks dataset '{name}'")
            continue
        arr = arrays[name]
        if arr.ndim != len(field.dims):
            raise ArtifactError(f"{where}: dataset '{name}' should have dims {field.dims}, got shape {arr.shape}")
        allowed = {"f": "f", "i": "iu", "S": "SUO"}[field.dtype]
        if arr.dtype.kind not in allowed:
            raise ArtifactError(f"{where}: dataset '{name}' should be of kind '{field.dtype}', got {arr.dtype}")
        for dim, size in zip(field.dims, arr.shape):
            if dim in sizes and sizes[dim][0] != size:
                other_size, other = sizes[dim]
                raise ArtifactError(f"{where}: dimension '{dim}' is {size} in '{name}' but {other_size} in '{other}'")
            sizes.setdefault(dim, (size, name))
        if field.finite and arr.size and not np.isfinite(arr).all():
            bad = np.argwhere(~np.isfinite(arr))[0]
            first = f"index {tuple(int(i) for i in bad)}"
            if field.dims[0] == "m":
                first = f"example {bad[0]}" + (f", id {arrays['ids'][bad[0]]!r}" if "ids" in arrays else "")
            raise ArtifactError(f"{where}: dataset '{name}' holds NaN or Inf (first at {first})")
    for dim, attr in _DIM_ATTRS.items():
        if dim in sizes and attrs.get(attr) is not None and int(attrs[attr]) != sizes[dim][0]:
            raise ArtifactError(f"{where}: dimension '{dim}' of '{sizes[dim][1]}' is {sizes[dim][0]} but the "
                                f"file's attribute {attr} is {attrs[attr]}")


def _to_numpy(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu()
        a = a.float() if a.is_floating_point() else a.long()
        return a.numpy()
    a = np.asarray(a)
    if a.dtype.kind in "UO":  # strings: variable-length UTF-8 in HDF5
        return a.astype(object).astype(h5py.string_dtype())
    return a.astype(np.float32) if a.dtype.kind == "f" else a


def _decode(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "O":
        return np.array([v.decode() if isinstance(v, bytes) else v for v in a], dtype=object)
    return a


def _attr_value(value):
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, str) for v in value):
            return np.array([str(v) for v in value], dtype=h5py.string_dtype())
        return np.array(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _from_attr(value):
    if isinstance(value, np.ndarray):
        return [v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def concatenate_artifacts(paths, out_path, per_part=lambda attr: False) -> Path:
    """Concatenate per-example artifacts of one kind along their examples, in the order given, into
    `out_path`, holding one part in memory at a time (a split's PEFs can exceed memory). Their
    attributes must agree except those `per_part(name)` picks (e.g. timings only one part measured),
    which are taken from the first part that has them. Each part is validated as it is read."""
    paths = list(paths)
    if not paths:
        raise ArtifactError(f"{out_path}: no parts to concatenate")
    heads = [_header(path) for path in paths]  # (attrs, {dataset: (shape, dtype)}) per part
    first_attrs, first_layout = heads[0]
    kind = first_attrs.get("kind")
    if kind not in SCHEMAS or any(field.dims[0] != "m" for field in SCHEMAS[kind].values()):
        raise ArtifactError(f"{paths[0]}: a '{kind}' artifact is not per-example; it cannot be concatenated")
    shared = {k: v for k, v in first_attrs.items() if not per_part(k)}
    for path, (attrs, layout) in zip(paths[1:], heads[1:]):
        differing = sorted(k for k in set(shared) | set(attrs)
                           if not per_part(k) and attrs.get(k) != shared.get(k))
        shapes_differ = {name: shape[1:] for name, (shape, _) in layout.items()} != \
                        {name: shape[1:] for name, (shape, _) in first_layout.items()}
        if differing or shapes_differ:
            raise ArtifactError(f"{path}: cannot be concatenated with {paths[0]}: attributes {differing} differ"
                                + (f", or datasets {layout} vs {first_layout}" if shapes_differ else ""))
    attrs = dict(shared)
    for part_attrs, _ in reversed(heads):
        attrs.update({k: v for k, v in part_attrs.items() if per_part(k)})
    n_total = sum(next(iter(layout.values()))[0][0] for _, layout in heads)
    with atomic_path(Path(out_path)) as tmp, h5py.File(tmp, "w") as f:
        for key, value in attrs.items():
            if value is not None:
                f.attrs[key] = _attr_value(value)
        f.attrs["kind"], f.attrs["npeff_version"] = kind, __version__
        out = {name: f.create_dataset(name, shape=(n_total, *shape[1:]), dtype=dtype)
               for name, (shape, dtype) in first_layout.items()}
        first = 0
        for path in paths:
            arrays, _ = read_artifact(path, kind)
            m = len(next(iter(arrays.values())))
            for name, arr in arrays.items():
                out[name][first:first + m] = _to_numpy(arr)
            first += m
    return Path(out_path)


def _header(path) -> tuple[dict, dict]:
    """An artifact's attributes and {dataset: (shape, dtype)}, without reading its data."""
    try:
        with h5py.File(path, "r") as f:
            return ({k: _from_attr(v) for k, v in f.attrs.items()},
                    {name: (f[name].shape, f[name].dtype) for name in f.keys()})
    except OSError as err:
        raise ArtifactError(f"{path}: not a readable HDF5 file ({err})") from err


# ------------------------------------------------------------ per-kind helpers
def write_pefs(path, G, pef_norms, log_probs, labels, attrs: dict, ids=None, gram_eigenvalues=None) -> Path:
    """G [m, R, d]; pef_norms [m]; log_probs [m, r]; labels [m] (-1 when unknown); ids [m] strings;
    gram_eigenvalues [m, R] (optional, descending)."""
    preds = _to_numpy(log_probs).argmax(1)
    return write_artifact(path, "pefs", {"G": G, "pef_norms": pef_norms, "log_probs": log_probs,
                                         "preds": preds, "labels": labels, "ids": ids,
                                         "gram_eigenvalues": gram_eigenvalues}, attrs)


def read_pefs(path):
    return read_artifact(path, "pefs")


def write_decomposition(path, decomposition, attrs: dict) -> Path:
    """A npeff.decompose.Decomposition with its settings."""
    return write_artifact(path, "decomposition", {
        "W": decomposition.W, "H": decomposition.H,
        "loss_history": np.asarray(decomposition.loss_history, np.float32),
        "step_seconds": np.asarray(decomposition.step_seconds, np.float32),
        "pef_norms": decomposition.pef_norms,
    }, {"n_h_only_steps": decomposition.n_h_only_steps, **attrs})


def read_decomposition(path):
    return read_artifact(path, "decomposition")


def write_coefficients(path, W, reconstruction_loss, attrs: dict, ids=None) -> Path:
    return write_artifact(path, "coefficients", {"W": W, "reconstruction_loss": reconstruction_loss, "ids": ids},
                          attrs)


def read_coefficients(path):
    return read_artifact(path, "coefficients")


def write_recovered(path, component_ids, vectors, attrs: dict, n_parameters: int | None = None) -> Path:
    """Sparse parameter-space vectors stored as CSR: vectors [k, n], or k rows [n] each
    (torch or numpy). k may be 0 when n_parameters is given (a decomposition with no
    eligible component)."""
    rows = [_to_numpy(v).reshape(-1) for v in vectors]
    if not rows and n_parameters is None:
        raise ValueError(f"{path}: no vectors to write and no n_parameters")
    n = rows[0].shape[0] if rows else n_parameters
    for row in rows:
        if row.shape[0] != n:
            raise ValueError(f"{path}: rows have different lengths ({row.shape[0]} vs {n})")
    sparse = [(np.flatnonzero(row), row[np.flatnonzero(row)]) for row in rows]
    return write_recovered_sparse(path, component_ids, sparse, n, attrs)


def write_recovered_sparse(path, component_ids, rows, n_parameters: int, attrs: dict) -> Path:
    """Like write_recovered, from rows given as (indices, values) pairs: a caller with
    hundreds of millions of parameters never holds a dense row per component."""
    indptr = np.cumsum([0] + [len(idx) for idx, _ in rows]).astype(np.int64)
    return write_artifact(path, "recovered", {
        "component_ids": np.asarray(component_ids, np.int64), "indptr": indptr,
        "indices": np.concatenate([np.asarray(i) for i, _ in rows] or [np.zeros(0)]).astype(np.int64),
        "values": np.concatenate([np.asarray(v) for _, v in rows] or [np.zeros(0)]).astype(np.float32),
    }, {"n_parameters": int(n_parameters), **attrs})


def read_recovered_sparse(path) -> tuple[dict[str, np.ndarray], dict]:
    """The CSR arrays (component_ids, indptr, indices, values) and attrs; rows via recovered_row."""
    arrays, attrs = read_artifact(path, "recovered")
    k = arrays["component_ids"].shape[0]
    if arrays["indptr"].shape[0] != k + 1 or arrays["indptr"][-1] != arrays["indices"].shape[0]:
        raise ArtifactError(f"{path}: indptr ({arrays['indptr'].shape[0]} entries, last "
                            f"{arrays['indptr'][-1] if k + 1 else None}) does not fit {k} rows and "
                            f"{arrays['indices'].shape[0]} non-zeros")
    return arrays, attrs


def recovered_row(arrays: dict[str, np.ndarray], i: int, n_parameters: int) -> np.ndarray:
    """Row i of a recovered CSR as a dense vector [n]."""
    lo, hi = arrays["indptr"][i], arrays["indptr"][i + 1]
    dense = np.zeros(n_parameters, np.float32)
    dense[arrays["indices"][lo:hi]] = arrays["values"][lo:hi]
    return dense


def read_recovered(path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(component_ids [k], dense vectors [k, n], attrs); for small n (see read_recovered_sparse)."""
    arrays, attrs = read_recovered_sparse(path)
    n = int(attrs["n_parameters"])
    dense = np.stack([recovered_row(arrays, i, n) for i in range(arrays["component_ids"].shape[0])]) \
        if arrays["component_ids"].shape[0] else np.zeros((0, n), np.float32)
    return arrays["component_ids"], dense, attrs


def pef_rows(path, lo: int, hi: int) -> tuple[np.ndarray, dict, int]:
    """Rows [lo, hi) of a 'pefs' artifact's G without reading the rest (one process's slice
    in a distributed decomposition): (G [hi - lo, R, d], attrs, total rows)."""
    path = Path(path)
    with h5py.File(path, "r") as f:
        if f.attrs.get("kind") != "pefs":
            raise ArtifactError(f"{path}: expected a 'pefs' artifact, the file says kind={f.attrs.get('kind')!r}")
        if "G" not in f or f["G"].ndim != 3:
            raise ArtifactError(f"{path}: 'pefs' artifact needs a 3-dimensional dataset 'G'")
        return f["G"][lo:hi], {k: _from_attr(v) for k, v in f.attrs.items()}, f["G"].shape[0]
