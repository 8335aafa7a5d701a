"""st.py: a small safetensors reader and writer on json + numpy, for the tests (Debian has
no python3-safetensors). It follows https://github.com/huggingface/safetensors as
safetensors.numpy does: little-endian data, keys written sorted, the JSON header padded
with spaces to a multiple of 8 bytes, "__metadata__" (string values only) first.

    import st
    st.save(path, {"trunk.0.weight": array, ...}, {"format": "pt"})
    tensors, metadata = st.load(path)     # dict name -> np.ndarray, dict str -> str

load() checks what libmtlrt's loader checks (header size, duplicate keys, known dtypes,
data_offsets that tile the buffer) and raises ValueError otherwise.
"""
import json
import struct

import numpy as np

__all__ = ["load", "save", "DTYPES"]

# safetensors dtype name -> numpy dtype (little-endian)
DTYPES = {
    "BOOL": np.dtype("?"), "U8": np.dtype("u1"), "I8": np.dtype("i1"),
    "I16": np.dtype("<i2"), "U16": np.dtype("<u2"), "F16": np.dtype("<f2"),
    "I32": np.dtype("<i4"), "U32": np.dtype("<u4"), "F32": np.dtype("<f4"),
    "I64": np.dtype("<i8"), "U64": np.dtype("<u8"), "F64": np.dtype("<f8"),
}
MAX_HEADER = 100_000_000


def _name_of(dtype):
    for name, dt in DTYPES.items():
        if dt == np.dtype(dtype).newbyteorder("<") or dt == np.dtype(dtype):
            return name
    raise ValueError(f"no safetensors dtype for {dtype}")


def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load(path):
    """Returns ({name: np.ndarray}, {key: value}) of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8 or n > MAX_HEADER:
        raise ValueError(f"{path}: header length {n} exceeds the file size {len(data)}")
    header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates)
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{path}: metadata values must be strings")
    buf = memoryview(data)[8 + n:]
    tensors, spans = {}, []
    for name, info in header.items():
        if set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{path}: tensor {name!r} has fields {sorted(info)}")
        dtype = DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name!r} has unknown dtype {info['dtype']!r}")
        shape = tuple(info["shape"])
        if any(not isinstance(d, int) or d < 0 for d in shape):
            raise ValueError(f"{path}: tensor {name!r} has shape {list(shape)}")
        begin, end = info["data_offsets"]
        size = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if not 0 <= begin <= end <= len(buf) or end - begin != size:
            raise ValueError(f"{path}: tensor {name!r} has data_offsets {[begin, end]}")
        tensors[name] = np.frombuffer(buf[begin:end], dtype=dtype).reshape(shape).copy()
        spans.append((begin, end, name))
    at = 0
    for begin, end, name in sorted(spans):
        if begin != at:
            raise ValueError(f"{path}: tensor {name!r} does not start at byte {at} of the buffer")
        at = end
    if at != len(buf):
        raise ValueError(f"{path}: the data buffer has {len(buf)} bytes, the tensors end at {at}")
    return tensors, metadata


def save(path, tensors, metadata=None):
    """Writes {name: array-like} (C order, keys sorted) and {key: str} metadata."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        dtype = DTYPES[_name_of(array.dtype)]
        raw = np.ascontiguousarray(array, dtype=dtype).tobytes()
        header[name] = {"dtype": _name_of(array.dtype), "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)
