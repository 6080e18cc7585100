"""Writes ONNX models with the onnx package for OnnxPythonTest: OUT/inline (initializers in the file),
OUT/one (external data in one file), OUT/many (one external file per initializer). For every initializer it also writes
OUT/expected/NAME.bin, the initializer's bytes as onnx's numpy_helper gives them (little-endian, row-major)."""
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def graph_model(inits):
    out = helper.make_tensor_value_info("out", inits[0].data_type, None)
    g = helper.make_graph([helper.make_node("Identity", [inits[0].name], ["out"])], "g", [], [out],
                          initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def arrays():
    rng = np.random.default_rng(7)
    return {
        "emb.weight": rng.standard_normal((300, 64)).astype(np.float32),
        "ln.bias": rng.standard_normal((64,)).astype(np.float16),
        "ids": np.arange(50, dtype=np.int64),
        "mask": np.array([True, False, True]),
        "scalar": np.array(2.5, dtype=np.float64),
        "proj.w": rng.standard_normal((64, 128)).astype(np.float32),
    }


def main(out):
    a = arrays()
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)
    for name, arr in a.items():
        with open(os.path.join(out, "expected", name + ".bin"), "wb") as f:
            f.write(numpy_helper.from_array(arr, name).raw_data)
    for kind in ("inline", "one", "many"):
        d = os.path.join(out, kind)
        os.makedirs(d, exist_ok=True)
        m = graph_model([numpy_helper.from_array(arr, name) for name, arr in a.items()])
        path = os.path.join(d, "model.onnx")
        if kind == "inline":
            onnx.save_model(m, path)
        else:
            onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=(kind == "one"),
                            location="model.onnx_data" if kind == "one" else None, size_threshold=0)
        onnx.load(path)  # the library reads back what it wrote, external data included
    print("ok")


main(sys.argv[1])
