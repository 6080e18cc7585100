"""safetensors dtypes (as the server names them) and their numpy and torch counterparts."""

import numpy as np

# dtype name -> (numpy dtype of one element, bits per element); little-endian as safetensors stores them.
# BF16 has no numpy type: it is read as uint16 (the same bits); F8 kinds as uint8 (their raw bytes).
NUMPY = {
    "BOOL": (np.dtype(np.bool_), 8),
    "U8": (np.dtype("u1"), 8),
    "I8": (np.dtype("i1"), 8),
    "U16": (np.dtype("<u2"), 16),
    "I16": (np.dtype("<i2"), 16),
    "F16": (np.dtype("<f2"), 16),
    "BF16": (np.dtype("<u2"), 16),
    "U32": (np.dtype("<u4"), 32),
    "I32": (np.dtype("<i4"), 32),
    "F32": (np.dtype("<f4"), 32),
    "U64": (np.dtype("<u8"), 64),
    "I64": (np.dtype("<i8"), 64),
    "F64": (np.dtype("<f8"), 64),
    "C64": (np.dtype("<c8"), 64),
    "F8_E4M3": (np.dtype("u1"), 8),
    "F8_E5M2": (np.dtype("u1"), 8),
    "F8_E8M0": (np.dtype("u1"), 8),
    "F8_E4M3FNUZ": (np.dtype("u1"), 8),
    "F8_E5M2FNUZ": (np.dtype("u1"), 8),
}

#: dtypes read as raw bits in an unsigned integer array by default (numpy has no such float type).
RAW_FLOATS = {"BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ"}


def numpy_dtype(dtype):
    entry = NUMPY.get(dtype)
    return None if entry is None else entry[0]


def bf16_to_float32(u16):
    """bf16 bits (uint16) -> float32: the bf16 bits are the high half of the float32 bits, exactly. A scalar (shape
    ``()``) stays an array: shifted in place, as ``<<`` on a 0-d array would give a numpy scalar of another width."""
    bits = u16.astype(np.uint32)
    bits <<= np.uint32(16)
    return bits.view(np.float32)


def torch_tensor(torch, dtype, array, name):
    """A torch tensor sharing ``array``'s memory where torch has the type; bf16 as torch.bfloat16."""
    from .errors import FerryError

    if dtype == "BF16":
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    if dtype in RAW_FLOATS:
        attr = {"F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "F8_E4M3FNUZ": "float8_e4m3fnuz",
                "F8_E5M2FNUZ": "float8_e5m2fnuz", "F8_E8M0": "float8_e8m0fnu"}[dtype]
        tdt = getattr(torch, attr, None)
        if tdt is None:
            raise FerryError("tensor %r: dtype %s has no torch type in torch %s (expected torch.%s); read it with"
                             " Model.tensor() as raw uint8 bits" % (name, dtype, torch.__version__, attr))
        return torch.from_numpy(array).view(tdt)
    try:
        return torch.from_numpy(array)
    except TypeError:
        # older torch has no uint16/uint32/uint64: widen losslessly where a wider signed type holds every value
        if dtype == "U16":
            return torch.from_numpy(array.astype(np.int32))
        if dtype == "U32":
            return torch.from_numpy(array.astype(np.int64))
        raise FerryError("tensor %r: dtype %s has no torch type in torch %s and no lossless wider one; read it with"
                         " Model.tensor()" % (name, dtype, torch.__version__)) from None
