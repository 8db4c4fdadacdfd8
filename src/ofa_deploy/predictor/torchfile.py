"""Read tensors out of a PyTorch `.pth` file with numpy only (no torch import).

Why: `ofa-deploy predictor import` must stay fast and must work where torch is absent; the
official predictor is a plain state_dict of float tensors. `torch.save` writes either the legacy
stream (pickle of the object with persistent storage ids, then the raw storages one after another)
or the zip archive (`<name>/data.pkl` + `<name>/data/<key>`). Both are read here with a restricted
unpickler that only rebuilds tensors, storages and plain containers (never arbitrary classes), so
reading an untrusted file cannot execute code.

Tensors come back as numpy arrays; anything else in the pickle (dicts, lists, numbers, strings)
comes back as is. `read_pickle_only` returns the object without reading tensor data at all (the
arrays are `TensorRef` placeholders holding dtype and shape): enough to read a spec from a
checkpoint without loading its weights.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FormatError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_TORCH_DTYPES = {
    "float32": np.float32, "float": np.float32, "float64": np.float64, "double": np.float64,
    "float16": np.float16, "half": np.float16, "int64": np.int64, "long": np.int64, "int32": np.int32,
    "int": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_,
}


@dataclass
class _Storage:
    key: str
    dtype: Any
    numel: int
    data: np.ndarray | None = None


@dataclass
class TensorRef:
    """A tensor whose data is (or will be) read from its storage."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dtype(self) -> Any:
        return self.storage.dtype

    def to_numpy(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise FormatError(f"tensor data of storage {self.storage.key} was not read")
        if not self.shape:
            return data[self.offset].copy()
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.shape, strides=tuple(s * item for s in self.stride), writeable=False
        )
        return np.array(view)


class _DtypeMarker:
    def __init__(self, dtype: Any):
        self.dtype = dtype


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *rest: Any) -> TensorRef:
    return TensorRef(storage, int(offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


def _rebuild_parameter(data: TensorRef, requires_grad: bool = False, hooks: Any = None, *rest: Any) -> TensorRef:
    return data


class _Unpickler(pickle.Unpickler):
    """Only the globals a state_dict pickle needs; anything else is refused."""

    def __init__(self, f: Any, storages: dict[str, _Storage]):
        super().__init__(f)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _DtypeMarker(_STORAGE_DTYPES[name])
        if module == "torch" and name in _TORCH_DTYPES:
            return _DtypeMarker(_TORCH_DTYPES[name])
        if module == "torch" and name == "UntypedStorage":
            return _DtypeMarker(np.uint8)
        raise FormatError(f"checkpoint holds a {module}.{name} object; only tensors and plain data can be read "
                          "without torch")

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise FormatError(f"unsupported persistent id in checkpoint: {pid!r}")
        # legacy: (storage, type, key, location, numel, view_metadata); zip: (storage, type, key, location, numel)
        marker, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(marker, _DtypeMarker):
            raise FormatError(f"unsupported storage type in checkpoint: {marker!r}")
        if key not in self._storages:
            self._storages[key] = _Storage(key, marker.dtype, numel)
        return self._storages[key]


def _materialise(obj: Any) -> Any:
    if isinstance(obj, TensorRef):
        return obj.to_numpy()
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _materialise(v)
        return out
    if isinstance(obj, list):
        return [_materialise(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialise(v) for v in obj)
    return obj


def _load_legacy(f: Any, read_data: bool) -> Any:
    magic = pickle.load(f)
    if magic != LEGACY_MAGIC:
        raise FormatError("not a PyTorch checkpoint (wrong magic number)")
    pickle.load(f)  # protocol version
    sys_info = pickle.load(f)
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise FormatError("big-endian PyTorch checkpoints are not supported")
    storages: dict[str, _Storage] = {}
    obj = _Unpickler(f, storages).load()
    if not read_data:
        return obj
    keys = pickle.load(f)
    for key in keys:
        st = storages[str(key)]
        (numel,) = struct.unpack("<q", f.read(8))
        nbytes = numel * np.dtype(st.dtype).itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise FormatError("checkpoint is truncated (storage data ends early)")
        st.data = np.frombuffer(raw, dtype=np.dtype(st.dtype).newbyteorder("<"))
    return _materialise(obj)


def _load_zip(path: Path, read_data: bool) -> Any:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise FormatError(f"{path}: zip file without data.pkl; not a PyTorch checkpoint")
        prefix = pkl[0][: -len("data.pkl")]
        storages: dict[str, _Storage] = {}
        obj = _Unpickler(io.BytesIO(z.read(pkl[0])), storages).load()
        if not read_data:
            return obj
        for key, st in storages.items():
            raw = z.read(f"{prefix}data/{key}")
            st.data = np.frombuffer(raw, dtype=np.dtype(st.dtype).newbyteorder("<"))
    return _materialise(obj)


def read_pth(path: str | os.PathLike, read_data: bool = True) -> Any:
    """The object stored in a `.pth` file, tensors as numpy arrays (or `TensorRef` without data)."""
    p = Path(path)
    if not p.exists():
        raise FormatError(f"{p}: no such file")
    try:
        if zipfile.is_zipfile(p):
            return _load_zip(p, read_data)
        with open(p, "rb") as f:
            return _load_legacy(f, read_data)
    except FormatError as e:
        raise FormatError(f"{p}: {e}") from None
    except (pickle.UnpicklingError, EOFError, struct.error, KeyError, ValueError, TypeError, IndexError) as e:
        raise FormatError(f"{p}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from None


def read_pickle_only(path: str | os.PathLike) -> Any:
    """The stored object without tensor data (tensors are `TensorRef` with dtype and shape)."""
    return read_pth(path, read_data=False)
