"""safetensors dtypes (as the server names them) and their numpy and torch counterparts."""

import math

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
    "C128": (np.dtype("<c16"), 128),
    "F8_E4M3": (np.dtype("u1"), 8),
    "F8_E5M2": (np.dtype("u1"), 8),
    "F8_E8M0": (np.dtype("u1"), 8),
    "F8_E4M3FNUZ": (np.dtype("u1"), 8),
    "F8_E5M2FNUZ": (np.dtype("u1"), 8),
}

#: dtypes read as raw bits in an unsigned integer array by default (numpy has no such float type).
RAW_FLOATS = {"BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ"}


#: ONNX's packed integers: dtype name -> (bits per value, signed). onnx packs them from the lowest bits of a byte up;
#: tensor() unpacks them into int8 (signed) or uint8 arrays, one value per element.
PACKED_INTS = {"U4": (4, False), "I4": (4, True), "U2": (2, False), "I2": (2, True)}


def unpack_ints(dtype, data, shape):
    """The values of a packed 2- or 4-bit integer tensor (its bytes ``data``) as an int8 or uint8 array of ``shape``."""
    bits, signed = PACKED_INTS[dtype]
    per = 8 // bits
    codes = np.frombuffer(bytes(data), dtype=np.uint8)
    values = np.empty(codes.size * per, dtype=np.uint8)
    for k in range(per):
        values[k::per] = (codes >> np.uint8(bits * k)) & np.uint8((1 << bits) - 1)
    if signed:  # two's complement: the top bit of a value is its sign
        values = values.view(np.int8)
        values[values >= 1 << (bits - 1)] -= 1 << bits
    return values.reshape(shape)


def numpy_dtype(dtype):
    entry = NUMPY.get(dtype)
    return None if entry is None else entry[0]


def bf16_to_float32(u16):
    """bf16 bits (uint16) -> float32: the bf16 bits are the high half of the float32 bits, exactly. A scalar (shape
    ``()``) stays an array: shifted in place, as ``<<`` on a 0-d array would give a numpy scalar of another width."""
    bits = u16.astype(np.uint32)
    bits <<= np.uint32(16)
    return bits.view(np.float32)


def _f8_table(exp_bits, bias, special):
    """float32 value of each of the 256 codes of an 8-bit float with a sign bit, ``exp_bits`` exponent bits of that
    bias and the rest mantissa; ``special`` marks NaN and infinities as the kind does."""
    man_bits = 7 - exp_bits
    table = np.empty(256, dtype=np.float32)
    for code in range(256):
        sign = -1.0 if code & 0x80 else 1.0
        e = (code >> man_bits) & ((1 << exp_bits) - 1)
        m = code & ((1 << man_bits) - 1)
        if e == 0:  # subnormal
            table[code] = sign * math.ldexp(m, 1 - bias - man_bits)
        else:
            table[code] = sign * math.ldexp((1 << man_bits) + m, e - bias - man_bits)
        special(table, code, e, m)
    return table


def _fn(table, code, e, m):  # E4M3FN: no infinities, NaN where every exponent and mantissa bit is set
    if code & 0x7F == 0x7F:
        table[code] = _signed_nan(code)


def _ieee(table, code, e, m):  # E5M2: as IEEE, the top exponent holds infinities and NaN
    if e == 31:
        table[code] = (-np.inf if code & 0x80 else np.inf) if m == 0 else _signed_nan(code)


def _signed_nan(code):
    """NaN with the code's sign bit, as converting the code to float32 keeps it (an IEEE half's NaN does too)."""
    return np.copysign(np.float32(np.nan), np.float32(-1.0 if code & 0x80 else 1.0))


def _fnuz(table, code, e, m):  # FNUZ: no infinities, no negative zero; its code is the NaN
    if code == 0x80:
        table[code] = np.nan


_E8M0 = np.array([math.ldexp(1.0, code - 127) for code in range(255)] + [np.nan], dtype=np.float32)

#: float32 values of the codes of each 8-bit float type (exact: every one of them is a float32)
F8_TABLES = {"F8_E4M3": _f8_table(4, 7, _fn), "F8_E5M2": _f8_table(5, 15, _ieee),
             "F8_E4M3FNUZ": _f8_table(4, 8, _fnuz), "F8_E5M2FNUZ": _f8_table(5, 16, _fnuz), "F8_E8M0": _E8M0}


def f8_to_float32(dtype, u8):
    """8-bit float codes (uint8) -> float32, exactly (a new array of the same shape)."""
    return F8_TABLES[dtype][u8.reshape(-1)].reshape(u8.shape)


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
