"""Run ``prefsim fit`` on a CSV file or a pandas DataFrame and read its JSON output.

    >>> from prefsim.fit import fit
    >>> r = fit("games.csv", model="bt", reference="Team A")
    >>> r.items                      # DataFrame: name, score, se
    >>> r.fit["loglik"], r.convergence["status"]

``fit`` calls the command line program (``prefsim fit --format json``), so the numbers
are exactly the CLI's; the document's layout is described in ``prefsim fit --help``
(section "json").  Pure Python: only the standard library and pandas.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import pandas as pd

__all__ = ["fit", "FitResult", "PrefsimFitError"]

# keyword arguments that are options of `prefsim fit` (the rest are hyperparameters,
# passed as --param KEY=VALUE and checked by the estimator's own table)
_CLI_OPTIONS = {
    "seed", "reference", "no_se", "firth", "k", "k_max", "allow_large",
    "max_input_size", "columns", "annotators",
}


class PrefsimFitError(RuntimeError):
    """``prefsim fit`` failed: ``returncode`` is its exit status (2 usage, 3 bad data,
    4 no MLE, 5 I/O, 6 numerical: see ``prefsim fit --help``), ``stderr`` its message,
    ``result`` the parsed output when it printed one (exit 6 prints the table with its
    status), else None."""

    def __init__(self, message: str, returncode: Optional[int] = None, stderr: str = "",
                 result: Optional["FitResult"] = None):
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr
        self.result = result


@dataclass
class FitResult:
    """The JSON document of ``prefsim fit --format json``.

    items        one row per item: name, then the model's columns (score, se, ...);
    annotators   one row per annotator (models with per-annotator estimates), or None;
    tables       the model's other tables (mixture --k auto: "bic"; gpm: "logits", an
                 items x items DataFrame), by name;
    fit, convergence, options, data   the document's sections, as dicts (a value that
                 is not finite is None, with KEY_status saying why);
    raw          the whole document."""

    model: str
    status: str
    items: pd.DataFrame
    annotators: Optional[pd.DataFrame]
    tables: Dict[str, pd.DataFrame] = field(default_factory=dict)
    fit: Dict[str, Any] = field(default_factory=dict)
    convergence: Dict[str, Any] = field(default_factory=dict)
    options: Dict[str, Any] = field(default_factory=dict)
    data: Dict[str, Any] = field(default_factory=dict)
    raw: Dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]


def _table(value: Any) -> pd.DataFrame:
    if isinstance(value, dict) and "values" in value:  # a matrix: rows x columns
        return pd.DataFrame(value["values"], index=value["rows"], columns=value["columns"],
                            dtype=float)
    frame = pd.DataFrame(value)
    for c in frame.columns:  # null (a value that is not finite) -> NaN
        if c != "name":
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
    return frame


def parse_document(doc: Dict[str, Any]) -> FitResult:
    """A FitResult from the parsed JSON document."""
    sections = ("fit", "convergence", "options", "data")
    known = {"format", "model", "status", "items", "annotators", *sections}
    return FitResult(
        model=doc["model"],
        status=doc["status"],
        items=_table(doc["items"]),
        annotators=_table(doc["annotators"]) if "annotators" in doc else None,
        tables={k: _table(v) for k, v in doc.items() if k not in known},
        **{s: doc.get(s, {}) for s in sections},
        raw=doc,
    )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _arguments(model: str, options: Dict[str, Any]) -> List[str]:
    args = ["--model", model]
    for key, value in options.items():
        if value is None or value is False:
            continue
        if key in ("param", "params"):  # a dict of hyperparameters
            for k, v in value.items():
                args += ["--param", f"{k}={_text(v)}"]
        elif key in _CLI_OPTIONS:
            option = "--" + key.replace("_", "-")
            if value is True:
                args.append(option)
            elif key == "columns" and isinstance(value, dict):
                args += [option, ",".join(f"{role}={name}" for role, name in value.items())]
            else:
                args += [option, _text(value)]
        else:
            args += ["--param", f"{key}={_text(value)}"]
    return args


def fit(data: Any, model: str = "bt", prefsim: str = "prefsim", check: bool = True,
        **options: Any) -> FitResult:
    """Fit ``model`` to ``data`` with ``prefsim fit`` and return the parsed result.

    data      a path to a CSV file (winner,loser[,count][,annotator][,first], or
              crowd-kit's worker,left,right,label), or a pandas DataFrame with such
              columns (written to a temporary CSV file);
    model     a registered estimator that fits item comparisons (``prefsim fit --list``);
    prefsim   the prefsim executable (a path, or a name found on PATH);
    check     raise PrefsimFitError when the fit's exit status is not 0 (with
              check=False a fit that printed its table, e.g. not converged, is returned
              with its status);
    options   options of the command (seed, reference, no_se, firth, k, k_max,
              allow_large, max_input_size, annotators, columns: a dict ROLE -> column or
              a "ROLE=NAME,..." string; True for a flag), ``param={...}`` or any other
              keyword for a hyperparameter (``l2=0.1`` is ``--param l2=0.1``).

    Raises PrefsimFitError (with prefsim's stderr) when prefsim cannot be run, exits
    with an error, or prints no JSON."""
    with tempfile.TemporaryDirectory(prefix="prefsim-fit-") as tmp:
        if isinstance(data, pd.DataFrame):
            path = os.path.join(tmp, "data.csv")
            data.to_csv(path, index=False)
        else:
            path = os.fspath(data)
        cmd = [prefsim, "fit", "--format", "json", *_arguments(model, options), "--", path]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8",
                                  errors="replace", check=False)
        except OSError as e:
            raise PrefsimFitError(f"cannot run {prefsim!r}: {e}") from e
    result = None
    if proc.stdout.strip():
        try:
            result = parse_document(json.loads(proc.stdout))
        except (ValueError, KeyError) as e:
            raise PrefsimFitError(f"prefsim fit printed no valid JSON ({e}); stderr:\n{proc.stderr}",
                                  proc.returncode, proc.stderr) from e
    if proc.returncode != 0 and (check or result is None):
        raise PrefsimFitError(
            f"prefsim fit --model {model} exited with status {proc.returncode}:\n{proc.stderr.strip()}",
            proc.returncode, proc.stderr, result)
    if result is None:
        raise PrefsimFitError("prefsim fit printed nothing", proc.returncode, proc.stderr)
    return result
