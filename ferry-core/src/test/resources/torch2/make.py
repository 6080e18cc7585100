# Made with torch 2.13.0+cpu (python make.py); the test reads the file torch wrote, not one Ferry made.
# Every tensor's bytes are 0, 1, 2, ... so that the test can check them without torch.
import collections
import torch

def counting(n, dtype):
    return torch.arange(n * torch.tensor([], dtype=dtype).element_size(), dtype=torch.uint8).view(dtype)

sd = collections.OrderedDict()
sd["f8_e4m3"] = counting(6, torch.float8_e4m3fn).reshape(2, 3)
sd["f8_e5m2"] = counting(4, torch.float8_e5m2)
sd["f8_e8m0"] = counting(4, torch.float8_e8m0fnu)
sd["u16"] = counting(5, torch.uint16)
sd["u32"] = counting(3, torch.uint32)
sd["u64"] = counting(2, torch.uint64)
sd["bf16"] = counting(4, torch.bfloat16)
sd["u16_view"] = sd["u16"][1:4]
torch.save(sd, "torch2-untyped.pt")

# Dicts with tuple keys, which torch.load(weights_only=True) reads.
tk = collections.OrderedDict()
tk["w"] = counting(4, torch.float32)
tk[("enc", 0)] = counting(2, torch.int64)
tk["s"] = {("b",): counting(3, torch.int16), (("n", None), True, "it's"): counting(2, torch.uint8)}
tk["steps"] = {(0, "x"): 3}
torch.save(tk, "torch2-tuple-keys.pt")

# Meta tensors (shape and dtype, no bytes), which torch.load(weights_only=True) reads.
mt = collections.OrderedDict()
mt["w"] = counting(3, torch.float32)
mt["meta"] = torch.empty(2, 3, device="meta")
mt["meta_bf16"] = torch.empty(4, 2, dtype=torch.bfloat16, device="meta").t()
mt["meta_param"] = torch.nn.Parameter(torch.empty(5, device="meta"))
torch.save(mt, "torch2-meta.pt")
torch.save(torch.empty(3, device="meta"), "torch2-meta-root.pt")

# Layouts and qschemes as values, which torch.load(weights_only=True) reads.
torch.save({"w": counting(2, torch.float32), "layout": torch.strided, "sparse": torch.sparse_coo,
            "q": torch.per_channel_affine}, "torch2-layouts.pt")

# Dicts with float keys, which torch.load(weights_only=True) reads.
torch.save({"w": counting(2, torch.float32), 0.5: counting(1, torch.int64), "g": {1e-05: counting(2, torch.int8),
            2.0: 3}}, "torch2-float-keys.pt")
