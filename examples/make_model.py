#!/usr/bin/env python3
"""Writes a small Hugging Face-style model directory (safetensors shards, index, config, tokenizer)
with the Python standard library only, for Ferry's quickstart.

    python3 examples/make_model.py OUT_DIR [--finetune]

--finetune changes the values of a few tensors (the attention projections of layer 1 and the final norm),
like a small fine-tune, and leaves every other byte as it was.
"""
import argparse
import json
import os
import random
import struct

HIDDEN, LAYERS, VOCAB = 256, 4, 1000


def tensors(finetune):
    out = [("model.embed_tokens.weight", [VOCAB, HIDDEN])]
    for layer in range(LAYERS):
        p = f"model.layers.{layer}."
        out += [(p + "input_layernorm.weight", [HIDDEN]),
                (p + "self_attn.q_proj.weight", [HIDDEN, HIDDEN]),
                (p + "self_attn.k_proj.weight", [HIDDEN, HIDDEN]),
                (p + "self_attn.v_proj.weight", [HIDDEN, HIDDEN]),
                (p + "self_attn.o_proj.weight", [HIDDEN, HIDDEN]),
                (p + "mlp.up_proj.weight", [HIDDEN * 2, HIDDEN]),
                (p + "mlp.down_proj.weight", [HIDDEN, HIDDEN * 2])]
    out += [("model.norm.weight", [HIDDEN]), ("lm_head.weight", [VOCAB, HIDDEN])]
    changed = {"model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.v_proj.weight",
               "model.norm.weight"} if finetune else set()
    return [(name, shape, name in changed) for name, shape in out]


def data(name, shape, changed):
    rnd = random.Random(name + ("/ft" if changed else ""))
    n = 1
    for d in shape:
        n *= d
    return struct.pack(f"<{n}f", *(rnd.gauss(0.0, 0.02) for _ in range(n)))


def write_shard(path, items):
    header, blobs, at = {"__metadata__": {"format": "pt"}}, [], 0
    for name, shape, changed in items:
        b = data(name, shape, changed)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    # argparse: -h/--help prints the usage, and a mistyped option (--fintune) or a missing OUT_DIR is refused (exit 2)
    # rather than taken for the directory to write
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", metavar="OUT_DIR", help="directory to write the model into (made if absent)")
    parser.add_argument("--finetune", action="store_true",
                        help="change a few tensors' values, as a small fine-tune of the same model would")
    args = parser.parse_args()
    out, finetune = args.out_dir, args.finetune
    os.makedirs(out, exist_ok=True)
    items = tensors(finetune)
    half = len(items) // 2
    shards = [items[:half], items[half:]]
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        write_shard(os.path.join(out, name), shard)
        for t, shape, _ in shard:
            weight_map[t] = name
            n = 4
            for d in shape:
                n *= d
            total += n
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN,
                   "num_hidden_layers": LAYERS, "vocab_size": VOCAB, "torch_dtype": "float32"}, f, indent=2)
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump({"version": "1.0", "model": {"type": "BPE", "vocab": {f"tok{i}": i for i in range(VOCAB)}}}, f)


if __name__ == "__main__":
    main()
