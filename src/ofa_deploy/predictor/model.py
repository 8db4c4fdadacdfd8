"""Saved accuracy predictors: a small `.npz` file evaluated in numpy, no torch.

Why a file of arrays: the search evaluates the predictor ~50,000 times per run, and `search` must
start without torch. A predictor file holds everything needed to use it safely:

- `__header__`: a JSON string with `format` (`ofa-deploy-predictor`), `version` (1), `space` (the
  `SpaceSpec` it was made for), `encoding` (how archs become features), `resolutions` (those it
  was trained on / covers), `model` (`kind` and its settings), `target` (what it predicts, e.g.
  ImageNet top-1 as a fraction) and free-form `meta` (source file, its sha256, ...);
- the model's arrays, named by the model kind (`mlp`: `layer{i}.weight` (out, in), `layer{i}.bias`).

Model kinds are looked up in `MODEL_KINDS`, so other models (e.g. scikit-learn ones fitted on our
own accuracy dataset) can be added with their own array layout and the same header.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from ..errors import FormatError, SpaceError
from ..fsio import atomic_path
from ..outputs import PREDICTOR_HEADER
from ..space import FamilyBatch, FamilySpec, spec_from_dict
from .encoding import FamilyEncoding, encoding_from_dict

FORMAT = "ofa-deploy-predictor"
VERSION = 1
HEADER = PREDICTOR_HEADER  # the array holding the JSON header (`outputs` recognises the file by it)


class Model(Protocol):
    kind: ClassVar[str]

    def forward(self, x: np.ndarray) -> np.ndarray: ...

    def settings(self) -> dict[str, Any]: ...

    def arrays(self) -> dict[str, np.ndarray]: ...

    @property
    def n_inputs(self) -> int: ...


class MLP:
    """Fully connected ReLU network, `y = W_L relu(... relu(W_1 x + b_1) ...) + b_L` (torch layout)."""

    kind: ClassVar[str] = "mlp"

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray], dtype: Any = np.float32):
        if not weights or len(weights) != len(biases):
            raise FormatError("an MLP needs as many weight matrices as bias vectors (at least one)")
        self.dtype = np.dtype(dtype)
        self.weights = [np.ascontiguousarray(np.asarray(w, dtype=self.dtype)) for w in weights]
        self.biases = [np.asarray(b, dtype=self.dtype).reshape(-1) for b in biases]
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if w.ndim != 2 or w.shape[0] != b.shape[0]:
                raise FormatError(f"MLP layer {i}: weight {w.shape} and bias {b.shape} do not fit")
            if i and w.shape[1] != self.weights[i - 1].shape[0]:
                raise FormatError(f"MLP layer {i} takes {w.shape[1]} inputs; layer {i - 1} gives "
                                  f"{self.weights[i - 1].shape[0]}")
        if self.weights[-1].shape[0] != 1:
            raise FormatError(f"the MLP's last layer has {self.weights[-1].shape[0]} outputs; a predictor has 1")
        # x @ W.T with W.T stored contiguous: the layout BLAS likes for a (N, in) batch.
        self._wt = [np.ascontiguousarray(w.T) for w in self.weights]

    @property
    def n_inputs(self) -> int:
        return int(self.weights[0].shape[1])

    def forward(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=self.dtype)
        last = len(self._wt) - 1
        for i, (wt, b) in enumerate(zip(self._wt, self.biases)):
            h = h @ wt
            h += b
            if i < last:
                np.maximum(h, 0, out=h)
        return h[:, 0]

    def settings(self) -> dict[str, Any]:
        return {"kind": self.kind, "activation": "relu", "layers": [list(w.shape) for w in self.weights],
                "dtype": self.dtype.name}

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            out[f"layer{i}.weight"] = w
            out[f"layer{i}.bias"] = b
        return out

    @classmethod
    def from_arrays(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> MLP:
        if settings.get("activation", "relu") != "relu":
            raise FormatError(f"unsupported MLP activation {settings.get('activation')!r} (relu only)")
        n = 0
        while f"layer{n}.weight" in arrays:
            n += 1
        if n == 0:
            raise FormatError("MLP predictor file holds no layer0.weight")
        try:
            weights = [arrays[f"layer{i}.weight"] for i in range(n)]
            biases = [arrays[f"layer{i}.bias"] for i in range(n)]
        except KeyError as e:
            raise FormatError(f"MLP predictor file lacks {e}") from None
        return cls(weights, biases, settings.get("dtype", "float32"))


MODEL_KINDS: dict[str, Any] = {MLP.kind: MLP}


@dataclass
class Predictor:
    """An accuracy predictor for one space: `predict(batch)` gives accuracy as a fraction, (N,)."""

    spec: FamilySpec  # a space of any family (`SpaceSpec`, `ResNet50Spec`)
    encoding: FamilyEncoding  # the space family's encoding (`encoding.encoding_for`)
    model: Any
    resolutions: tuple[int, ...]
    target: str = "top1"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.encoding.check_space(self.spec)
        self.resolutions = tuple(sorted(int(r) for r in self.resolutions))
        if not self.resolutions:
            raise FormatError("a predictor must cover at least one resolution")
        uncovered = [r for r in self.resolutions if not self.encoding.covers(r)]
        if uncovered:
            raise FormatError(f"resolutions {uncovered} have no bucket of their own in the predictor's encoding")
        if self.model.n_inputs != self.encoding.n_features:
            raise FormatError(f"the model takes {self.model.n_inputs} inputs; the encoding gives "
                              f"{self.encoding.n_features}")

    def predict(self, batch: FamilyBatch) -> np.ndarray:
        """Predicted accuracy (fraction) of every arch of `batch`; `SpaceError` outside the space."""
        if len(batch) == 0:
            return np.zeros(0)
        bad = ~np.isin(batch.r, np.asarray(self.resolutions))
        if bad.any():
            raise SpaceError(
                f"the accuracy predictor covers resolutions {list(self.resolutions)}; "
                f"got {sorted(set(batch.r[bad].tolist()))[:5]}"
            )
        return self.model.forward(self.encoding.encode(batch)).astype(np.float64)

    def predict_features(self, x: np.ndarray) -> np.ndarray:
        """Predictions for already-encoded features (the search's fast path)."""
        return self.model.forward(x)

    # ---- files ----------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "space": self.spec.to_dict(),
            "encoding": self.encoding.to_dict(),
            "resolutions": list(self.resolutions),
            "model": self.model.settings(),
            "target": self.target,
            "meta": self.meta,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the `.npz` atomically (the name is kept as given)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        arrays = self.model.arrays()
        if HEADER in arrays:
            raise FormatError(f"model array name {HEADER!r} is reserved")
        with atomic_path(p) as tmp, open(tmp, "wb") as f:
            np.savez(f, **{HEADER: np.array(json.dumps(self.header()))}, **arrays)
        return p

    @classmethod
    def load(cls, path: str | os.PathLike) -> Predictor:
        p = Path(path)
        if not p.exists():
            raise FormatError(f"{p}: no such predictor file")
        if p.is_dir():
            raise FormatError(f"{p} is a folder; give a predictor file (.npz)")
        try:
            z = np.load(p, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise FormatError(f"{p}: a single numpy array, not an ofa-deploy predictor file (.npz)")
            with z:
                arrays = {k: z[k] for k in z.files}
        except FormatError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            # a truncated or damaged .npz fails in zipfile (no central directory, bad CRC, short member)
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            if "pickle" in msg:  # numpy's text suggests loading it unsafely: never
                msg = "it holds pickled Python objects, which are never loaded"
            raise FormatError(f"{p}: not an ofa-deploy predictor file ({msg}); import the official one with "
                              "`ofa-deploy predictor import acc_predictor.pth --out P`") from None
        if HEADER not in arrays:
            raise FormatError(f"{p}: an .npz without {HEADER}; not an ofa-deploy predictor file")
        try:
            header = json.loads(str(arrays.pop(HEADER)))
        except json.JSONDecodeError as e:
            raise FormatError(f"{p}: corrupt predictor header ({e})") from None
        try:
            return cls.from_header(header, arrays)
        except (FormatError, SpaceError) as e:
            raise FormatError(f"{p}: {e}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as e:  # fields of the wrong type or shape
            raise FormatError(f"{p}: corrupt predictor header or arrays ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:160] if str(e) else ''}); re-create the file") from None

    @classmethod
    def from_header(cls, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Predictor:
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise FormatError(f"not an ofa-deploy predictor (format {FORMAT!r})")
        if header.get("version") != VERSION:
            raise FormatError(f"predictor file version {header.get('version')} is not supported ({VERSION})")
        for k in ("space", "encoding", "resolutions", "model"):
            if k not in header:
                raise FormatError(f"predictor header lacks {k!r}")
        spec = spec_from_dict(header["space"])
        encoding = encoding_from_dict(header["encoding"])
        settings = header["model"]
        kind = settings.get("kind") if isinstance(settings, dict) else None
        if kind not in MODEL_KINDS:
            raise FormatError(f"unknown predictor model kind {kind!r} (known: {sorted(MODEL_KINDS)})")
        model = MODEL_KINDS[kind].from_arrays(settings, arrays)
        return cls(spec, encoding, model, tuple(header["resolutions"]), str(header.get("target", "top1")),
                   dict(header.get("meta") or {}))

    def summary(self) -> dict[str, Any]:
        h = self.header()
        n_weights = int(sum(a.size for a in self.model.arrays().values()))
        return {
            "space": self.spec.describe(),
            "model": h["model"],
            "weights": n_weights,
            "encoding": h["encoding"],
            "features": self.encoding.n_features,
            "layout": self.encoding.layout,
            "resolutions": list(self.resolutions),
            "target": self.target,
            "meta": self.meta,
        }

    def describe(self) -> str:
        src = self.meta.get("name") or self.meta.get("source") or "predictor"
        return f"{src} ({self.model.kind}, {self.spec.describe()})"
