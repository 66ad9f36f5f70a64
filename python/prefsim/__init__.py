"""prefsim — read prefsim results files with xarray and pandas.

    import prefsim
    ds = prefsim.open("out/bt_rate/bt_rate.h5")      # xarray.Dataset
    df = prefsim.tidy("out/bt_rate/bt_rate.h5")      # pandas.DataFrame

open() returns the same dataset as ``prefsim export --format netcdf`` writes: dimensions
``estimator`` (text), the sweep axes and ``replicate``; every metric a variable
[estimator, axes..., replicate] (NaN where an estimator does not compute it);
``truth_Q`` and ``theory_Q`` [axes..., replicate]; the file's root attributes.  With
``estimator="bt"`` the metrics are that estimator's alone, without the estimator
dimension.

tidy() returns the table ``prefsim export --format csv`` writes (columns estimator,
metric, one per sweep axis, replicate, value; truth and theory rows have estimator
"truth" / "theory"; an axis named like a fixed column becomes ``axis_NAME``), equal to
``pandas.read_csv(csv, keep_default_na=False, na_values=["NaN"],
float_precision="round_trip")``.

Both check the file first: its seal (the whole-file CRC-32 in its first 512 bytes), its
schema, and that it is COMPLETED with every cell done — a running, interrupted or
failed sweep raises ResultsError unless ``partial=True`` (cells not done are NaN).
Files of schema prefsim-results/1 (prefsim 0.1) are refused by open(): convert them
with ``prefsim export FILE --format netcdf -o FILE.nc``; tidy() reads them.

Pure Python: numpy, h5py, pandas, xarray and (for open()) the h5netcdf or netCDF4
engine.  ``prefsim.fit`` (python/prefsim/fit.py) runs ``prefsim fit --format json``.
"""

import builtins as _builtins
import os as _os
import re as _re
import zlib as _zlib

import numpy as _np

__all__ = ["open", "tidy", "check", "ResultsError", "SCHEMA"]
__version__ = "0.1.0"

SCHEMA = "prefsim-results/2"
_SCHEMA_V1 = "prefsim-results/1"
_SEAL_BLOCK = 512
_builtin_open = _builtins.open  # this module's open() is the results reader
_FIXED_COLUMNS = ("estimator", "metric", "replicate", "value")

try:  # python/prefsim/fit.py: `prefsim fit --format json`, written separately
    from .fit import fit  # noqa: F401

    __all__.append("fit")
except ImportError:
    pass


class ResultsError(Exception):
    """A results file that cannot be used: damaged, not prefsim's, or not finished."""


def _text(v):
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _check_seal(path):
    """Raise ResultsError unless the seal in the first 512 bytes matches the file."""
    with _builtin_open(path, "rb") as f:
        block = f.read(_SEAL_BLOCK)
        if block[:8] == b"\x89HDF\r\n\x1a\n":
            return False  # written before the seal existed: read unchecked
        m = _re.match(rb"prefsim-seal 1 size=(\d+) crc32=([0-9a-f]{8})\n", block)
        if len(block) < _SEAL_BLOCK or not block.startswith(b"prefsim-seal 1 "):
            raise ResultsError(f"{path} is not a prefsim results file, or its first bytes are damaged "
                               "(no seal and no HDF5 signature)")
        if not m or any(block[m.end():]):
            raise ResultsError(f"{path} is damaged: its seal (the first {_SEAL_BLOCK} bytes) is not well formed")
        size, want = int(m.group(1)), int(m.group(2), 16)
        actual = _os.fstat(f.fileno()).st_size
        if actual != size:
            raise ResultsError(f"{path} is damaged: {actual} bytes where its seal says {size} "
                               "(truncated or extended)")
        crc = 0
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            crc = _zlib.crc32(chunk, crc)
        if crc != want:
            raise ResultsError(f"{path} is damaged: its checksum is {crc:08x}, its seal says {want:08x}")
    return True


def check(path, partial=False):
    """Check path (seal, schema, status); return its root attributes as a dict.

    Raises FileNotFoundError for a missing file and ResultsError for a damaged one, one
    that is not a prefsim results file, or (unless partial) a sweep that is not
    COMPLETED with every cell done."""
    import h5py

    path = _os.fspath(path)
    if not _os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if _os.path.isdir(path):
        raise ResultsError(f"{path} is a directory, not a results file")
    _check_seal(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ResultsError(f"{path}: HDF5 cannot open it: {e}") from None
    with f:
        attrs = {k: (_text(v) if isinstance(v, (bytes, str)) else v) for k, v in f.attrs.items()}
        schema = attrs.get("schema")
        if schema not in (SCHEMA, _SCHEMA_V1):
            raise ResultsError(f"{path}: not a prefsim results file (schema {schema!r}, expected {SCHEMA!r})")
        status = attrs.get("status")
        if schema == SCHEMA:
            cells = f["cells/status"][()]
        else:
            cells = f["cells"]["status"]
        pending = int((_np.asarray(cells) == 0).sum())
        if not partial and (status != "COMPLETED" or pending):
            total = int(_np.asarray(cells).size)
            raise ResultsError(f"{path} is {status} with {total - pending} of {total} cells done: its values are "
                               "incomplete; finish it (prefsim run resumes it) or pass partial=True")
    return attrs


def _engine():
    for name, module in (("h5netcdf", "h5netcdf"), ("netcdf4", "netCDF4")):
        try:
            __import__(module)
            return name
        except ImportError:
            continue
    raise ImportError("prefsim.open needs the h5netcdf or the netCDF4 package (Debian: python3-h5netcdf)")


def _group(path, group, engine):
    import xarray as xr

    with xr.open_dataset(path, group=group, engine=engine) as ds:
        return ds.load()


def open(path, estimator=None, partial=False, engine=None):  # noqa: A001 (the natural name)
    """The results file at path as one xarray.Dataset (see the module's doc)."""
    import h5py
    import xarray as xr

    path = _os.fspath(path)
    attrs = check(path, partial=partial)
    if attrs.get("schema") != SCHEMA:
        raise ResultsError(f"{path} was written by an older prefsim (schema {attrs.get('schema')!r}); convert it "
                           f"with `prefsim export {path} --format netcdf -o OUT.nc` and open OUT.nc with xarray")
    engine = engine or _engine()
    with h5py.File(path, "r") as f:
        estimators = list(f["metrics"].keys())
    if estimator is not None and estimator not in estimators:
        raise ResultsError(f"{path}: no estimator {estimator!r}; estimators: {', '.join(estimators) or 'none'}")
    root = _group(path, None, engine)
    coords = {k: root[k] for k in root.coords}
    out = xr.Dataset(coords=coords, attrs=dict(root.attrs))
    per = {e: _group(path, f"metrics/{e}", engine) for e in estimators}
    if estimator is not None:
        for name, v in per[estimator].data_vars.items():
            out[name] = v
    else:
        names = []
        for e in estimators:
            names += [n for n in per[e].data_vars if n not in names]
        for n in names:
            parts = []
            for e in estimators:
                if n in per[e].data_vars:
                    parts.append(per[e][n])
                else:
                    parts.append(xr.full_like(next(per[x][n] for x in estimators if n in per[x]), _np.nan))
            v = xr.concat(parts, dim=xr.DataArray(estimators, dims="estimator", name="estimator"))
            first = next(per[x][n] for x in estimators if n in per[x])
            v.attrs = dict(first.attrs)
            out[n] = v.transpose("estimator", *first.dims)
        out = out.assign_coords(estimator=("estimator", _np.array(estimators, dtype=object)))
        out["estimator"].attrs["long_name"] = "estimator (section estimator.LABEL)"
    for g in ("truth", "theory"):
        for name, v in _group(path, g, engine).data_vars.items():
            out[f"{g}_{name}"] = v
    for v in out.variables.values():
        v.attrs.pop("DIMENSION_LABELS", None)
    return out


def _axis_columns(names):
    cols = []
    for a in names:
        c = a
        while c in _FIXED_COLUMNS or (c != a and c in names) or c in cols:
            c = "axis_" + c
        cols.append(c)
    return cols


def tidy(path, partial=False):
    """The results file at path as a tidy pandas.DataFrame (see the module's doc)."""
    import h5py
    import pandas as pd

    path = _os.fspath(path)
    attrs = check(path, partial=partial)
    v1 = attrs.get("schema") == _SCHEMA_V1
    with h5py.File(path, "r") as f:
        if v1:
            axis_names = [k for k in f["axes"] if k != "replicate"]
            axis_ds = {k: f["axes"][k] for k in axis_names}
            reps = f["axes/replicate"].shape[0]
        else:
            # dimension order: the labels of any [axes..., replicate] array (h5py lists the root by name)
            axis_names = [_text(d.label) for d in f["cells/status"].dims][:-1]
            axis_ds = {k: f[k] for k in axis_names}
            reps = f["replicate"].shape[0]
        axes = []
        for k in axis_names:
            d = axis_ds[k]
            if h5py.check_string_dtype(d.dtype) is not None:
                axes.append(_np.array([_text(x) for x in d[()]], dtype=object))
            elif d.dtype.kind in "iu":
                axes.append(d[()].astype(_np.int64))
            else:  # schema 1 stored integer axes as float64 too
                axes.append(d[()].astype(_np.float64))
        shape = tuple(len(a) for a in axes) + (reps,)
        ncell = int(_np.prod(shape))
        index = _np.unravel_index(_np.arange(ncell), shape)
        arrays = []
        skip = set(axis_names) | {"replicate"}
        for e in f["metrics"]:
            for q in f["metrics"][e]:
                if q not in skip:
                    arrays.append((e, q, f["metrics"][e][q]))
        for g in ("truth", "theory"):
            for q in f[g]:
                if q not in skip:
                    arrays.append((g, q, f[g][q]))
        if any(e in ("truth", "theory") for e in f["metrics"]):
            raise ResultsError(f"{path}: an estimator is labelled 'truth' or 'theory', the estimator column's name "
                               "for those rows")
        cols = _axis_columns(axis_names)
        data = {
            "estimator": _np.repeat(_np.array([a[0] for a in arrays], dtype=object), ncell),
            "metric": _np.repeat(_np.array([a[1] for a in arrays], dtype=object), ncell),
        }
        for c, a, i in zip(cols, axes, index):
            data[c] = _np.tile(a[i], len(arrays))
        data["replicate"] = _np.tile(index[-1].astype(_np.int64), len(arrays))
        data["value"] = (_np.concatenate([_np.asarray(a[2][()], dtype=_np.float64).ravel() for a in arrays])
                         if arrays else _np.zeros(0))
    return pd.DataFrame(data)
