"""Writes PyTorch checkpoints for TorchCheckpointTest and checks what `ferry pull --as safetensors` made of them.

write DIR        DIR/model: a training checkpoint (model with tied weights + Adam state after one step + views +
                 dtypes); DIR/legacy/old.pt: the same in the legacy format; DIR/complex: complex tensors;
                 DIR/model2: fc.weight changed; DIR/evil: one directory per malicious checkpoint, each payload
                 would create DIR/evil/markers/<name> if it were unpickled; DIR/stacked/<name>/ckpt.pt: a
                 checkpoint whose pickle leaves other values or an open mark below its result, which torch.load
                 reads (checked here), and DIR/stacked-refused: one that STOPs with nothing above its open mark
check PT ST...    loads each PT with torch and its ST by hand (no safetensors package here), compares every tensor

This script never unpickles a malicious file: only `check` calls torch.load, on the checkpoint `write` made.
"""
import dataclasses
import json
import os
import struct
import sys
import zipfile

import torch

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}


@dataclasses.dataclass
class TrainingArguments:
    """Stands for transformers' TrainingArguments: a class of the training code, pickled by torch.save(args)."""
    output_dir: str = "out"
    learning_rate: float = 5e-5


def write(out):
    os.makedirs(os.path.join(out, "model"), exist_ok=True)
    torch.manual_seed(0)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 4)
            self.fc = torch.nn.Linear(4, 3)
            self.head = torch.nn.Linear(4, 10, bias=False)
            self.head.weight = self.emb.weight  # tied weights: one storage, two names

        def forward(self, x):
            h = self.emb(x)
            return self.fc(h).sum() + self.head(h).sum()

    m = Model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m(torch.tensor([1, 2, 3])).backward()
    opt.step()
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    extra = {
        "transposed": base.t(),          # non-contiguous view
        "strided": base[:, ::2],         # non-contiguous view with gaps
        "row": base[1],                  # contiguous view at an offset
        "bf16": torch.randn(3, 5).to(torch.bfloat16),
        "f16": torch.randn(7).half(),
        "f64": torch.randn(2, 2, dtype=torch.float64),
        "i64": torch.arange(5),
        "i32": torch.arange(4, dtype=torch.int32) - 2,
        "i16": torch.arange(3, dtype=torch.int16),
        "i8": torch.tensor([-1, 0, 1], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
    }
    ck = {"model": m.state_dict(), "optimizer": opt.state_dict(), "epoch": 3, "note": "hello", "extra": extra}
    torch.save(ck, os.path.join(out, "model", "ckpt.pt"))
    # the same checkpoint in the legacy (non-zip) format
    os.makedirs(os.path.join(out, "legacy"), exist_ok=True)
    torch.save(ck, os.path.join(out, "legacy", "old.pt"), _use_new_zipfile_serialization=False)
    # legacy with pickle protocol 4 (FRAME opcodes), under the name Hugging Face gives checkpoints
    os.makedirs(os.path.join(out, "legacy4"), exist_ok=True)
    torch.save(ck, os.path.join(out, "legacy4", "pytorch_model.bin"), _use_new_zipfile_serialization=False,
               pickle_protocol=4)
    # values torch 2's weights_only loader reads besides tensors: a shape, a device, a dtype, bytes, a set (protocol 2
    # pickles the last two through _codecs.encode and __builtin__.set)
    os.makedirs(os.path.join(out, "values"), exist_ok=True)
    import numpy
    torch.save({"w": torch.ones(2, 3), "shape": torch.Size([2, 3]), "device": torch.device("cuda", 1),
                "dtype": torch.bfloat16, "blob": b"\x00\xff", "tags": {"ft"}, "best": numpy.float64(0.5),
                "steps": numpy.int64(7), "hist": numpy.array([1, 2, 3], dtype=numpy.uint16),
                "phase": numpy.complex128(1 - 2.5j), "phase64": numpy.complex64(0.5 + 1j)},
               os.path.join(out, "values", "ckpt.pt"))
    # protocol 5 pickles numpy arrays through numpy.core.numeric._frombuffer
    torch.save({"w": torch.ones(2), "hist": numpy.array([1, 2, 3], dtype=numpy.uint16)},
               os.path.join(out, "values", "proto5.pt"), pickle_protocol=5)
    # complex tensors: torch.save names a complex128 storage torch.ComplexDoubleStorage, a complex64 one
    # torch.ComplexFloatStorage; complex.bin holds z's bytes, for reading it back
    os.makedirs(os.path.join(out, "complex"), exist_ok=True)
    z = torch.tensor([[1 + 2j, -3.5 + 0.25j], [0.1 - 7j, 2 + 0j]], dtype=torch.complex128)
    torch.save({"z": z, "zt": z.t(), "y": torch.tensor([1 + 2j, 3 - 4j], dtype=torch.complex64)},
               os.path.join(out, "complex", "ckpt.pt"))
    with open(os.path.join(out, "complex.bin"), "wb") as f:
        f.write(z.numpy().tobytes())
    # a Hugging Face Trainer checkpoint directory: training_args.bin pickles a dataclass of the training script and
    # rng_state.pth numpy's random state, which no weights-only loader reads; the weights are a state dict
    trainer = os.path.join(out, "trainer", "checkpoint-500")
    os.makedirs(trainer, exist_ok=True)
    torch.save(TrainingArguments(), os.path.join(trainer, "training_args.bin"))
    import numpy
    import random
    torch.save({"python": random.getstate(), "numpy": numpy.random.get_state(), "cpu": torch.random.get_rng_state()},
               os.path.join(trainer, "rng_state.pth"))
    torch.save(m.state_dict(), os.path.join(trainer, "pytorch_model.bin"))
    with open(os.path.join(trainer, "trainer_state.json"), "w") as f:
        f.write('{"global_step": 500}')
    # a TorchScript model as a Triton model repository holds it (model.pt: code and constants, not a state dict)
    os.makedirs(os.path.join(out, "triton", "linear", "1"), exist_ok=True)
    torch.jit.script(torch.nn.Linear(4, 3)).save(os.path.join(out, "triton", "linear", "1", "model.pt"))
    with open(os.path.join(out, "triton", "linear", "config.pbtxt"), "w") as f:
        f.write('name: "linear"\nbackend: "pytorch"\n')
    # the next checkpoint of the run: only the fc layer and the epoch change
    os.makedirs(os.path.join(out, "model2"), exist_ok=True)
    with torch.no_grad():
        m.fc.weight.add_(1.0)
    ck["epoch"] = 4
    torch.save(ck, os.path.join(out, "model2", "ckpt.pt"))


def flatten(value, path, out):
    if isinstance(value, torch.Tensor):
        out[path] = value
    elif isinstance(value, dict):
        if path is None or holds_tensor(value):
            for k, v in value.items():
                flatten(v, str(k) if path is None else path + "." + str(k), out)
    elif isinstance(value, (list, tuple)) and holds_tensor(value):
        for i, v in enumerate(value):
            flatten(v, str(i) if path is None else path + "." + str(i), out)


def holds_tensor(value):
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, dict):
        return any(holds_tensor(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(holds_tensor(v) for v in value)
    return False


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    tensors = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        raw = bytearray(body[b:e])
        x = torch.frombuffer(raw, dtype=DTYPES[t["dtype"]]) if raw else torch.empty(0, dtype=DTYPES[t["dtype"]])
        tensors[name] = x.reshape(t["shape"])
    return tensors, meta


def check(pt, st):
    original = torch.load(pt, map_location="cpu")  # our own file from `write`
    expected = {}
    flatten(original, None, expected)
    got, meta = read_safetensors(st)
    assert sorted(got) == sorted(expected), (sorted(got), sorted(expected))
    for name, x in expected.items():
        y = got[name]
        assert y.dtype == x.dtype, (name, y.dtype, x.dtype)
        assert list(y.shape) == list(x.shape), (name, y.shape, x.shape)
        assert torch.equal(y, x.contiguous()), name
    assert json.loads(meta["epoch"]) == original["epoch"], meta
    assert json.loads(meta["note"]) == original["note"], meta
    groups = json.loads(meta["optimizer.param_groups"])
    want = json.loads(json.dumps(original["optimizer"]["param_groups"]))
    assert groups == want, (groups, want)
    print("ok %d tensors" % len(got))


def check_torch(st, pt):
    """A checkpoint `pull --as torch` wrote loads with weights_only=True and holds the safetensors file's tensors."""
    loaded = torch.load(pt, map_location="cpu", weights_only=True)
    expected, _ = read_safetensors(st)
    assert list(loaded) == list(expected) or sorted(loaded) == sorted(expected), (list(loaded), list(expected))
    for name, x in expected.items():
        y = loaded[name]
        assert y.dtype == x.dtype, (name, y.dtype, x.dtype)
        assert list(y.shape) == list(x.shape), (name, y.shape, x.shape)
        assert y.is_contiguous(), name
        assert torch.equal(y, x), name
    print("ok %d tensors" % len(loaded))


def stacked(out):
    """Checkpoints whose pickle leaves values or an open mark below its result at STOP: torch.load takes the top."""
    base = os.path.join(out, "base.pt")
    torch.save({"w": torch.arange(6, dtype=torch.float32)}, base)
    with zipfile.ZipFile(base) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    os.remove(base)
    pkl = [n for n in entries if n.endswith("/data.pkl")][0]
    assert entries[pkl][:2] == b"\x80\x02" and entries[pkl][-1:] == b"."
    variants = {"stacked/values": b"\x80\x02N}" + entries[pkl][2:],  # None and {} below the result
                "stacked/mark": b"\x80\x02N(" + entries[pkl][2:],  # an open mark below the result
                "stacked-refused": entries[pkl][:-1] + b"(."}  # an open mark with nothing above it
    for name, data in variants.items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        with zipfile.ZipFile(os.path.join(d, "ckpt.pt"), "w", zipfile.ZIP_STORED) as z:
            for n, b in entries.items():
                z.writestr(n, data if n == pkl else b)
        try:
            loaded = torch.load(os.path.join(d, "ckpt.pt"))
        except Exception:  # pylint: disable=broad-except
            loaded = None
        assert (loaded is None) == (name == "stacked-refused"), name
        assert loaded is None or torch.equal(loaded["w"], torch.arange(6, dtype=torch.float32)), name


def archive(path, pickle_bytes, names=None):
    """A zip container as torch.save makes it, with our pickle as data.pkl."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr((names or {}).get("pkl", "archive/data.pkl"), pickle_bytes)
        z.writestr("archive/version", b"3\n")


def evil(out):
    markers = os.path.join(out, "markers")
    os.makedirs(markers, exist_ok=True)

    def marker(name):
        return os.path.join(markers, name)

    def s(text):  # BINUNICODE
        b = text.encode()
        return b"X" + struct.pack("<I", len(b)) + b

    def g(module, name):
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"

    P = b"\x80\x02"
    touch = lambda name: s("touch " + marker(name))
    py_touch = lambda name: s("open(%r, 'w').close()" % marker(name))
    payloads = {
        # os.system via REDUCE
        "os-system": P + g("os", "system") + b"(" + touch("os-system") + b"tR.",
        "posix-system": P + g("posix", "system") + b"(" + touch("posix-system") + b"tR.",
        "exec": P + g("builtins", "exec") + b"(" + py_touch("exec") + b"tR.",
        "eval": P + g("builtins", "eval") + b"(" + py_touch("eval") + b"tR.",
        # builtins.getattr(builtins.__import__('os'), 'system')('touch ...')
        "getattr": P + g("builtins", "getattr") + b"(" + g("builtins", "__import__") + b"(" + s("os") + b"tR"
        + s("system") + b"tR(" + touch("getattr") + b"tR.",
        # a forbidden global memoised, popped, then fetched back from the memo and called
        "memo": P + g("os", "system") + b"q\x000" + b"}q\x01" + b"h\x00(" + touch("memo") + b"tR.",
        # the call nested inside an allowed container: {'model': OrderedDict([('w', os.system(...))])}
        "nested": P + b"}(" + s("model") + g("collections", "OrderedDict") + b")R(" + s("w") + g("os", "system")
        + b"(" + touch("nested") + b"tRu" + b"u.",
        # INST and OBJ opcodes
        "inst": P + b"(" + touch("inst") + b"ios\nsystem\n.",
        "obj": P + b"(" + g("os", "system") + touch("obj") + b"o.",
        # a string claiming 4 GiB
        "huge": P + b"X" + struct.pack("<I", 0xFFFFFFF0) + b"abc.",
        # lists nested 5000 deep (no code, but a recursion bomb for naive readers)
        "deep": P + b"]" * 5000 + b"a" * 4999 + b".",
    }
    for name, data in payloads.items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        archive(os.path.join(d, "ckpt.pt"), data)
    # a real checkpoint cut in half
    d = os.path.join(out, "truncated")
    os.makedirs(d, exist_ok=True)
    torch.save({"w": torch.arange(1000, dtype=torch.float32)}, os.path.join(d, "ckpt.pt"))
    with open(os.path.join(d, "ckpt.pt"), "r+b") as f:
        f.truncate(os.path.getsize(os.path.join(d, "ckpt.pt")) // 2)
    # zip entries that escape: '..' and an absolute name
    for name, entry in (("dotdot", "archive/../../evil"), ("absolute", "/tmp/evil")):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        with zipfile.ZipFile(os.path.join(d, "ckpt.pt"), "w", zipfile.ZIP_STORED) as z:
            z.writestr("archive/data.pkl", P + b"}.")
            info = zipfile.ZipInfo(entry)
            z.writestr(info, b"x")


if __name__ == "__main__":
    {"write": lambda: (write(sys.argv[2]), evil(os.path.join(sys.argv[2], "evil")), stacked(sys.argv[2])),
     "check": lambda: [check(sys.argv[i], sys.argv[i + 1]) for i in range(2, len(sys.argv), 2)],
     "check-torch": lambda: check_torch(sys.argv[2], sys.argv[3])}[sys.argv[1]]()
