"""Independent checks of Ferry's derivations with numpy (Debian python3-numpy), used by the Derive* tests.

  derive_check.py metrics SOURCE_DIR DERIVED_DIR   -> JSON {tensor: metrics, "__overall__": metrics} on stdout
  derive_check.py dequant DERIVED_DIR OUT_DIR      -> writes OUT_DIR/<tensor>.f32 (raw little-endian float32)
  derive_check.py f16 IN OUT                       -> float32 values of IN as IEEE half bits (numpy astype)
  derive_check.py torch-pair DIR                   -> writes DIR/model.safetensors and DIR/pytorch_model.bin (torch)
                                                      holding the same state dict
  derive_check.py torch-cast PAIR_DIR DERIVED_DIR  -> "ok" if DERIVED_DIR's safetensors hold torch's bf16 of the pair's
                                                      float tensors and its pytorch_model.bin loads as the pair's

SOURCE_DIR and DERIVED_DIR are pulled model directories; ferry-derivation.json in DERIVED_DIR says which tensors
changed. read_safetensors and dequantize are the snippet of docs/derivations.md.
"""
import json
import os
import struct
import sys

import numpy as np

def read_safetensors(path):
    """(metadata, {name: array}) of a safetensors file; BF16 is widened to float32 exactly."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    types = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I8": "i1", "U8": "u1", "I32": "<i4", "I64": "<i8"}
    out = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        if t["dtype"] == "BF16":
            arr = (np.frombuffer(data[a:b], dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(data[a:b], dtype=types[t["dtype"]])
        out[name] = arr.reshape(t["shape"])
    return meta, out

def dequantize(tensors, name, bits, symmetric):
    """Float32 values of quantized tensor `name` (layout ferry-groupwise-int/1)."""
    q = tensors[name]
    scale = tensors[name + ".scale"]                       # float32 [rows, groups]
    rows, groups = scale.shape
    if bits == 4:                                          # two values per byte, low nibble first
        q = np.stack([q & 0x0F, q >> 4], axis=-1).reshape(rows, -1)
    cols = q.shape[1]
    q = q.astype(np.float32)
    if bits == 4 and symmetric:
        q -= 8
    if not symmetric:
        q -= np.repeat(tensors[name + ".zero_point"].astype(np.float32), cols // groups, axis=1)
    return q * np.repeat(scale, cols // groups, axis=1)   # float32, one rounding


def load_dir(d):
    tensors, metas = {}, {}
    for root, _, files in os.walk(d):
        for f in files:
            if f.endswith(".safetensors"):
                meta, t = read_safetensors(os.path.join(root, f))
                for k in t:
                    metas[k] = meta
                tensors.update(t)
    return tensors, metas


def metrics(a, b):
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    d = a - b
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return {"max_abs_error": float(np.abs(d).max()), "rmse": float(np.sqrt(np.mean(d * d))),
            "rel_frobenius_error": float(np.linalg.norm(d) / na), "cosine_similarity": float(a @ b / (na * nb)),
            "sparsity": float(np.mean(b == 0)), "elements": int(a.size)}


def derived_values(tensors, metas, name):
    meta = metas[name]
    if meta.get("ferry.quantization") == "ferry-groupwise-int/1" and name + ".scale" in tensors:
        return dequantize(tensors, name, int(meta["ferry.quantization.bits"]),
                          meta["ferry.quantization.symmetric"] == "true")
    return tensors[name]


def main():
    cmd = sys.argv[1]
    if cmd == "metrics":
        src, _ = load_dir(sys.argv[2])
        dst, metas = load_dir(sys.argv[3])
        report = json.load(open(os.path.join(sys.argv[3], "ferry-derivation.json")))
        out, alla, allb = {}, [], []
        for t in report["tensors"]:
            if t["action"] == "kept":
                continue
            a = src[t["name"]]
            b = derived_values(dst, metas, t["name"])
            out[t["name"]] = metrics(a, b)
            alla.append(a.astype(np.float64).ravel())
            allb.append(b.astype(np.float64).ravel())
        out["__overall__"] = metrics(np.concatenate(alla), np.concatenate(allb))
        print(json.dumps(out))
    elif cmd == "dequant":
        dst, metas = load_dir(sys.argv[2])
        for name in dst:
            if name + ".scale" in dst:
                derived_values(dst, metas, name).astype("<f4").tofile(os.path.join(sys.argv[3], name + ".f32"))
    elif cmd == "f16":
        x = np.fromfile(sys.argv[2], dtype="<f4")
        with np.errstate(over="ignore"):
            x.astype("<f2").view("<u2").tofile(sys.argv[3])
    elif cmd == "torch-pair":
        import torch
        g = torch.Generator().manual_seed(7)
        sd = {"a.weight": torch.randn(64, 32, generator=g), "a.bias": torch.randn(32, generator=g),
              "ids": torch.arange(16, dtype=torch.int64)}
        torch.save(sd, os.path.join(sys.argv[2], "pytorch_model.bin"))
        header, data = {}, b""
        for name, t in sd.items():
            raw = t.numpy().tobytes()
            header[name] = {"dtype": {torch.float32: "F32", torch.int64: "I64"}[t.dtype], "shape": list(t.shape),
                            "data_offsets": [len(data), len(data) + len(raw)]}
            data += raw
        h = json.dumps(header).encode()
        with open(os.path.join(sys.argv[2], "model.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + data)
    elif cmd == "torch-cast":
        import torch
        sd = torch.load(os.path.join(sys.argv[2], "pytorch_model.bin"), weights_only=True)
        kept = torch.load(os.path.join(sys.argv[3], "pytorch_model.bin"), weights_only=True)
        derived, _ = load_dir(sys.argv[3])
        for name, t in sd.items():
            if not torch.equal(kept[name], t):
                raise SystemExit("pytorch_model.bin: " + name + " changed")
            want = t.to(torch.bfloat16).to(torch.float32).numpy() if t.is_floating_point() else t.numpy()
            if not np.array_equal(derived[name].view(want.dtype), want):
                raise SystemExit("model.safetensors: " + name + " is not torch's bf16 of the source")
        print("ok")
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
