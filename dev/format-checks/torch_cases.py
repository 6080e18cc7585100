#!/usr/bin/env python3
"""Checkpoints written by the installed PyTorch (2.x; `pip install torch numpy`), each pushed with ./ferry and loaded
with torch.load(weights_only=True), printing where the two disagree; then every accepted one is pulled back with
`--as safetensors` and each safetensors version with `--as torch`, and torch loads those too. Not in the test suite:
CI has Debian's torch 1.13, which has no float8 or unsigned types (Torch2FileTest pins a file torch 2.13 wrote).

Usage: dev/format-checks/torch_cases.py [WORKDIR]
Expected disagreements (2026-12-05, torch 2.13): quantized and sparse tensors and complex128 (Ferry refuses them,
naming them: it stores dense tensors as byte ranges), and pickle protocols 4 and 5 (torch's weights-only loader refuses
them; Ferry reads them). Added 2026-12-06: float4_e2m1fn_x2 tensors (refused by Ferry, naming the type, until it read
them as F4 with the last dimension doubled, later on 2026-12-06), and an archive written after set_crc32_options(False), every CRC 0 (Ferry refused it as corrupt; now read).
Also added 2026-12-06: a parameter and a tensor with Python attributes, and a complex number (Ferry refused them; now
read). complex128 tensors are read as C128 since 2026-12-06; safetensors has no complex128, so their `--as
safetensors` is refused, naming the tensor."""
import collections, os, subprocess, sys, tempfile
import torch

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ferry = os.path.join(root, "ferry")
work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="ferry-torch-cases.")
store = os.path.join(work, "store")
subprocess.run([ferry, "--store", store, "init"], check=True, capture_output=True)
torch.manual_seed(0)


def counting(n, dtype):
    size = torch.tensor([], dtype=dtype).element_size()
    return torch.arange(n * size, dtype=torch.uint8).view(dtype)


cases = collections.OrderedDict()
dtypes = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int8, torch.uint8, torch.int16,
          torch.int32, torch.int64, torch.bool, torch.complex64, torch.float8_e4m3fn, torch.float8_e5m2,
          torch.float8_e4m3fnuz, torch.float8_e5m2fnuz, torch.float8_e8m0fnu, torch.uint16, torch.uint32,
          torch.uint64]
cases["every-dtype"] = ({str(d).split(".")[-1]: counting(12, d).reshape(3, 4) for d in dtypes}, {})
base = torch.randn(8, 8)
cases["views"] = ({"a": base, "rows": base[2:4], "t": base.t(), "col": base[:, 1]}, {})
cases["scalar-and-empty"] = ({"s": torch.tensor(3.0), "e": torch.empty(0, 5)}, {})
cases["module-state"] = (torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4)).state_dict(), {})
cases["optimizer"] = (torch.optim.AdamW(torch.nn.Linear(2, 2).parameters()).state_dict(), {})
cases["values"] = ({"epoch": 3, "lr": 0.1, "name": "x", "steps": [1, 2], "t": (1, None), "inf": float("inf"),
                    "big": 2 ** 70, "b": b"\x00", "s": {1, 2}, "shape": torch.Size([2]), "w": torch.ones(2)}, {})
cases["legacy-format"] = ({"a": torch.ones(3)}, {"_use_new_zipfile_serialization": False})
cases["protocol-4"] = ({"a": torch.ones(3)}, {"pickle_protocol": 4})
cases["protocol-5"] = ({"a": torch.ones(3)}, {"pickle_protocol": 5})
cases["complex128"] = ({"c": torch.ones(2, dtype=torch.complex128)}, {})
cases["quantized"] = ({"q": torch.quantize_per_tensor(torch.randn(4), 0.1, 0, torch.qint8)}, {})
cases["sparse"] = ({"s": torch.eye(3).to_sparse()}, {})
cases["no-crc32"] = ({"a": torch.ones(3), "b": torch.arange(4)}, {"crc32": False})  # set_crc32_options(False)
cases["float4-x2"] = ({"f": torch.arange(6, dtype=torch.uint8).view(torch.float4_e2m1fn_x2)}, {})
_param = torch.nn.Parameter(torch.ones(2))
_param.tag = 3
_tensor = torch.arange(3)
_tensor.note = "x"
cases["attributes"] = ({"p": _param, "t": _tensor}, {})
cases["complex-value"] = ({"c": 1 + 2j, "w": torch.ones(2)}, {})


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > " + os.path.join(work, "pwned"),))


cases["code"] = ({"a": Evil()}, {})


def run(*args):
    return subprocess.run([ferry, "--store", store, *args], capture_output=True, text=True)


disagree = 0
for name, (obj, kw) in cases.items():
    d = os.path.join(work, "cases", name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "pytorch_model.bin")
    crc32 = kw.pop("crc32", True)
    torch.serialization.set_crc32_options(crc32)
    torch.save(obj, path, **kw)
    torch.serialization.set_crc32_options(True)
    try:
        torch.load(path, weights_only=True)
        ref = "loads"
    except Exception:  # noqa: BLE001 - any refusal is a refusal
        ref = "refuses"
    p = run("push", d, "m-" + name)
    mine = "loads" if p.returncode == 0 else "refuses"
    disagree += ref != mine
    print(f"{'  ' if ref == mine else '**'} {name:18} torch {ref:8} ferry {mine:8} "
          f"{(p.stderr.strip().splitlines() or [''])[-1][:100]}")
    if mine == "loads":
        out = os.path.join(work, "as-safetensors", name)
        q = run("pull", "m-" + name, out, "--as", "safetensors")
        if name == "complex128":  # safetensors has complex64 but no complex128: refused, naming the tensor
            assert q.returncode == 1 and "tensor 'c' is C128" in q.stderr, q.stderr
            continue
        assert q.returncode == 0, q.stderr
        back = os.path.join(work, "back", name)
        assert run("push", out, "st-" + name).returncode == 0
        r = run("pull", "st-" + name, back, "--as", "torch")
        assert r.returncode == 0, r.stderr
        for f in os.listdir(back):
            if f.endswith(".bin"):
                torch.load(os.path.join(back, f), weights_only=True)
assert not os.path.exists(os.path.join(work, "pwned")), "a pickle ran code"
print(f"{len(cases)} cases, {disagree} disagreements (work directory {work}); every accepted one converted both ways"
      " and loaded by torch (but complex128, which safetensors cannot hold)")
