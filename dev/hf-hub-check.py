#!/usr/bin/env python3
"""Loads a model from a `ferry serve` with Python's huggingface_hub, as a user with HF_ENDPOINT set would, and checks
every file against the pushed one. The huggingface_hub calls are in the suite (ferry-server's HfPythonClientTest, more
of them); this script is for checking by hand, with transformers and torch when they are installed.

Usage (from the repository root; needs `pip install huggingface_hub safetensors numpy`):
  python3 dev/hf-hub-check.py [WORKDIR]
It makes a small model (safetensors, config, a file in a subdirectory), pushes it to a new local store, tags it, starts
`./ferry serve` on a free loopback port with a token file, and runs huggingface_hub's download and listing calls
through HF_ENDPOINT, with the token and without (which must fail)."""
import hashlib, json, os, socket, struct, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ferry = os.path.join(root, "ferry")
work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="ferry-hf-hub.")
model = os.path.join(work, "model")
os.makedirs(os.path.join(model, "sub"), exist_ok=True)
header = json.dumps({"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [64, 64],
                                                            "data_offsets": [0, 16384]}}).encode()
header += b" " * (-len(header) % 8)
with open(os.path.join(model, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header + os.urandom(16384))
with open(os.path.join(model, "config.json"), "w") as f:
    f.write('{"model_type": "bert"}')
with open(os.path.join(model, "sub", "tokenizer.json"), "w") as f:
    f.write("{}")
store, tokens = os.path.join(work, "store"), os.path.join(work, "tokens")
run = lambda *a: subprocess.run([ferry, "--store", store, *a], check=True, capture_output=True, text=True).stdout
run("init")
run("push", model, "org/tiny")
run("tag", "org/tiny", "prod")
token = subprocess.run([ferry, "token", "create", "--tokens", tokens, "--scope", "read:org/*"], check=True,
                       capture_output=True, text=True).stdout.split()[-1]
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
server = subprocess.Popen([ferry, "--store", store, "serve", "--listen", f"127.0.0.1:{port}", "--tokens", tokens],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    os.environ.update(HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_TOKEN=token,
                      HF_HUB_CACHE=os.path.join(work, "cache"), HF_HUB_DISABLE_TELEMETRY="1")
    import huggingface_hub as h
    from huggingface_hub import HfFileSystem

    digest = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
    want = {os.path.relpath(os.path.join(d, n), model): digest(os.path.join(d, n))
            for d, _, ns in os.walk(model) for n in ns}
    for target in (dict(local_dir=os.path.join(work, "dl")), dict(revision="prod")):
        got_dir = h.snapshot_download("org/tiny", **target)
        got = {os.path.relpath(os.path.join(d, n), got_dir): digest(os.path.join(d, n))
               for d, _, ns in os.walk(got_dir) for n in ns if ".cache" not in d}
        assert got == want, (target, got, want)
    assert digest(h.hf_hub_download("org/tiny", "config.json")) == want["config.json"]
    info = h.model_info("org/tiny", files_metadata=True)
    assert sorted(s.rfilename for s in info.siblings) == sorted(want)
    assert all(s.lfs.sha256 == want[s.rfilename] for s in info.siblings)
    assert sorted(h.list_repo_files("org/tiny")) == sorted(want)
    assert h.file_exists("org/tiny", "config.json") and not h.file_exists("org/tiny", "nope.json")
    assert h.repo_exists("org/tiny") and not h.repo_exists("org/nope")
    assert h.revision_exists("org/tiny", "prod") and not h.revision_exists("org/tiny", "nope")
    assert [(p.path, type(p).__name__) for p in h.get_paths_info("org/tiny", ["config.json", "sub", "nope"])] == \
        [("config.json", "RepoFile"), ("sub", "RepoFolder")]
    assert h.get_safetensors_metadata("org/tiny").parameter_count == {"F32": 4096}
    fs = HfFileSystem()
    assert sorted(x["name"] for x in fs.ls("org/tiny")) == ["org/tiny/config.json", "org/tiny/model.safetensors",
                                                           "org/tiny/sub"]
    assert fs.cat("org/tiny/config.json") == b'{"model_type": "bert"}'
    with fs.open("org/tiny/model.safetensors", "rb") as f:
        f.seek(8)
        assert f.read(14) == header[:14]
    del os.environ["HF_TOKEN"]
    try:
        h.snapshot_download("org/tiny", local_dir=os.path.join(work, "no-token"), token=False)
        raise AssertionError("downloaded without a token")
    except h.errors.HfHubHTTPError:
        pass
    print(f"huggingface_hub {h.__version__}: every call read what Ferry stored (work directory {work})")
    try:
        import torch
        import transformers
    except ImportError:
        print("transformers or torch not installed: from_pretrained not checked")
    else:
        # a tiny BERT saved by transformers, pushed three ways (safetensors, sharded, pytorch_model.bin), loaded back
        os.environ["HF_TOKEN"] = token
        torch.manual_seed(0)
        cfg = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=64)
        bert = transformers.BertModel(cfg).eval()
        ids = torch.tensor([[1, 5, 7, 9, 2]])
        want_out = bert(ids).last_hidden_state.detach()
        bert.save_pretrained(os.path.join(work, "bert-st"))
        bert.save_pretrained(os.path.join(work, "bert-sharded"), max_shard_size="20KB")
        os.makedirs(os.path.join(work, "bert-bin"), exist_ok=True)
        cfg.save_pretrained(os.path.join(work, "bert-bin"))
        torch.save(bert.state_dict(), os.path.join(work, "bert-bin", "pytorch_model.bin"))
        for kind in ("st", "sharded", "bin"):
            run("push", os.path.join(work, "bert-" + kind), "org/bert-" + kind)
            run("tag", "org/bert-" + kind, "prod")
            got = transformers.AutoModel.from_pretrained("org/bert-" + kind, revision="prod").eval()
            diff = float((got(ids).last_hidden_state - want_out).abs().max())
            assert diff == 0.0, (kind, diff)
        print(f"transformers {transformers.__version__}: from_pretrained of org/bert-st, -sharded and -bin gave the"
              " saved model's outputs exactly")
finally:
    server.terminate()
    server.wait()
