"""The test model: two versions of a small Hugging Face-style model, written with numpy, and a tiny safetensors
reader to check what the client returns against the files themselves.

    python3 model_files.py OUT    writes OUT/v1 and OUT/v2 (v2 = v1 with another README.md), OUT/tree: a model
                                  with files in directories and a file name of 250 bytes, and (with torch) OUT/views:
                                  a PyTorch checkpoint of views, OUT/onnx: an ONNX model of 2- and 4-bit integers
                                  and complex128
"""

import json
import os
import struct
import sys

import numpy as np

DTYPES = {"BOOL": np.bool_, "U8": "u1", "I8": "i1", "U16": "<u2", "I16": "<i2", "F16": "<f2", "BF16": "<u2",
          "U32": "<u4", "I32": "<i4", "F32": "<f4", "U64": "<u8", "I64": "<i8", "F64": "<f8",
          "F8_E4M3": "u1", "F8_E5M2": "u1", "F8_E4M3FNUZ": "u1", "F8_E5M2FNUZ": "u1", "F8_E8M0": "u1"}

#: The 8-bit float types: tensors of model "tiny-tree" hold each of their 256 codes (torch 1.x has no such types,
#: so they are not in the model whose state_dict() the tests take).
F8 = ("F8_E4M3", "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0")


def _bf16(x):
    """float32 -> bf16 bits by truncation (uint16)."""
    return (np.asarray(x, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)


def shards():
    """{file name: [(tensor name, dtype, array), ...]}, deterministic."""
    r = np.random.default_rng(13)
    one = [
        # big enough for a loose chunk of its own (>= 256 KiB), the rest lands in packs
        ("embed.weight", "BF16", _bf16(r.standard_normal((512, 384), dtype=np.float32))),
        ("layers.0.ёлка.weight", "F32", r.standard_normal((300, 256), dtype=np.float32)),
        ("层.bias", "F16", r.standard_normal(64).astype(np.float16)),
        ("emoji🙂.scale", "F32", np.array(0.125, dtype=np.float32)),
        ("empty", "F32", np.zeros((0, 4), dtype=np.float32)),
    ]
    two = [
        ("lm_head.weight", "F16", r.standard_normal((1024, 160)).astype(np.float16)),
        ("ids", "I64", np.arange(-5, 5, dtype=np.int64) * (1 << 40)),
        ("mask", "BOOL", r.integers(0, 2, (3, 5)).astype(np.bool_)),
        ("u8", "U8", np.arange(7, dtype=np.uint8) * 37),
        ("i8", "I8", np.arange(-3, 3, dtype=np.int8)),
        ("i16", "I16", np.array([-32768, 0, 32767], dtype=np.int16)),
        ("u16", "U16", np.array([0, 1, 65535], dtype=np.uint16)),
        ("i32", "I32", np.arange(6, dtype=np.int32).reshape(2, 3) - 3),
        ("u32", "U32", np.array([0, 4294967295], dtype=np.uint32)),
        ("f64", "F64", np.array([[1.5, -2.25], [1e300, -0.0]], dtype=np.float64)),
        ("small.bf16", "BF16", _bf16([1.0, -2.0, 0.5, 3.140625])),
        ("scale.bf16", "BF16", _bf16(-1.5)),  # a BF16 scalar (shape [])
    ]
    return {"model-00001-of-00002.safetensors": one, "model-00002-of-00002.safetensors": two}


def write_safetensors(path, tensors, metadata=None):
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    for name, dtype, arr in tensors:
        n = arr.nbytes
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, dtype, arr in tensors:
            f.write(np.ascontiguousarray(arr, dtype=np.dtype(DTYPES[dtype]).newbyteorder("<")).tobytes())


def read_safetensors(path):
    """{name: (dtype, shape, numpy array)} straight from the file (the check the client is compared with)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        arr = np.frombuffer(data[8 + n + a:8 + n + b], dtype=np.dtype(DTYPES[t["dtype"]]))
        out[name] = (t["dtype"], tuple(t["shape"]), arr.reshape(t["shape"]))
    return out


def write(out):
    for version in ("v1", "v2"):
        d = os.path.join(out, version)
        os.makedirs(d, exist_ok=True)
        weight_map = {}
        for fname, tensors in shards().items():
            write_safetensors(os.path.join(d, fname), tensors, {"format": "pt"})
            weight_map.update({name: fname for name, _, _ in tensors})
        with open(os.path.join(d, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f, ensure_ascii=False)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"model_type": "llama", "hidden_size": 384}, f)
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            json.dump({"vocab": {"tok%d" % i: i for i in range(200)}}, f)
        with open(os.path.join(d, "README.md"), "w") as f:
            f.write("# tiny\n\nversion %s of the Python client's test model\n" % version)


#: A file name of 250 bytes in UTF-8 (125 characters): legal on every usual file system (255 bytes), too long for
#: a temporary name made by adding a prefix and a suffix to it.
LONG_NAME = "ж" * 123 + ".txt"

#: The paths of the files of model "tree", as its version lists them.
TREE = ("model.safetensors", "config.json", "a/b/extra.safetensors", "a/b/c.json", LONG_NAME)


def write_tree(out):
    d = os.path.join(out, "tree")
    os.makedirs(os.path.join(d, "a", "b"), exist_ok=True)
    r = np.random.default_rng(29)  # other values than the tiny model's: no chunk shared with it
    codes = np.arange(256, dtype=np.uint8).reshape(16, 16)
    write_safetensors(os.path.join(d, "model.safetensors"),
                      [("w", "F32", r.standard_normal((8, 8), dtype=np.float32))]
                      + [("f8." + k.lower(), k, codes) for k in F8],
                      # what a PyTorch checkpoint's metadata says of a view: in a safetensors file, just text
                      {"strides.w": "[1,8]"})
    # "w" again, of another shape: a name two files hold, as a diffusers pipeline's unet/ and vae/ do
    write_safetensors(os.path.join(d, "a", "b", "extra.safetensors"),
                      [("x", "F32", r.standard_normal((4, 4), dtype=np.float32)),
                       ("w", "F32", r.standard_normal((3, 2), dtype=np.float32))])
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"model_type": "tree"}, f)
    with open(os.path.join(d, "a", "b", "c.json"), "w") as f:
        json.dump({"nested": True}, f)
    with open(os.path.join(d, LONG_NAME), "w", encoding="utf-8") as f:
        f.write("a file whose name is 250 bytes long\n")


def views():
    """{name: torch tensor} of a PyTorch checkpoint whose tensors are views of shared storages: row-major ones
    (one at an offset, one the same tensor under a second name: tied weights) and non-contiguous ones (transposed,
    strided, expanded with stride 0), whose file metadata gives their strides; complex64 and complex128 ones too.
    Needs torch."""
    import torch

    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    y = torch.arange(20, dtype=torch.int64).reshape(4, 5)
    b = torch.arange(6, dtype=torch.float32).reshape(2, 3).to(torch.bfloat16)
    z = torch.tensor([[1 + 2j, -3.5 + 0.25j, 0j], [0.1 - 7j, 2 + 0j, -1j]], dtype=torch.complex128)
    return {"x": x, "x.tied": x, "x.t": x.t(), "y.tail": y[2:], "y.every_other": y[:, ::2],
            "expanded": torch.arange(3, dtype=torch.float32).expand(4, 3), "b.t": b.t(), "z": z, "z.t": z.t(),
            "z64": z.to(torch.complex64)}


def write_views(out):
    """OUT/views/model.pt (see views()), when torch is importable; nothing otherwise."""
    try:
        import torch
    except ImportError:
        return
    d = os.path.join(out, "views")
    os.makedirs(d, exist_ok=True)
    torch.save(views(), os.path.join(d, "model.pt"))


def _varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, value):
    """One protobuf field: an int as a varint, bytes or str length-delimited."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    value = value.encode("utf-8") if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(value)) + value


#: ONNX's data_type of each dtype of model "tiny-onnx"
ONNX_TYPES = {"I4": 22, "U4": 21, "I2": 26, "U2": 25, "C128": 15}


def onnx_tensors():
    """{name: (dtype, numpy array of the values, raw_data as onnx packs it: the first value in the lowest bits)}."""
    i4 = np.array([[-8, -1, 0], [1, 7, 3]], dtype=np.int8)
    u4 = np.array([0, 5, 15, 9], dtype=np.uint8)
    i2 = np.array([[-2, -1], [0, 1]], dtype=np.int8)
    u2 = np.array([0, 1, 2, 3, 3, 2, 1, 0], dtype=np.uint8)
    z = np.array([1 + 2j, -3.5 + 0.25j], dtype=np.complex128)

    def pack(values, bits):
        v = values.reshape(-1).astype(np.uint8) & ((1 << bits) - 1)
        per = 8 // bits
        return bytes(int(sum(int(x) << (bits * k) for k, x in enumerate(v[i:i + per]))) for i in range(0, v.size, per))

    return {"i4": ("I4", i4, pack(i4, 4)), "u4": ("U4", u4, pack(u4, 4)), "i2": ("I2", i2, pack(i2, 2)),
            "u2": ("U2", u2, pack(u2, 2)), "z": ("C128", z, z.astype("<c16").tobytes())}


def write_onnx(out):
    """OUT/onnx/model.onnx: an ONNX model (ir_version 10, opset 21) whose initializers are of the types safetensors
    lacks (INT4, UINT4, INT2, UINT2, COMPLEX128), written field by field as onnx writes them (raw_data)."""
    d = os.path.join(out, "onnx")
    os.makedirs(d, exist_ok=True)
    graph = _field(2, "g")
    for name, (dtype, arr, raw) in onnx_tensors().items():
        tensor = b"".join(_field(1, n) for n in arr.shape) + _field(2, ONNX_TYPES[dtype]) + _field(8, name) \
            + _field(9, raw)
        graph += _field(5, tensor)
    model = _field(1, 10) + _field(7, graph) + _field(8, _field(2, 21))
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(model)


if __name__ == "__main__":
    write(sys.argv[1])
    write_tree(sys.argv[1])
    write_views(sys.argv[1])
    write_onnx(sys.argv[1])
