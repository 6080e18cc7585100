#!/usr/bin/env python3
"""Hand-made safetensors files, each pushed with ./ferry and opened with the reference reader (the `safetensors`
Python package, Rust inside; `pip install safetensors numpy`), printing where the two disagree. Not part of the test
suite: PyPI is not reachable on every machine Ferry's CI runs on. The cases Ferry refuses are pinned by
SafetensorsReaderTest; this script checks that its choices are the reference's.

Usage: dev/format-checks/safetensors_cases.py [WORKDIR]   (run with the Python that has `safetensors`)
Expected disagreements: dtypes numpy cannot hold (BF16, F8_*, F4, F6_*: the header is accepted, numpy refuses the
tensor) and duplicate tensor names and __metadata__ keys (refused by Ferry on purpose, see SafetensorsReader)."""
import json, os, struct, subprocess, sys, tempfile

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="ferry-st-cases.")
cases = {}


def case(name, header=None, data=b"", raw=None, hlen=None):
    h = raw if raw is not None else json.dumps(header, separators=(",", ":")).encode()
    cases[name] = struct.pack("<Q", len(h) if hlen is None else hlen) + h + data


def t(dt, shape, a, b):
    return {"dtype": dt, "shape": shape, "data_offsets": [a, b]}


ONE = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
case("ok", {"a": t("F32", [2], 0, 8)}, b"\0" * 8)
for dt, size in [("F64", 8), ("F32", 4), ("F16", 2), ("BF16", 2), ("I64", 8), ("I32", 4), ("I16", 2), ("I8", 1),
                 ("U8", 1), ("U16", 2), ("U32", 4), ("U64", 8), ("BOOL", 1), ("F8_E4M3", 1), ("F8_E5M2", 1),
                 ("F8_E8M0", 1), ("C64", 8)]:
    case("dtype-" + dt, {"a": t(dt, [4], 0, 4 * size)}, b"\0" * 4 * size)
case("f4-odd-count", {"a": t("F4", [3], 0, 2)}, b"\0" * 2)
case("f4-even-count", {"a": t("F4", [4], 0, 2)}, b"\0" * 2)
case("f6-four", {"a": t("F6_E2M3", [4], 0, 3)}, b"\0" * 3)
case("gap", {"a": t("F32", [1], 0, 4), "b": t("F32", [1], 8, 12)}, b"\0" * 12)
case("overlap", {"a": t("F32", [2], 0, 8), "b": t("F32", [2], 4, 12)}, b"\0" * 12)
case("not-from-zero", {"a": t("F32", [1], 4, 8)}, b"\0" * 8)
case("trailing-bytes", {"a": t("F32", [1], 0, 4)}, b"\0" * 8)
case("truncated-data", {"a": t("F32", [4], 0, 16)}, b"\0" * 8)
case("lowercase-dtype", {"a": t("f32", [1], 0, 4)}, b"\0" * 4)
case("unknown-dtype", {"a": t("F128", [1], 0, 16)}, b"\0" * 16)
case("empty-shape-dim", {"a": t("F32", [0, 5], 0, 0)})
case("scalar", {"a": t("F32", [], 0, 4)}, b"\0" * 4)
case("negative-dim", {"a": t("F32", [-1], 0, 4)}, b"\0" * 4)
case("float-dim", {"a": t("F32", [1.0], 0, 4)}, b"\0" * 4)
case("shape-overflow", {"a": t("F32", [2 ** 62, 8], 0, 4)}, b"\0" * 4)
case("offsets-float", {"a": t("F32", [1], 0, 4.0)}, b"\0" * 4)
case("offsets-three", {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}, b"\0" * 4)
case("extra-key", {"a": dict(t("F32", [1], 0, 4), x=1)}, b"\0" * 4)
case("metadata-number", {"__metadata__": {"k": 1}, "a": t("F32", [1], 0, 4)}, b"\0" * 4)
case("metadata-object", {"__metadata__": {"k": {"x": "y"}}, "a": t("F32", [1], 0, 4)}, b"\0" * 4)
case("metadata-only", {"__metadata__": {"k": "v"}})
case("empty-object", {})
case("array", raw=b"[]")
case("leading-space", data=b"\0" * 4, raw=b" " + ONE)
case("trailing-spaces", data=b"\0" * 4, raw=ONE + b"    ")
case("trailing-nul", data=b"\0" * 4, raw=ONE + b"\0\0\0")
case("duplicate-name", data=b"\0" * 4, raw=ONE[:-1] + b"," + ONE[1:])
case("header-length-0", raw=b"")
case("header-length-huge", raw=b"{}", hlen=2 ** 62)
case("header-length-past-end", raw=b"{}", hlen=100)
case("header-over-100-mb", raw=b"{}", hlen=100_000_001)
case("not-utf8", raw=b'{"\xff":1}')
case("unicode-name", {"t\u00e9\u6f22\U0001F600": t("F32", [1], 0, 4)}, b"\0" * 4)
case("empty-name", {"": t("F32", [1], 0, 4)}, b"\0" * 4)
case("deep-nesting", raw=b'{"__metadata__":' + b'{"a":' * 200 + b'"x"' + b"}" * 200 + b"}")
case("two-empty-tensors", {"a": t("F32", [0], 0, 0), "b": t("F32", [0], 0, 0)})
case("minus-zero-offset", data=b"\0" * 4, raw=ONE.replace(b"[0,4]", b"[-0,4]"))
case("infinite-number-in-unknown-key", data=b"\0" * 4, raw=ONE.replace(b"4]}", b'4],"x":1e999}'))
case("lone-surrogate-in-unknown-key", data=b"\0" * 4, raw=ONE.replace(b"4]}", b'4],"x":"\\ud800"}'))
case("repeated-unknown-key", data=b"\0" * 4, raw=ONE.replace(b"4]}", b'4],"x":1,"x":2}'))
case("20000-tensors", {f"t{i}": t("U8", [1], i, i + 1) for i in range(20000)}, b"\0" * 20000)
ONE_OBJ = b'{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
case("repeated-dtype", data=b"\0" * 4, raw=b'{"a":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}')
case("repeated-shape", data=b"\0" * 4, raw=b'{"a":{"dtype":"F32","shape":[2],"shape":[1],"data_offsets":[0,4]}}')
case("repeated-offsets", data=b"\0" * 8,
     raw=b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8],"data_offsets":[0,4]}}')
case("repeated-metadata", data=b"\0" * 4,
     raw=b'{"__metadata__":{"k":"v"},"__metadata__":{"k":"w"},"a":' + ONE_OBJ + b"}")
case("repeated-metadata-key", data=b"\0" * 4, raw=b'{"__metadata__":{"k":"v","k":"w"},"a":' + ONE_OBJ + b"}")
case("metadata-null", {"__metadata__": None, "a": t("F32", [1], 0, 4)}, b"\0" * 4)
case("metadata-null-value", {"__metadata__": {"k": None}, "a": t("F32", [1], 0, 4)}, b"\0" * 4)
case("metadata-list", {"__metadata__": ["a"], "a": t("F32", [1], 0, 4)}, b"\0" * 4)
case("entry-not-object", {"a": [1, 2]})
case("missing-dtype", {"a": {"shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4)
case("missing-offsets", {"a": {"dtype": "F32", "shape": [1]}}, b"\0" * 4)
case("offsets-reversed", {"a": t("F32", [0], 4, 0)}, b"\0" * 4)
case("offsets-u64-max", {"a": t("U8", [1], 2 ** 64 - 1, 2 ** 64)}, b"\0")
case("offsets-over-u64", {"a": t("U8", [1], 0, 2 ** 64 + 1)}, b"\0")
case("shape-overflow-beside-zero", {"a": t("F32", [2 ** 40, 2 ** 40, 0], 0, 0)})
case("shape-over-u64", {"a": t("U8", [2 ** 64], 0, 1)}, b"\0")
case("lowercase-bool", {"a": t("bool", [1], 0, 1)}, b"\0")
case("f6-one", {"a": t("F6_E3M2", [1], 0, 1)}, b"\0")
case("f4-three-by-one", {"a": t("F4", [3, 1], 0, 2)}, b"\0" * 2)
case("ferry-only-dtype-I4", {"a": t("I4", [2], 0, 1)}, b"\0")
case("ferry-only-dtype-C128", {"a": t("C128", [1], 0, 16)}, b"\0" * 16)
case("header-padded-with-spaces", data=b"\0" * 4, raw=ONE + b" " * 7)
case("header-bom", data=b"\0" * 4, raw=b"\xef\xbb\xbf" + ONE)
case("name-with-nul", {"a\u0000b": t("F32", [1], 0, 4)}, b"\0" * 4)


def reference(path):
    from safetensors import safe_open
    try:
        with safe_open(path, framework="numpy") as f:
            for k in f.keys():
                f.get_tensor(k)
        return "accepts", ""
    except Exception as e:  # noqa: BLE001 - any refusal is a refusal
        return "refuses", f"{type(e).__name__}: {str(e)[:80]}"


store = os.path.join(work, "store")
subprocess.run([os.path.join(root, "ferry"), "--store", store, "init"], check=True, capture_output=True)
disagree = 0
for name, content in cases.items():
    d = os.path.join(work, "cases", name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.safetensors")
    with open(path, "wb") as f:
        f.write(content)
    ref, why = reference(path)
    p = subprocess.run([os.path.join(root, "ferry"), "--store", store, "push", "-q", d, "m-" + name.lower()],
                       capture_output=True, text=True)
    ferry = "accepts" if p.returncode == 0 else "refuses"
    said = (p.stderr.strip().splitlines() or [""])[-1][:110]
    mark = "  " if ref == ferry else "**"
    disagree += ref != ferry
    print(f"{mark} {name:24} reference {ref:8} ferry {ferry:8} {why if ref != ferry else ''} {said}")
print(f"{len(cases)} cases, {disagree} disagreements (work directory {work})")
