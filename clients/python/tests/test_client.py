"""The Python client against real Ferry servers (started by ferry-it's PythonClientTest, which sets the environment):

FERRY_TEST_URL            a server with tokens over a store holding model "tiny" (v1, then v2 = head = tag prod;
                          tag "main" at v1)
                          and model "tiny-tree" (files in directories, a file name of 250 bytes), and, when
                          torch is importable, model "tiny-views" (a PyTorch checkpoint of views, complex ones
                          too), and model "tiny-onnx" (ONNX initializers of 2- and 4-bit integers and complex128)
FERRY_TEST_TOKEN          a token with read:tiny*;  FERRY_TEST_OTHER_TOKEN: one with read:other*
FERRY_TEST_MODELS         the directory model_files.py wrote (v1/ and v2/: the files pushed)
FERRY_TEST_CORRUPT_URL    a development server over a second store holding v2 only, which these tests may damage
FERRY_TEST_CORRUPT_STORE  that store's directory (a file: store)
FERRY_TEST_TMP            a scratch directory
FERRY_TEST_GONE           the id of version "removed" of model "tiny-gone", which ferry rm took off its head's line
                          (back to version "kept")
FERRY_TEST_GLOBS          a JSON table of the files Java's PathFilter (ferry pull --include/--exclude) takes
FERRY_TEST_PORTS          optional, LOW-HIGH: the ports the tests' own little servers take (else the kernel picks)

Under CI=true the torch tests fail rather than skip when torch is missing.
"""

import errno
import gc
import glob
import hashlib
import http.server
import json
import math
import os
import pathlib
import shlex
import shutil
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import warnings

import numpy as np

import ferry
from tests import model_files

ENV = os.environ
CI = ENV.get("CI") == "true"
URL = ENV.get("FERRY_TEST_URL")
TOKEN = ENV.get("FERRY_TEST_TOKEN")
OTHER = ENV.get("FERRY_TEST_OTHER_TOKEN")
MODELS = ENV.get("FERRY_TEST_MODELS")
CLIENT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:
    import torch
except ImportError:
    torch = None

if URL is None:
    raise unittest.SkipTest("run by ferry-it's PythonClientTest (FERRY_TEST_URL is not set)")


def scratch(name):
    base = ENV.get("FERRY_TEST_TMP") or tempfile.gettempdir()
    d = os.path.join(base, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def originals(version="v2"):
    """{tensor name: (dtype, shape, array)} read from the pushed safetensors files."""
    out = {}
    for p in sorted(glob.glob(os.path.join(MODELS, version, "*.safetensors"))):
        out.update(model_files.read_safetensors(p))
    return out


def relative_files(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = sha256(p)
    return out


class ListingTest(unittest.TestCase):
    def setUp(self):
        self.c = ferry.Client(URL, token=TOKEN)

    def test_models_and_versions(self):
        models = self.c.models()
        self.assertEqual(["tiny", "tiny-tree"], [m["name"] for m in models if m["name"] not in (
            "tiny-views", "tiny-gone", "tiny-onnx")])
        versions = self.c.versions("tiny")
        self.assertEqual(["second", "first"], [v["message"] for v in versions])
        self.assertEqual(models[0]["tags"]["prod"], versions[0]["id"])
        self.assertEqual(versions[0]["parents"], [versions[1]["id"]])
        # a name that is not one: the server's "Ambiguous URI empty segment", Python's TypeError from quote()
        for bad in ("", None, 5, b"tiny"):
            with self.assertRaises(ValueError, msg=repr(bad)) as e:
                self.c.versions(bad)
            self.assertIn("model: expected a model name", str(e.exception))

    def test_refs_resolve_to_versions(self):
        versions = self.c.versions("tiny")
        self.assertEqual(versions[0]["id"], self.c.model("tiny").id)
        self.assertEqual(versions[0]["id"], self.c.model("tiny:prod").id)
        old = self.c.model("tiny@" + versions[1]["id"][:10])
        self.assertEqual(versions[1]["id"], old.id)
        # ~N: N steps back in the model's log
        self.assertEqual(versions[1]["id"], self.c.model("tiny~1").id)
        self.assertEqual(versions[1]["id"], self.c.model("tiny:prod~").id)
        self.assertEqual(versions[0]["id"], self.c.model("tiny~0").id)
        self.assertEqual(versions[0]["id"], self.c.model("tiny@" + versions[0]["id"][:8] + "~0").id)
        with self.assertRaises(ferry.FerryNotFoundError) as e:
            self.c.model("tiny~2")
        self.assertIn("tiny~2: there is 1 version before tiny in the history of tiny, not 2", str(e.exception))
        for bad in ("tiny~x", "tiny~-1", "tiny~1000001"):
            with self.assertRaises(ValueError, msg=bad):
                self.c.model(bad)
        d = scratch("old")
        old.download(d, include="README.md")
        with open(os.path.join(d, "README.md")) as f:
            self.assertIn("version v1", f.read())

    def test_names_that_are_not_ferrys_are_refused_before_any_request(self):
        # they were put into URLs as given: '..' and empty segments went into the request's path (a proxy in front
        # normalizing it sends the token to another endpoint), a name with '/' in versions() asked another resource
        recorder = _Recorder(200)
        try:
            c = ferry.Client(recorder.url(), token=TOKEN)
            for name in ("../tiny", "tiny/..", "a/../tiny", "a/b/c", "tiny/", "/tiny", ".tiny", "tiny?x=1", "tiny#x",
                         "ti ny", "t\u00efny", "tiny\n", "tiny%2f..", "x" * 129):
                for call in (c.versions, c.model, lambda n: c.model(n + ":prod"), lambda n: c.model(n + "@abcd")):
                    with self.assertRaises(ValueError, msg=repr(name)) as e:
                        call(name)
                    self.assertIn("model name %r is not one" % name, str(e.exception))
            for tag in ("../x", "a/b", "pr od", "prod#x", "prod:x", "prod?", ".x", "\u00e9t\u00e9"):
                with self.assertRaises(ValueError, msg=repr(tag)) as e:
                    c.model("tiny:" + tag)
                self.assertIn("tag %r is not a tag name" % tag, str(e.exception))
        finally:
            recorder.close()
        self.assertEqual([], recorder.seen)

    def test_a_tag_named_main_or_as_a_version_id_is_that_tag(self):
        # the model API reads revision 'main' as the head and 64 hex digits as a version id: tiny:main gave the head
        # and tiny:<id> that version, where ferry show gives the tag's version, or says there is no such tag
        versions = self.c.versions("tiny")
        head, first = versions[0]["id"], versions[1]["id"]
        self.assertEqual(first, self.c.model("tiny:main").id)
        self.assertEqual(first, self.c.model("tiny:main~0").id)
        self.assertEqual(head, self.c.model("tiny").id)
        self.assertEqual(head, self.c.model("tiny@" + head).id)
        for missing in ("HEAD", head, head.upper()):
            with self.assertRaises(ferry.FerryNotFoundError) as e:
                self.c.model("tiny:" + missing)
            self.assertIn("model ref 'tiny:%s': model tiny has no tag %r (its tags: main, prod)" % (missing, missing),
                          str(e.exception))

    def test_a_prefix_resolves_as_ferry_show_resolves_it(self):
        """A version that ferry rm took off the head's line is readable by a prefix of its id, as ferry show
        MODEL@PREFIX reads it, until gc. Before, the client looked for prefixes only in the head's history and did not find it."""
        gone = ENV["FERRY_TEST_GONE"]
        self.assertEqual(["kept"], [v["message"] for v in self.c.versions("tiny-gone")])
        m = self.c.model("tiny-gone@" + gone[:8])
        self.assertEqual((gone, "removed"), (m.id, m.info["message"]))
        self.assertEqual(self.c.model("tiny-gone").id, self.c.model("tiny-gone@" + gone[:8] + "~1").id)
        missing = "0000" if not gone.startswith("0000") else "1111"
        with self.assertRaises(ferry.FerryNotFoundError) as e:
            self.c.model("tiny-gone@" + missing)
        self.assertIn("tiny-gone@" + missing, str(e.exception))
        with self.assertRaises(ferry.FerryHTTPError) as e:
            self.c.model("tiny-nosuch@abcd")
        self.assertEqual(404, e.exception.status)

    def test_tensors_list_names_dtypes_and_shapes(self):
        m = self.c.model("tiny:prod")
        want = originals()
        got = {t.name: t for t in m.tensors()}
        self.assertEqual(set(want), set(got))
        for name, (dtype, shape, _) in want.items():
            self.assertEqual((dtype, shape), (got[name].dtype, got[name].shape), name)
        self.assertIn("emoji🙂.scale", got)
        self.assertEqual((), got["emoji🙂.scale"].shape)
        self.assertEqual("model-00002-of-00002.safetensors", got["lm_head.weight"].file)
        self.assertEqual({"README.md", "config.json", "tokenizer.json", "model.safetensors.index.json",
                          "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"},
                         {f["path"] for f in m.files()})

    def test_unknown_names_are_clear_errors(self):
        m = self.c.model("tiny:prod")
        with self.assertRaises(ferry.FerryNotFoundError) as e:
            m.tensor("no.such")
        self.assertIn("no.such", str(e.exception))
        with self.assertRaises(ferry.FerryHTTPError) as e:
            self.c.model("tiny:nosuchtag")
        self.assertEqual(404, e.exception.status)
        self.assertIn("nosuchtag", str(e.exception))


class TensorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = ferry.Client(URL, token=TOKEN).model("tiny:prod")
        cls.want = originals()

    def test_every_tensor_equals_the_file(self):
        for name, (dtype, shape, arr) in self.want.items():
            got = self.m.tensor(name)
            self.assertEqual(shape, got.shape, name)
            self.assertEqual(arr.dtype, got.dtype, name)
            np.testing.assert_array_equal(arr, got, err_msg=name)
            self.assertTrue(got.flags.writeable, name)

    def test_native_dtypes(self):
        self.assertEqual(np.float16, self.m.tensor("lm_head.weight").dtype)
        self.assertEqual(np.bool_, self.m.tensor("mask").dtype)
        self.assertEqual(np.int64, self.m.tensor("ids").dtype)
        self.assertEqual(-5 << 40, self.m.tensor("ids")[0])
        self.assertEqual(np.float64, self.m.tensor("f64").dtype)
        self.assertEqual(np.float32(0.125), self.m.tensor("emoji🙂.scale")[()])
        self.assertEqual((0, 4), self.m.tensor("empty").shape)

    def test_bf16_is_uint16_bits_or_float32_on_request(self):
        bits = self.m.tensor("small.bf16")
        self.assertEqual(np.uint16, bits.dtype)
        f = self.m.tensor("small.bf16", as_float32=True)
        self.assertEqual(np.float32, f.dtype)
        self.assertEqual([1.0, -2.0, 0.5, 3.140625], f.tolist())
        big = self.m.tensor("embed.weight", as_float32=True)
        np.testing.assert_array_equal(self.want["embed.weight"][2].astype(np.uint32) << 16, big.view(np.uint32))
        self.assertEqual(np.float32, self.m.tensor("层.bias", as_float32=True).dtype)
        # a scalar stays a writable 0-d array (numpy gave "<<" on it another width, and view() then failed)
        scalar = self.m.tensor("scale.bf16", as_float32=True)
        self.assertEqual(((), np.float32, -1.5), (scalar.shape, scalar.dtype, scalar[()]))
        self.assertTrue(scalar.flags.writeable)

    def test_rows(self):
        for name, a, b in [("embed.weight", 10, 20), ("layers.0.ёлка.weight", 0, 300), ("lm_head.weight", 1023, 1024),
                           ("i32", 1, 2), ("mask", 0, 0)]:
            got = self.m.rows(name, a, b)
            np.testing.assert_array_equal(self.want[name][2][a:b], got, err_msg=name)
        np.testing.assert_array_equal(self.m.tensor("embed.weight", as_float32=True)[5:9],
                                      self.m.rows("embed.weight", 5, 9, as_float32=True))
        with self.assertRaises(ValueError):
            self.m.rows("embed.weight", 5, 513)
        with self.assertRaises(ValueError):
            self.m.rows("emoji🙂.scale", 0, 1)
        # numpy integers are row indices too (they were refused as if out of range)
        np.testing.assert_array_equal(self.want["embed.weight"][2][3:7],
                                      self.m.rows("embed.weight", np.int64(3), np.uint32(7)))
        for a, b in [(-1, 3), (4, 2), (0, 513), (1.0, 3), ("0", 3), (True, 2), (0, np.True_)]:
            with self.assertRaises(ValueError, msg=(a, b)) as e:
                self.m.rows("embed.weight", a, b)
            self.assertIn("embed.weight", str(e.exception))

    def test_rows_fetch_only_the_chunks_holding_them(self):
        c = ferry.Client(URL, token=TOKEN)
        m = c.model("tiny:prod")
        before = c.bytes_received
        m.rows("lm_head.weight", 100, 110)
        fetched = c.bytes_received - before
        size = {f["path"]: f["size"] for f in m.files()}["model-00002-of-00002.safetensors"]
        self.assertEqual(1024 * 160 * 2, fetched, "one chunk: the tensor's own, not its file of %d bytes" % size)

    def test_a_version_read_again_fetches_only_its_description(self):
        c = ferry.Client(URL, token=TOKEN)
        before = c.bytes_received
        first = c.model("tiny:prod")
        once = c.bytes_received - before
        before = c.bytes_received
        again = c.model("tiny:prod")
        twice = c.bytes_received - before
        self.assertEqual(first.id, again.id)
        self.assertEqual(first.files(), again.files())
        self.assertEqual([tuple(t) for t in first.tensors()], [tuple(t) for t in again.tensors()])
        # the version and snapshot objects (checked once, never changing) are not fetched again
        self.assertLess(twice, once)
        self.assertGreater(once - twice, 1000, "the snapshot object of %d files" % len(first.files()))
        # a fresh client fetches and checks them itself
        fresh = ferry.Client(URL, token=TOKEN)
        fresh.model("tiny:prod")
        self.assertEqual(once, fresh.bytes_received)

    @unittest.skipIf(torch is None and not CI, "torch is not importable")
    def test_state_dict(self):
        self.assertIsNotNone(torch, "CI=true: torch (python3-torch) must be importable")
        sd = self.m.state_dict()
        self.assertEqual(list(self.want), [n for n in sd if n in self.want])
        self.assertEqual(torch.bfloat16, sd["embed.weight"].dtype)
        self.assertEqual(torch.float16, sd["lm_head.weight"].dtype)
        self.assertEqual(torch.bool, sd["mask"].dtype)
        self.assertEqual([1.0, -2.0, 0.5, 3.140625], sd["small.bf16"].float().tolist())
        self.assertEqual((torch.bfloat16, (), -1.5), (sd["scale.bf16"].dtype, tuple(sd["scale.bf16"].shape),
                                                      sd["scale.bf16"].item()))
        np.testing.assert_array_equal(self.m.tensor("embed.weight", as_float32=True),
                                      sd["embed.weight"].float().numpy())
        for name, (dtype, shape, arr) in self.want.items():
            self.assertEqual(shape, tuple(sd[name].shape), name)
            if dtype not in ("BF16", "U16", "U32"):
                np.testing.assert_array_equal(arr, sd[name].numpy(), err_msg=name)
            elif dtype != "BF16":
                np.testing.assert_array_equal(arr.astype(np.int64), sd[name].numpy().astype(np.int64), err_msg=name)
        # one name is that tensor (it was taken as its characters: "no tensor 'i'"); a number is a TypeError
        self.assertEqual(["ids"], list(self.m.state_dict("ids")))
        self.assertEqual(["ids", "mask"], list(self.m.state_dict(("ids", "mask"))))
        with self.assertRaises(TypeError) as e:
            self.m.state_dict(5)
        self.assertIn("names: expected tensor names", str(e.exception))


class DownloadTest(unittest.TestCase):
    def setUp(self):
        self.c = ferry.Client(URL, token=TOKEN)
        self.m = self.c.model("tiny:prod")
        self.src = os.path.join(MODELS, "v2")
        self.want = relative_files(self.src)

    def file(self, path):
        return [f for f in self.m.files() if f["path"] == path][0]

    def test_download_is_byte_identical(self):
        d = scratch("all")
        r = self.m.download(d)
        self.assertEqual(sorted(self.want), sorted(r["fetched"]))
        self.assertEqual(self.want, relative_files(d))
        self.assertEqual(sum(os.path.getsize(os.path.join(self.src, p)) for p in self.want), r["bytes"])

    def test_a_destination_given_as_bytes_or_a_path_object(self):
        # os.fspath(b"...") stayed bytes, and joining it with the version's paths raised "Can't mix strings and bytes"
        for kind in (os.fsencode, pathlib.Path):
            d = scratch("dest-" + kind.__name__)
            r = self.m.download(kind(d), include="*.json")
            self.assertEqual(sorted(p for p in self.want if "/" not in p and p.endswith(".json")), sorted(r["fetched"]))
            self.assertEqual({p: h for p, h in self.want.items() if p in r["fetched"]}, relative_files(d))

    def test_resume_keeps_complete_files_and_verified_parts(self):
        d = scratch("resume")
        self.m.download(d)
        shard1 = os.path.join(d, "model-00001-of-00002.safetensors")
        shard2 = os.path.join(d, "model-00002-of-00002.safetensors")
        kept = os.stat(os.path.join(d, "tokenizer.json"))
        # interrupted midway: shard 2 gone, shard 1 left as a part file holding its first chunks and then garbage
        os.remove(shard2)
        with open(shard1, "rb") as f:
            data = f.read()
        os.remove(shard1)
        part = os.path.join(d, ferry.part_name(self.file("model-00001-of-00002.safetensors")))
        cut = len(data) - 1000
        with open(part, "wb") as f:
            f.write(data[:cut] + b"\xff" * 100)
        # and a complete-looking file that is wrong: same size, other bytes
        cfg = os.path.join(d, "config.json")
        with open(cfg, "r+b") as f:
            f.write(b"X")
        r = self.m.download(d)
        self.assertEqual(sorted(["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]),
                         sorted(r["fetched"]))
        self.assertEqual(self.want, relative_files(d))
        self.assertEqual(kept.st_mtime_ns, os.stat(os.path.join(d, "tokenizer.json")).st_mtime_ns)
        self.assertEqual(kept.st_ino, os.stat(os.path.join(d, "tokenizer.json")).st_ino)
        # the part file's verified chunks were kept: less than shard 1 came again
        full = os.path.getsize(os.path.join(self.src, "model-00002-of-00002.safetensors")) + 43
        self.assertLess(r["bytes"], full + len(data) // 2, r)
        self.assertFalse(os.path.exists(part))
        again = self.m.download(d)
        self.assertEqual([], again["fetched"])
        self.assertEqual(0, again["bytes"])

    def test_include_and_exclude(self):
        d = scratch("some")
        r = self.m.download(d, include=["*.json"], exclude=["tokenizer*"])
        self.assertEqual(sorted(["config.json", "model.safetensors.index.json"]), sorted(r["fetched"]))
        self.assertEqual(sorted(r["fetched"]), sorted(relative_files(d)))
        r = self.m.download(d, include="*.safetensors")
        self.assertEqual(2, len(r["fetched"]))
        self.assertEqual(4, len(relative_files(d)))


    def test_a_file_system_without_locks_still_downloads(self):
        """flock failing with ENOLCK (a network file system without locks) downloads as without locks."""
        from ferry import client as module
        real = module.fcntl
        if real is None:
            self.skipTest("no fcntl here")

        class NoLocks:
            LOCK_EX = real.LOCK_EX

            @staticmethod
            def flock(fd, op):
                raise OSError(errno.ENOLCK, "No locks available")

        d = scratch("no-locks")
        module.fcntl = NoLocks
        try:
            r = self.m.download(d, include="config.json")
        finally:
            module.fcntl = real
        self.assertEqual(["config.json"], r["fetched"])
        self.assertEqual({"config.json": self.want["config.json"]}, relative_files(d))

    def test_two_downloads_of_one_file_at_once_take_turns(self):
        """The ranks of a distributed job download the same file into the same directory at once: they take turns on
        its part file (the first holds a chunk until the second asks for one, or a second has passed) instead of
        truncating and renaming it under each other. Both succeed and the file is whole."""
        d = scratch("together")
        path = "model-00001-of-00002.safetensors"
        gate = {"on": False, "seen": 0}
        held, go = threading.Event(), threading.Event()

        def hold_the_first_chunk(p, body):
            if gate["on"] and "/v1/store/chunks/" in p:
                gate["seen"] += 1
                if gate["seen"] == 1:
                    held.set()
                    go.wait(1)
                else:
                    go.set()
            return None

        proxy = _TamperProxy(URL, change=hold_the_first_chunk)
        results, errors = [], []

        def run(m):
            try:
                results.append(m.download(d, include=path))
            except Exception as e:  # noqa: BLE001 (reported by the assertion below)
                errors.append(e)

        try:
            first, second = [ferry.Client(proxy.url(), token=TOKEN).model("tiny:prod") for _ in range(2)]
            gate["on"] = True
            t = threading.Thread(target=run, args=(first,))
            t.start()
            self.assertTrue(held.wait(30))
            run(second)
            t.join(30)
        finally:
            go.set()
            proxy.close()
        self.assertEqual([], errors)
        self.assertEqual([[path], []], sorted([r["fetched"] for r in results], reverse=True), results)
        self.assertEqual({path: self.want[path]}, relative_files(d))
    def test_links_in_the_destination_are_not_followed(self):
        d = scratch("links")
        outside = scratch("outside")
        os.symlink(outside, os.path.join(d, "sub"))
        m = self.c.model("tiny:prod")
        f = dict(m._files[0])
        f["path"] = "sub/x"
        m._files = [f]
        with self.assertRaises(ferry.FerryError) as e:
            m.download(d)
        self.assertIn("link", str(e.exception))
        self.assertEqual([], os.listdir(outside))
        f["path"] = "../escape"
        with self.assertRaises(ferry.FerryError):
            m.download(d)
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(d), "escape")))
        # one unsafe path among safe ones: refused before any file is written
        files = self.c.model("tiny:prod")._files
        # and what ferry pull refuses too: git's own directory in the spellings git refuses (a .git/config written
        # into a clone sets commands git runs), control characters, text that is not UTF-8
        for bad in ("../../x", "/abs/x", "a/../../x", "a/./b", "c:/x", "a\\..\\x", "a//b", "x\0", ".git/config",
                    "a/.GIT/hooks/post-checkout", ".git. /config", "git~1/config", "\u200c.git\ufeff/config",
                    "a\nb", "a\x7f", "a\udc80", "x" * 4097):
            m._files = [files[0], dict(files[0], path=bad)]
            with self.assertRaises(ferry.FerryError, msg=bad) as e:
                m.download(d)
            self.assertIn("unsafe path", str(e.exception))
            self.assertEqual(["sub"], os.listdir(d), bad)
        # a hard link at the part file's name (planted, or left by a copy of the directory made with cp -al) is not
        # written through: the file it shares with is left as it was
        d = scratch("hard-link")
        victim = os.path.join(outside, "victim")
        with open(victim, "wb") as fh:
            fh.write(b"not to be changed")
        m = self.c.model("tiny:prod")
        os.link(victim, os.path.join(d, ferry.part_name(m.files()[0])))
        m.download(d, include=m.files()[0]["path"])
        with open(victim, "rb") as fh:
            self.assertEqual(b"not to be changed", fh.read())
        self.assertEqual(m.files()[0]["sha256"], sha256(os.path.join(d, m.files()[0]["path"])))


    def test_a_version_holding_a_file_and_a_directory_of_one_name_writes_nothing(self):
        # a and a/b: a was written, then a/b failed in the file system (a file where a directory should be)
        f = [x for x in self.m._files if x["size"] > 0][0]
        for paths in (["a", "a/b"], ["x/a/b/c", "x/a"]):
            d = scratch("file-and-directory")
            self.m._files = [dict(f, path=p) for p in paths]
            with self.assertRaises(ferry.FerryError) as e:
                self.m.download(d)
            self.assertIn("%r is both a file and a directory" % paths[0 if paths[0] == "a" else 1], str(e.exception))
            self.assertEqual([], os.listdir(d))
        self.m._files = [dict(f, path=p) for p in ("a", "a/b")]
        self.m.download(scratch("file-and-directory"), include="a")  # a selection without the other is written

    def test_a_version_listing_one_path_twice_writes_nothing(self):
        # a snapshot another client wrote (a push cannot make one) with a path twice: the file was written twice,
        # the second over the first, and listed twice as fetched
        files = [x for x in self.m._files if x["size"] > 0][:2]
        for paths in (["a", "a"], ["x/b", "y", "x/b"]):
            d = scratch("path-twice")
            self.m._files = [dict(files[i % 2], path=p) for i, p in enumerate(paths)]
            with self.assertRaises(ferry.FerryError) as e:
                self.m.download(d)
            self.assertIn("lists %r twice" % paths[0], str(e.exception))
            self.assertEqual([], os.listdir(d))

    def test_a_file_named_as_another_files_part_file_is_downloaded_too(self):
        # a directory pushed with a part file an interrupted download left in it: the part file (sorted first) was
        # written, then taken for the other file's part file and renamed to it, and was missing after a download
        # that listed it as fetched
        f = [x for x in self.m._files if x["path"] == "config.json"][0]
        readme = [x for x in self.m._files if x["path"] == "README.md"][0]
        for sub in ("", "sub/"):
            x = dict(f, path=sub + "config.json")
            part = dict(readme, path=sub + ferry.part_name(x))
            self.m._files = [part, x]
            d = scratch("part-named")
            r = self.m.download(d)
            self.assertEqual(sorted([part["path"], x["path"]]), sorted(r["fetched"]))
            self.assertEqual(part["sha256"], sha256(os.path.join(d, part["path"])))
            self.assertEqual(x["sha256"], sha256(os.path.join(d, x["path"])))
            self.assertEqual(sorted([part["path"], x["path"]]), sorted(self.m.download(d)["kept"]))

    def test_a_directory_swapped_for_a_link_mid_download_is_not_written_through(self):
        # the directories on the way were checked for links before the first file was written, and the files opened
        # by path afterwards: a local user who could write into the destination swapped a directory for a link to
        # elsewhere while an earlier file downloaded, and the later file was written there
        d = scratch("swap")
        outside = scratch("swap-outside")
        os.makedirs(os.path.join(d, "sub"))
        swapped = []

        def swap(path, body):
            if armed and "/v1/store/chunks/" in path and not swapped:
                os.rename(os.path.join(d, "sub"), os.path.join(d, "sub-moved"))
                os.symlink(outside, os.path.join(d, "sub"))
                swapped.append(path)
            return None
        armed = False
        proxy = _TamperProxy(URL, swap)
        try:
            m = ferry.Client(proxy.url(), token=TOKEN).model("tiny:prod")
            f = [x for x in m._files if x["size"] > 0][0]
            m._files = [dict(f, path="a"), dict(f, path="sub/x")]
            armed = True
            with self.assertRaises(ferry.FerryError) as e:
                m.download(d)
        finally:
            proxy.close()
        self.assertEqual(1, len(swapped))
        self.assertIn("sub", str(e.exception))
        self.assertIn("link", str(e.exception))
        self.assertEqual([], os.listdir(outside))
        self.assertEqual(f["sha256"], sha256(os.path.join(d, "a")))

    def test_without_dir_fd_downloads_check_the_directories_on_the_way(self):
        # the path a system without dir_fd takes (Windows): still byte-identical, and a link on the way is refused
        self.assertTrue(ferry.client.DIR_FD or os.name == "nt", "Linux has dir_fd")
        kept = ferry.client.DIR_FD
        ferry.client.DIR_FD = False
        try:
            d = scratch("no-dir-fd")
            self.m.download(d)
            self.assertEqual(self.want, relative_files(d))
            outside = scratch("no-dir-fd-outside")
            os.symlink(outside, os.path.join(d, "sub"))
            f = self.m._files[0]
            self.m._files = [dict(f, path="sub/x")]
            with self.assertRaises(ferry.FerryError) as e:
                self.m.download(d)
            self.assertIn("is a link in the destination", str(e.exception))
            self.assertEqual([], os.listdir(outside))
        finally:
            ferry.client.DIR_FD = kept

class TokenTest(unittest.TestCase):
    def test_without_token_401_with_message(self):
        with self.assertRaises(ferry.FerryHTTPError) as e:
            ferry.Client(URL).models()
        self.assertEqual(401, e.exception.status)
        self.assertIn("401", str(e.exception))
        self.assertTrue(e.exception.server_message, "the server's message")

    def test_bad_token_401_outside_scope_403(self):
        with self.assertRaises(ferry.FerryHTTPError) as e:
            ferry.Client(URL, token="fry_bogus_token_value").model("tiny:prod")
        self.assertEqual(401, e.exception.status)
        self.assertNotIn("fry_bogus_token_value", str(e.exception))
        other = ferry.Client(URL, token=OTHER)
        self.assertEqual([], other.models())
        with self.assertRaises(ferry.FerryHTTPError) as e:
            other.model("tiny:prod")
        self.assertEqual(403, e.exception.status)
        self.assertIn("tiny", str(e.exception))
        self.assertNotIn(OTHER, str(e.exception))
        self.assertNotIn(OTHER, repr(other))

    def test_token_from_environment(self):
        old = os.environ.get("FERRY_TOKEN")
        os.environ["FERRY_TOKEN"] = TOKEN
        try:
            c = ferry.Client(URL)
        finally:
            if old is None:
                del os.environ["FERRY_TOKEN"]
            else:
                os.environ["FERRY_TOKEN"] = old
        self.assertEqual("tiny", c.models()[0]["name"])
        self.assertNotIn(TOKEN, repr(c))

    def test_a_token_read_from_a_file_with_its_newline(self):
        # open(path).read() keeps the newline: http.client refused the header with a ValueError holding the token
        self.assertEqual("tiny", ferry.Client(URL, token=TOKEN + "\n").models()[0]["name"])
        self.assertEqual("tiny", ferry.Client(URL, token=" " + TOKEN + "\r\n").models()[0]["name"])
        for bad in (TOKEN[:8] + "\n" + TOKEN[8:], TOKEN + "\0", TOKEN[:8] + " " + TOKEN[8:], TOKEN + "é"):
            with self.assertRaises(ValueError) as e:
                ferry.Client(URL, token=bad).models()
            self.assertNotIn(TOKEN[8:], str(e.exception))
            self.assertNotIn(TOKEN[8:], repr(e.exception.args))
        with self.assertRaises(TypeError) as e:
            ferry.Client(URL, token=TOKEN.encode("ascii"))
        self.assertNotIn(TOKEN[8:], str(e.exception))


class HostileVersionTest(unittest.TestCase):
    """A version description that does not hold together is refused before anything is fetched or allocated."""

    def doc(self, **change):
        f = {"path": "a.safetensors", "size": 120, "sha256": "0" * 64, "format": "safetensors",
             "chunks": [{"id": "1" * 64, "offset": 0, "length": 100, "pack": None},
                        {"id": "2" * 64, "offset": 100, "length": 20, "pack": None}],
             "tensors": [{"name": "t", "dtype": "F32", "shape": [2, 3], "offset": 96, "length": 24, "chunks": []}]}
        for k, v in change.items():
            if k == "tensor":
                f["tensors"][0].update(v)
            else:
                f[k] = v
        return {"id": "9" * 64, "files": [f]}

    def test_refused(self):
        c = ferry.Client(URL, token=TOKEN)
        ferry.Model(c, "x", "x", self.doc())  # the well-formed one is accepted
        for bad in [dict(size=10 ** 15), dict(tensor={"length": 10 ** 12}), dict(tensor={"offset": 110}),
                    dict(tensor={"shape": [-2, -3]}), dict(chunks=[{"id": "1" * 64, "offset": 5, "length": 115}]),
                    # strides of a checkpoint's view nested too deep to parse (a RecursionError escaped)
                    dict(format="torch", metadata={"strides.t": "[" * 100000 + "]" * 100000}),
                    # fields of other JSON types, or past 64 bits (a hostile server can make version and snapshot
                    # objects that hold them): they were met later as a TypeError or an OverflowError, or read
                    dict(tensor={"name": 5}), dict(tensor={"dtype": ["F32"]}), dict(tensor={"offset": 96.0}),
                    dict(tensor={"shape": [True, 6]}), dict(path=5),
                    dict(metadata=[]), dict(chunks=[{"id": "1" * 64, "offset": 0, "length": 100.0},
                                                    {"id": "2" * 64, "offset": 100, "length": 20}]),
                    dict(size=2 ** 90, chunks=[{"id": "1" * 64, "offset": 0, "length": 2 ** 90}],
                         tensor={"shape": [2 ** 40, 2 ** 40], "offset": 0, "length": 2 ** 82})]:
            with self.assertRaises(ferry.FerryIntegrityError, msg=str(bad)[:200]):
                ferry.Model(c, "x", "x", self.doc(**bad))
        # a file listed twice (a download wrote both to one name, and its tensors could not be told apart)
        twice = self.doc()
        twice["files"].append(dict(twice["files"][0]))
        with self.assertRaises(ferry.FerryIntegrityError) as e:
            ferry.Model(c, "x", "x", twice)
        self.assertIn("'a.safetensors'", str(e.exception))

    def test_a_chunk_longer_than_ferry_cuts_is_refused_naming_it(self):
        # a chunk's length had no bound: a hostile, self-consistent snapshot could make a read of a small tensor
        # stream one chunk for as long as the deadline lets it
        c = ferry.Client(URL, token=TOKEN)
        big = (64 << 20) + 1
        header = {"id": "1" * 64, "offset": 0, "length": 100, "pack": None}
        with self.assertRaises(ferry.FerryIntegrityError) as e:
            ferry.Model(c, "x", "x", self.doc(size=100 + big, chunks=[header, {"id": "2" * 64, "offset": 100,
                                                                              "length": big}]))
        self.assertIn("'a.safetensors'", str(e.exception))
        self.assertIn("chunk %s at offset 100 is %d bytes long and holds bytes of tensor 't'; Ferry cuts tensors"
                      " into chunks of at most 67108864 bytes" % ("2" * 64, big), str(e.exception))
        with self.assertRaises(ferry.FerryIntegrityError) as e:
            ferry.Model(c, "x", "x", self.doc(size=2 ** 31 + 24, tensor={"offset": 2 ** 31}, chunks=[
                {"id": "1" * 64, "offset": 0, "length": 2 ** 31}, {"id": "2" * 64, "offset": 2 ** 31, "length": 24}]))
        self.assertIn("chunk %s at offset 0 is 2147483648 bytes long, more than a Ferry chunk holds (2147483647)"
                      % ("1" * 64), str(e.exception))
        # a header of 100,000,000 bytes (as safetensors and GGUF allow) is one chunk, holding no tensor's bytes
        ferry.Model(c, "x", "x", self.doc(size=100000024, tensor={"offset": 100000000}, chunks=[
            {"id": "1" * 64, "offset": 0, "length": 100000000}, {"id": "2" * 64, "offset": 100000000, "length": 24}]))


class NameClashTest(unittest.TestCase):
    """A version with paths that differ only in case, downloaded into a directory whose file system does not tell
    them apart: the second file was written over the first and the download returned both as fetched."""

    EMPTY = hashlib.sha256(b"").hexdigest()

    def model(self, *paths):
        files = [{"path": p, "size": 0, "sha256": self.EMPTY, "format": "opaque", "chunks": [], "tensors": []}
                 for p in paths]
        return ferry.Model(ferry.Client(URL, token=TOKEN), "x", "x", {"id": "9" * 64, "files": files})

    def test_refused_on_a_case_insensitive_file_system_naming_both_paths(self):
        with _ExFat() as root:
            dest = os.path.join(root, "out")
            os.mkdir(dest)
            self.assertTrue(os.path.exists(os.path.join(root, "OUT")))  # the file system folds case
            with self.assertRaises(ferry.FerryError) as e:
                self.model("A.bin", "a.bin", "sub/x.json").download(dest)
            self.assertIn("'A.bin' and 'a.bin' would be one file there", str(e.exception))
            self.assertIn("differ only in case; nothing written", str(e.exception))
            self.assertEqual([], os.listdir(dest))  # no file, and no probe file either
            with self.assertRaises(ferry.FerryError) as e:
                self.model("Sub/a.bin", "sub/a.bin").download(os.path.join(root, "new", "out"))
            self.assertIn("'Sub' and 'sub' would be one entry there", str(e.exception))
            self.assertFalse(os.path.exists(os.path.join(root, "new")))

    def test_a_case_sensitive_file_system_takes_both(self):
        dest = tempfile.mkdtemp(prefix="ferry-names-")
        try:
            if ferry.client._name_rules(dest) != (False, False):
                self.skipTest("the temporary directory does not tell case apart")
            result = self.model("A.bin", "a.bin").download(dest)
            self.assertEqual(["A.bin", "a.bin"], sorted(result["fetched"] + result["kept"]))
            self.assertEqual(["A.bin", "a.bin"], sorted(os.listdir(dest)))
        finally:
            shutil.rmtree(dest)


class _ExFat:
    """An exFAT image mounted through FUSE on a loop device (its root's path); skips the test where one cannot be
    made (root, /dev/fuse, exfatprogs and exfat-fuse are needed)."""

    def __enter__(self):
        tools = ["/usr/sbin/mkfs.exfat", "/usr/sbin/mount.exfat-fuse", "/usr/sbin/losetup"]
        if os.geteuid() != 0 or not os.path.exists("/dev/fuse") or not all(os.access(t, os.X_OK) for t in tools):
            need = "needs root, /dev/fuse, exfatprogs and exfat-fuse to mount a case-insensitive file system"
            if os.environ.get("CI", "").lower() == "true":
                raise AssertionError(need + " (.ci/run installs the tools: in CI a missing one is a failure)")
            raise unittest.SkipTest(need)
        self.dir = tempfile.mkdtemp(prefix="ferry-exfat-")
        image = os.path.join(self.dir, "exfat.img")
        with open(image, "wb") as f:
            f.truncate(16 << 20)
        self.root = os.path.join(self.dir, "mnt")
        os.mkdir(self.root)
        self.loop = None
        try:
            subprocess.run(["/usr/sbin/mkfs.exfat", image], check=True, capture_output=True, timeout=30)
            self.loop = subprocess.run(["/usr/sbin/losetup", "-f", "--show", image], check=True, capture_output=True,
                                       timeout=30, text=True).stdout.strip()
            subprocess.run(["/usr/sbin/mount.exfat-fuse", self.loop, self.root], check=True, capture_output=True,
                           timeout=30)
        except BaseException:
            self._release(mounted=False)
            raise
        return self.root

    def __exit__(self, *exc):
        self._release(mounted=True)

    def _release(self, mounted):
        try:
            if mounted:
                subprocess.run(["fusermount", "-u", self.root], check=True, capture_output=True, timeout=30)
        finally:
            if self.loop:
                subprocess.run(["/usr/sbin/losetup", "-d", self.loop], check=True, capture_output=True, timeout=30)
            shutil.rmtree(self.dir)


def _free_port():
    """0 (a port the kernel picks), or where several test runs share a machine, a free port of the range
    ``FERRY_TEST_PORTS`` names (``LOW-HIGH``, as the Java tests' ``ferry.test.ports``)."""
    span = ENV.get("FERRY_TEST_PORTS", "").strip()
    if not span:
        return 0
    low, high = (int(p) for p in span.split("-"))
    for port in range(low, high + 1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise OSError("no free port in FERRY_TEST_PORTS=" + span)


class _LocalServer(http.server.ThreadingHTTPServer):
    """An HTTP server on a free loopback port, serving from a thread of its own."""

    def _start(self, handler):
        super().__init__(("127.0.0.1", _free_port()), handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def close(self):
        self.shutdown()
        self.server_close()


class _Recorder(_LocalServer):
    """Answers every GET with ``status`` (and a Location when it is a redirect); records the headers it got."""

    daemon_threads = True

    def __init__(self, status, location=None):
        self.seen = []
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                rec.seen.append(dict(self.headers.items(), path=self.path))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._start(Handler)


def _answer(handler, status, content_type, body):
    """Sends a whole answer from a test server's handler: status, type, length and body."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class _Fixed(_LocalServer):
    """Answers every GET with ``status`` (200 unless given) and ``body``."""

    daemon_threads = True

    def __init__(self, body, status=200):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                _answer(self, status, "application/json", body)

            def log_message(self, *args):
                pass

        self._start(Handler)


class RedirectTest(unittest.TestCase):
    def test_a_redirect_is_not_followed_and_the_token_stays_home(self):
        elsewhere = _Recorder(200)
        redirector = _Recorder(302, elsewhere.url() + "/v1/models")
        try:
            with self.assertRaises(ferry.FerryHTTPError) as e:
                ferry.Client(redirector.url(), token=TOKEN).models()
            self.assertEqual(302, e.exception.status)
            self.assertEqual("Bearer " + TOKEN, redirector.seen[0].get("Authorization"))
            self.assertEqual([], elsewhere.seen)
        finally:
            redirector.close()
            elsewhere.close()


class ProxyTest(unittest.TestCase):
    def test_a_proxy_set_after_ferry_was_imported_is_used(self):
        # proxies were read once, when ferry was imported: one set later in the program (a notebook's os.environ)
        # was ignored, and the client went straight to the server
        proxy = _Recorder(200)
        names = ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY")
        saved = {k: os.environ.pop(k) for k in names if k in os.environ}
        os.environ["http_proxy"] = proxy.url()
        try:
            with self.assertRaises(ferry.FerryError):  # the recorder's empty answer is not JSON
                ferry.Client("http://ferry.invalid:8080").models()
        finally:
            os.environ.pop("http_proxy")
            os.environ.update(saved)
            proxy.close()
        self.assertEqual(["ferry.invalid:8080"], [h.get("Host") for h in proxy.seen])


class FailoverTest(unittest.TestCase):
    def test_server_urls_that_cannot_name_a_server_are_refused(self):
        # they were taken: credentials in a URL were never sent but printed in every message and repr(client), a
        # query or a fragment swallowed each request's path (the server's web page came back as "not JSON")
        for url, text in (("http://alice:s3cret@127.0.0.1:1", "server URL of host '127.0.0.1': credentials do not go"
                                                               " in the URL (not shown)"),
                          ("http://127.0.0.1:1,http://s3cret@b", "server URL of host 'b': credentials"),
                          ("http://127.0.0.1:1?x=1", "server URL 'http://127.0.0.1:1?x=1': expected no query"),
                          ("http://127.0.0.1:1/#top", "expected no query or fragment"),
                          ("http://:8080", "server URL 'http://:8080' has no host"),
                          ("http://h:99999", "server URL 'http://h:99999': Port out of range"),
                          ("http://h:x", "server URL 'http://h:x': Port"),
                          # one server twice (Java refuses it too)
                          ("http://127.0.0.1:1,HTTP://127.0.0.1:1/", "server HTTP://127.0.0.1:1 is listed twice")):
            with self.assertRaises(ValueError, msg=url) as e:
                ferry.Client(url)
            self.assertIn(text, str(e.exception))
            self.assertNotIn("s3cret", str(e.exception))
        self.assertEqual(["http://127.0.0.1:1/ferry", "https://[::1]:2"],
                         ferry.Client("http://127.0.0.1:1/ferry/, https://[::1]:2").urls)

    def test_a_dead_server_is_passed_over(self):
        with socketserver.TCPServer(("127.0.0.1", 0), None) as s:
            dead = "http://127.0.0.1:%d" % s.server_address[1]
        c = ferry.Client([dead, URL], token=TOKEN)
        for _ in range(3):  # round-robin: some requests start at the dead one
            self.assertEqual("tiny", c.models()[0]["name"])
        np.testing.assert_array_equal(originals()["ids"][2], c.model("tiny").tensor("ids"))
        with self.assertRaises(ferry.FerryConnectionError) as e:
            ferry.Client(dead).models()
        self.assertIn(dead, str(e.exception))


class StoresTest(unittest.TestCase):
    def test_servers_of_two_stores_are_refused_naming_both(self):
        # a server over a store and one over another (a copy, whose tags may point elsewhere) were used in turn: a
        # ref read from one, its objects from the other, with nothing said
        corrupt = ENV["FERRY_TEST_CORRUPT_URL"]
        ids = []
        for u in (URL, corrupt):
            req = urllib.request.Request(u + "/v1/store", headers={"Authorization": "Bearer " + TOKEN})
            with urllib.request.urlopen(req) as resp:
                ids.append(json.loads(resp.read())["id"])
        self.assertNotEqual(ids[0], ids[1])
        c = ferry.Client([URL, corrupt], token=TOKEN)
        for _ in range(2):  # refused on every request, not only the first
            with self.assertRaises(ferry.FerryError) as e:
                c.models()
            self.assertIn("do not serve one store", str(e.exception))
            self.assertIn("%s serves store %s" % (URL, ids[0]), str(e.exception))
            self.assertIn("%s serves store %s" % (corrupt, ids[1]), str(e.exception))

    def test_every_request_names_the_store_the_servers_serve(self):
        # so that a server started again over another store refuses it (409 store-mismatch) before it reads anything
        req = urllib.request.Request(URL + "/v1/store", headers={"Authorization": "Bearer " + TOKEN})
        with urllib.request.urlopen(req) as resp:
            sid = json.loads(resp.read())["id"]
        other = _Recorder(200)  # reports no id (a server older than store ids), and answers nothing to use
        try:
            c = ferry.Client([URL, other.url()], token=TOKEN)
            for _ in range(2):
                try:
                    c.models()
                except ferry.FerryError:
                    pass  # the recorder's empty answer
            self.assertEqual(["/v1/store", "/v1/models"], [h["path"] for h in other.seen])
            self.assertEqual(sid, other.seen[1].get("Ferry-Store-Id"))
        finally:
            other.close()


    def test_one_server_started_again_over_another_store_is_refused(self):
        # with one server the client neither read nor sent the store id: a server started again over another store
        # at its address was read as if it were the store of the client's earlier answers
        proxy = _CountingProxy(URL)
        try:
            with ferry.Client(proxy.url(), token=TOKEN) as c:
                self.assertEqual("tiny", c.models()[0]["name"])
                self.assertEqual(1, proxy.requests)  # the id came with the answer, not from a request of its own
                proxy.target = ENV["FERRY_TEST_CORRUPT_URL"]  # the same address, another store
                with self.assertRaises(ferry.FerryHTTPError) as e:
                    c.models()
                self.assertEqual((409, "store-mismatch"), (e.exception.status, e.exception.code))
                self.assertEqual(2, proxy.requests)
        finally:
            proxy.close()


class HungServerTest(unittest.TestCase):
    def test_a_hung_server_delays_a_request_to_another_by_the_connect_timeout_at_most(self):
        # the store id of every server is read before the first request; a server that accepts connections and never
        # answers (a stopped process) held that request, meant for the other server, for the whole timeout (60 s)
        hung = _Hung()
        other = _Recorder(200)
        try:
            c = ferry.Client([other.url(), hung.url()], timeout=30, connect_timeout=0.5)
            started = time.monotonic()
            with self.assertRaises(ferry.FerryError):
                c.models()  # the recorder's empty answer
            self.assertLess(time.monotonic() - started, 10)
            self.assertGreaterEqual(hung.accepted(), 1)  # it was asked, and not waited for
            self.assertEqual(["/v1/store", "/v1/models"], [h["path"] for h in other.seen])
        finally:
            other.close()
            hung.close()

    def test_connect_timeout_is_checked(self):
        for bad in (0, -1, float("inf"), "5", True):
            with self.assertRaises(ValueError) as e:
                ferry.Client("http://127.0.0.1:9", connect_timeout=bad)
            self.assertIn("connect_timeout", str(e.exception))


class _Hung:
    """A server that accepts connections and never answers (a stopped process): holds what it accepted."""

    def __init__(self):
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", _free_port()))
        self._sock.listen(8)
        self._held = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._held.append(conn)

    def accepted(self):
        with self._lock:
            return len(self._held)

    def url(self):
        return "http://127.0.0.1:%d" % self._sock.getsockname()[1]

    def close(self):
        self._sock.close()
        with self._lock:
            for conn in self._held:
                conn.close()


class _CountingProxy(_LocalServer):
    """Forwards GETs to the real server, answering in HTTP/1.1 and keeping each connection open for the next request;
    counts the connections it accepted and the requests it answered. With ``close_idle`` it closes each connection
    after its answer without saying so, as a server closes a kept connection once it has been idle for a while."""

    daemon_threads = True

    def __init__(self, target, close_idle=False):
        self.target = target  # may be changed: another server at the proxy's address
        self.connections = 0
        self.requests = 0
        lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with lock:
                    proxy.connections += 1

            def do_GET(self):
                req = urllib.request.Request(proxy.target + self.path, headers={
                    k: v for k, v in self.headers.items()
                    if k.lower() in ("authorization", "accept", "ferry-store-id")})
                try:
                    resp = urllib.request.urlopen(req, timeout=30)
                except urllib.error.HTTPError as e:
                    resp = e
                with resp:
                    body = resp.read()
                # counted before the answer is sent: counted after it, a client that asserted the count as soon as it
                # had its answer could find it not yet counted
                with lock:
                    proxy.requests += 1
                self.send_response(resp.status if hasattr(resp, "status") else resp.code)
                if resp.headers.get("Ferry-Store-Id"):
                    self.send_header("Ferry-Store-Id", resp.headers["Ferry-Store-Id"])
                self.send_header("Content-Type", resp.headers.get("Content-Type", "application/octet-stream"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = close_idle

            def log_message(self, *args):
                pass

        self._start(Handler)


class KeepAliveTest(unittest.TestCase):
    def test_requests_share_connections(self):
        # every request opened a connection of its own (a TLS handshake each over https): a download of a model of
        # 100,000 chunks made 100,000 connections, and left as many sockets in TIME_WAIT
        proxy = _CountingProxy(URL)
        try:
            with ferry.Client(proxy.url(), token=TOKEN) as c:
                d = scratch("keep-alive")
                r = c.model("tiny:prod").download(d)
                np.testing.assert_array_equal(originals()["ids"][2], c.model("tiny").tensor("ids"))
        finally:
            proxy.close()
        self.assertEqual(relative_files(os.path.join(MODELS, "v2")), relative_files(d))
        self.assertGreater(len(r["fetched"]), 1)
        self.assertGreater(proxy.requests, 10)
        self.assertLessEqual(proxy.connections, 2, "%d requests" % proxy.requests)

    def test_a_server_closing_idle_connections_fails_no_request(self):
        # the connection kept from the last answer may have been closed by the server meanwhile: the request sent
        # on it finds that out before any byte of an answer, and is sent again on a new connection
        proxy = _CountingProxy(URL, close_idle=True)
        try:
            with ferry.Client(proxy.url(), token=TOKEN) as c:
                d = scratch("keep-alive-closed")
                c.model("tiny:prod").download(d)
                np.testing.assert_array_equal(originals()["ids"][2], c.model("tiny").tensor("ids"))
                self.assertEqual("tiny", c.models()[0]["name"])
        finally:
            proxy.close()
        self.assertEqual(relative_files(os.path.join(MODELS, "v2")), relative_files(d))
        self.assertEqual(proxy.requests, proxy.connections)

    def test_a_kept_connection_holding_bytes_past_its_answer_is_not_reused(self):
        # bytes a server sent after its answer (a Content-Length too short) were read as the next answer's status
        # line, and the next request failed (BadStatusLine)
        answered = threading.Event()
        sent = threading.Event()
        connections = []

        class Stray(socketserver.StreamRequestHandler):
            def handle(self):
                connections.append(1)
                try:
                    while True:
                        line = self.rfile.readline()
                        while line not in (b"\r\n", b"\n", b""):
                            line = self.rfile.readline()
                        if not line:
                            return
                        body = b'{"models": []}'
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                        self.wfile.flush()
                        if not sent.is_set() and answered.wait(30):
                            self.wfile.write(b"stray bytes\r\n")
                            self.wfile.flush()
                            sent.set()
                except OSError:  # the client closed the connection
                    pass

        with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Stray) as server:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            try:
                with ferry.Client("http://127.0.0.1:%d" % server.server_address[1]) as c:
                    self.assertEqual([], c.models())
                    answered.set()
                    self.assertTrue(sent.wait(30))
                    self.assertEqual([], c.models())
            finally:
                answered.set()
                server.shutdown()
        self.assertEqual(2, len(connections))

    @unittest.skipUnless(hasattr(os, "fork"), "no fork on this system")
    def test_a_forked_process_opens_connections_of_its_own(self):
        # a process forked after a request (a data loader's worker, a rank) took the parent's kept connection, and
        # both then sent requests on one socket and read each other's answers
        proxy = _CountingProxy(URL)
        try:
            c = ferry.Client(proxy.url(), token=TOKEN)
            self.assertEqual("tiny", c.models()[0]["name"])
            self.assertEqual(1, proxy.connections)
            pid = os.fork()
            if pid == 0:  # the child: never returns into the test runner
                code = 1
                try:
                    code = 0 if c.models()[0]["name"] == "tiny" else 2
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            self.assertEqual(0, os.waitstatus_to_exitcode(status))
            self.assertEqual(2, proxy.connections)
            self.assertEqual("tiny", c.models()[0]["name"])  # the parent's connection is still its own
            self.assertEqual(2, proxy.connections)
            c.close()
        finally:
            proxy.close()

    @unittest.skipUnless(hasattr(os, "fork"), "no fork on this system")
    def test_a_fork_while_another_thread_holds_the_pool_does_not_hang_the_child(self):
        # the child inherited the pool's lock as held by a thread it does not have, and its first request waited
        # for ever
        c = ferry.Client(URL, token=TOKEN)
        try:
            self.assertEqual("tiny", c.models()[0]["name"])
            pools = [p for p in ferry._http._POOLS]
            self.assertTrue(pools)
            held, release = threading.Event(), threading.Event()

            def hold():
                locks = [p._lock for p in pools]
                for lock in locks:
                    lock.acquire()
                held.set()
                release.wait(30)
                for lock in locks:
                    lock.release()

            holder = threading.Thread(target=hold, daemon=True)
            holder.start()
            self.assertTrue(held.wait(30))
            pid = os.fork()
            if pid == 0:  # the child: never returns into the test runner
                code = 1
                try:
                    signal.alarm(20)  # a hang ends the child with SIGALRM, not the test run
                    code = 0 if c.models()[0]["name"] == "tiny" else 2
                finally:
                    os._exit(code)
            release.set()
            holder.join(30)
            _, status = os.waitpid(pid, 0)
            self.assertEqual(0, os.waitstatus_to_exitcode(status))
        finally:
            c.close()

    def test_a_client_dropped_without_close_closes_its_connections(self):
        # its kept sockets were left to the garbage collector, which warned of each (ResourceWarning: unclosed socket)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            c = ferry.Client(URL, token=TOKEN)
            self.assertEqual("tiny", c.models()[0]["name"])
            del c
            gc.collect()
        self.assertEqual([], [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)])

    def test_an_answer_the_collector_closes_while_the_pool_is_busy_does_not_hang(self):
        # an answer read to its end but never closed gives its connection back when the collector finalizes it, which
        # may happen at any allocation, also one the pool makes while it holds its lock on the same thread: that
        # thread then waited for ever on a lock it held itself
        c = ferry.Client(URL, token=TOKEN)
        pool = c._http._pool
        resp = c._http.open("/v1/models", {"Accept": "application/json"})
        resp.read()
        resp.cycle = resp  # only the cyclic collector frees it
        held = [resp]
        del resp

        class Collecting:
            """A key whose hash lets the collector run where the pool holds its lock."""

            def __hash__(self):
                held.clear()
                gc.collect()
                return 0

        conn = ferry._http._HTTPConnection(urllib.parse.urlsplit(URL).netloc)  # never connected
        gave = threading.Thread(target=pool.give, args=(Collecting(), conn), daemon=True)
        gave.start()
        gave.join(30)
        stuck = gave.is_alive()
        if stuck:  # a plain lock may be released by another thread: the stuck one goes on, and so does the run
            pool._lock.release()
            gave.join(30)
        self.assertFalse(stuck, "give waited for ever on the lock its own thread held")
        with c:
            self.assertEqual("tiny", c.models()[0]["name"])

    def test_a_tls_connection_the_server_reset_while_idle_fails_no_request(self):
        # a TLS server resetting an idle connection just after the pool found it quiet: sending the next request on
        # it raised ssl.SSLEOFError, which is no ConnectionError, and the request failed instead of being sent again
        if shutil.which("openssl") is None and not CI:
            self.skipTest("no openssl to make a certificate with")
        d = scratch("tls-reset")
        key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                        "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        answered, reset = threading.Event(), threading.Event()
        connections = []

        def handle(conn):
            connections.append(conn)
            with conn, conn.makefile("rb") as f:
                try:
                    while True:
                        line = f.readline()
                        while line not in (b"\r\n", b"\n", b""):
                            line = f.readline()
                        if not line:
                            return
                        body = b'{"models": []}'
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                        if len(connections) == 1 and answered.wait(30):
                            # no close_notify, a reset: as a server or load balancer dropping an idle connection
                            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                            reset.set()
                            return
                except OSError:  # the client closed the connection
                    pass

        def serve(listener):
            while True:
                try:
                    raw, _ = listener.accept()
                    conn = tls.wrap_socket(raw, server_side=True)
                except OSError:
                    return
                threading.Thread(target=handle, args=(conn,), daemon=True).start()

        readable = ferry._http._readable
        with socket.create_server(("127.0.0.1", 0)) as listener:
            threading.Thread(target=serve, args=(listener,), daemon=True).start()
            old = ENV.get("SSL_CERT_FILE")
            os.environ["SSL_CERT_FILE"] = cert
            # the reset reaches the client just after its pool found the kept connection quiet
            ferry._http._readable = lambda sock: False
            try:
                with ferry.Client("https://127.0.0.1:%d" % listener.getsockname()[1]) as c:
                    self.assertEqual([], c.models())
                    answered.set()
                    self.assertTrue(reset.wait(30))
                    self.assertEqual([], c.models())
            finally:
                ferry._http._readable = readable
                answered.set()
                if old is None:
                    del os.environ["SSL_CERT_FILE"]
                else:
                    os.environ["SSL_CERT_FILE"] = old
        self.assertEqual(2, len(connections))

    def test_the_deadline_counts_from_each_request_on_a_kept_connection(self):
        # a kept connection must not carry the deadline of the request it was opened for: each of two answers of
        # about 1.6 s is within a deadline of 2.5 s, together they are not; then answers that go on for ever are
        # held to their own deadline
        stop = threading.Event()
        connections = []
        answers = []

        class Slow(socketserver.StreamRequestHandler):
            def handle(self):
                connections.append(1)
                try:
                    while True:
                        line = self.rfile.readline()
                        while line not in (b"\r\n", b"\n", b""):
                            line = self.rfile.readline()
                        if not line:
                            return
                        answers.append(1)
                        slow = len(answers) > 2
                        body = b'{"models": []}' + b" " * (100000 if slow else 50)
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                         b"Content-Length: %d\r\n\r\n" % len(body))
                        # the first two answers in 8 pieces 0.2 s apart (1.6 s: few waits, so a busy machine adds
                        # little to them), the others a byte every 0.03 s for ever
                        step, pause = (1, 0.03) if slow else (-(-len(body) // 8), 0.2)
                        for i in range(0, len(body), step):
                            self.wfile.write(body[i:i + step])
                            self.wfile.flush()
                            if stop.wait(pause):
                                return
                except OSError:  # the client gave up
                    pass

        with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Slow) as server:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            url = "http://127.0.0.1:%d" % server.server_address[1]
            try:
                with ferry.Client(url, timeout=5, deadline=2.5) as c:
                    self.assertEqual([], c.models())
                    self.assertEqual([], c.models())
                    self.assertEqual([1], connections)
                    with self.assertRaises(ferry.FerryConnectionError) as e:
                        c.models()
            finally:
                stop.set()
                server.shutdown()
        self.assertIn("GET %s/v1/models" % url, str(e.exception))
        self.assertIn("deadline of 2.5 s", str(e.exception))

class _TamperProxy(_LocalServer):
    """Forwards GETs to the real server; ``change(path, body)``, when set, may return another body for the client to
    get: a change in transit. ``changed`` counts the bodies changed. ``breaks(path)``, when set, may break the answer:
    ``"cut"`` sends half the body under the whole body's Content-Length, ``"chunked-cut"`` half of it in chunked
    encoding without the last chunk, ``"stall"`` the headers and then nothing for 3 s; then the connection closes."""

    daemon_threads = True

    def __init__(self, target, change=None, breaks=None):
        self.target = target
        self.change = change
        self.breaks = breaks
        self.changed = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                req = urllib.request.Request(proxy.target + self.path, headers={
                    k: v for k, v in self.headers.items() if k.lower() in ("authorization", "range", "accept")})
                try:
                    resp = urllib.request.urlopen(req, timeout=30)
                except urllib.error.HTTPError as e:
                    resp = e
                body = resp.read()
                new = proxy.change(self.path, body) if proxy.change else None
                if new is not None and new != body:
                    body = new
                    proxy.changed += 1
                how = proxy.breaks(self.path) if proxy.breaks else None
                if how:
                    self.protocol_version = "HTTP/1.1"
                    self.close_connection = True
                    self.send_response(200)
                    if how == "chunked-cut":
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(body) // 2, body[:len(body) // 2]))
                    else:
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        if how == "cut":
                            self.wfile.write(body[:len(body) // 2])
                        else:
                            self.wfile.flush()
                            time.sleep(3)
                    return
                _answer(self, resp.status if hasattr(resp, "status") else resp.code,
                        resp.headers.get("Content-Type", "application/octet-stream"), body)

            def log_message(self, *args):
                pass

        self._start(Handler)


def _flip_chunks(path, body):
    """Flips one byte of every chunk read."""
    if "/v1/store/chunks/" in path and len(body) > 100:
        return body[:50] + bytes([body[50] ^ 1]) + body[51:]
    return None


def _flip_object(oid):
    """Flips one byte of the object ``oid`` as it is read."""
    def change(path, body):
        if path.startswith("/v1/store/chunks/%s?" % oid):
            return body[:10] + bytes([body[10] ^ 1]) + body[11:]
        return None
    return change


def _edit_version(edit):
    """Changes the version description (GET /v1/versions/...): ``edit(doc)`` edits the parsed JSON in place."""
    def change(path, body):
        if not path.startswith("/v1/versions/"):
            return None
        doc = json.loads(body.decode("utf-8"))
        edit(doc)
        return json.dumps(doc, ensure_ascii=False).encode("utf-8")
    return change


def _tensors(doc):
    return {t["name"]: t for f in doc["files"] for t in f["tensors"]}


class TamperTest(unittest.TestCase):
    """What the client trusts is checked against content ids: a version description changed in transit (the version
    fields, the files, their chunks, the tensor table), or a version or snapshot object changed in transit, is a
    FerryIntegrityError naming what was wrong, raised before anything is read from it."""

    @classmethod
    def setUpClass(cls):
        c = ferry.Client(URL, token=TOKEN)
        cls.v2, cls.v1 = c.versions("tiny")
        cls.good = c.model("tiny:prod")

    def refused(self, change, *named, ref="tiny:prod"):
        proxy = _TamperProxy(URL, change)
        try:
            with self.assertRaises(ferry.FerryIntegrityError) as e:
                ferry.Client(proxy.url(), token=TOKEN).model(ref)
            self.assertGreater(proxy.changed, 0, "the proxy changed nothing")
        finally:
            proxy.close()
        text = str(e.exception)
        for part in named:
            self.assertIn(part, text)
        return text

    def test_an_unchanged_version_reads_through_the_proxy(self):
        proxy = _TamperProxy(URL)
        try:
            m = ferry.Client(proxy.url(), token=TOKEN).model("tiny:prod")
            self.assertEqual(self.good.id, m.id)
            self.assertEqual(self.good.files(), m.files())
            self.assertEqual(self.good.tensors(), m.tensors())
            self.assertEqual(self.good.info, m.info)
            np.testing.assert_array_equal(originals()["i16"][2], m.tensor("i16"))
        finally:
            proxy.close()

    def test_a_tensor_pointed_at_another_tensors_bytes(self):
        # i16 and u16 are 6 bytes each, in chunks of their own that still verify: without the check, tensor("i16")
        # returned u16's bytes without a word
        def edit(doc):
            t = _tensors(doc)
            t["i16"]["offset"] = t["u16"]["offset"]
        text = self.refused(_edit_version(edit), "tensor 'i16'", "offset", "model-00002-of-00002.safetensors", "tiny",
                            self.v2["snapshot"], "SHA-256")
        self.assertIn(str(_tensors(self.raw())["u16"]["offset"]), text)

    def test_a_tensor_of_another_dtype_or_shape(self):
        self.refused(_edit_version(lambda doc: _tensors(doc)["u16"].update(dtype="I16")), "tensor 'u16'", "dtype")
        self.refused(_edit_version(lambda doc: _tensors(doc)["i32"].update(shape=[3, 2])), "tensor 'i32'", "shape")
        self.refused(_edit_version(lambda doc: _tensors(doc)["i32"]["chunks"][0].update(to=4)), "tensor 'i32'",
                     "chunks")

    def test_chunks_swapped(self):
        def edit(doc):
            f = [x for x in doc["files"] if x["path"] == "model-00002-of-00002.safetensors"][0]
            t = _tensors(doc)
            a, b = f["chunks"][t["i16"]["chunks"][0]["chunk"]], f["chunks"][t["u16"]["chunks"][0]["chunk"]]
            a["id"], b["id"] = b["id"], a["id"]
        self.refused(_edit_version(edit), "model-00002-of-00002.safetensors", ": id:")

    def test_a_file_dropped_renamed_or_resized(self):
        self.refused(_edit_version(lambda doc: doc["files"].pop(0)), "files")
        self.refused(_edit_version(lambda doc: doc["files"][0].update(path="other.md")), "path")
        self.refused(_edit_version(lambda doc: doc["files"][1].update(sha256="0" * 64)), "sha256")

    def test_a_pack_that_is_not_the_versions(self):
        def edit(doc):
            [c for f in doc["files"] for c in f["chunks"] if c["pack"]][0]["pack"] = "0" * 64
        self.refused(_edit_version(edit), "pack", "0" * 64)

    def test_another_versions_snapshot_or_id(self):
        self.refused(_edit_version(lambda doc: doc.update(snapshot=self.v1["snapshot"])), "snapshot",
                     self.v1["snapshot"])
        self.refused(_edit_version(lambda doc: doc.update(message="third")), "message", "third")
        # the id of v1 with v2's description: v1's version object does not say what the description says
        self.refused(_edit_version(lambda doc: doc.update(id=self.v1["id"])), self.v1["id"])
        # asked for by its full id, the version must be that one
        self.refused(_edit_version(lambda doc: doc.update(id=self.v1["id"])), self.v1["id"],
                     ref="tiny@" + self.v2["id"])

    def test_the_version_or_snapshot_object_changed(self):
        self.refused(_flip_object(self.v2["id"]), "version object", self.v2["id"], "SHA-256")
        self.refused(_flip_object(self.v2["snapshot"]), "snapshot", self.v2["snapshot"], "SHA-256")

    def raw(self):
        with urllib.request.urlopen(urllib.request.Request(URL + "/v1/versions/prod?model=tiny", headers={
                "Authorization": "Bearer " + TOKEN})) as r:
            return json.loads(r.read().decode("utf-8"))


class BrokenAnswerTest(unittest.TestCase):
    """An answer that breaks off after its headers (cut short, or stalled past the client's timeout) is a FerryError
    naming what was being read; it was http.client's IncompleteRead, or a bare "timed out", from the JSON requests
    and from chunks sent in chunked encoding."""

    def broken(self, breaks, read, *named, timeout=60.0):
        proxy = _TamperProxy(URL, breaks=breaks)
        try:
            c = ferry.Client(proxy.url(), token=TOKEN, timeout=timeout)
            with self.assertRaises(ferry.FerryError) as e:
                read(c)
        finally:
            proxy.close()
        for part in named:
            self.assertIn(part, str(e.exception))
        self.assertNotIn(TOKEN, str(e.exception))
        return e.exception

    def test_a_json_answer_cut_short_or_stalled(self):
        versions = lambda path: path.startswith("/v1/versions/")  # noqa: E731
        models = lambda path: path.startswith("/v1/models")  # noqa: E731
        for how in ("cut", "chunked-cut"):
            e = self.broken(lambda p: how if versions(p) else None, lambda c: c.model("tiny:prod"),
                            "reading version 'tiny:prod'", "IncompleteRead")
            self.assertIsInstance(e, ferry.FerryConnectionError)
            self.broken(lambda p: how if models(p) else None, lambda c: c.versions("tiny"),
                        "listing versions of model 'tiny'", "IncompleteRead")
        self.broken(lambda p: "stall" if versions(p) else None, lambda c: c.model("tiny:prod"),
                    "reading version 'tiny:prod'", "timed out", timeout=0.5)

    def test_an_answer_that_is_not_http(self):
        class Garbage(socketserver.StreamRequestHandler):
            def handle(self):
                self.rfile.readline()
                self.wfile.write(b"SSH-2.0-OpenSSH\r\n\r\n")

        with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Garbage) as server:
            threading.Thread(target=server.serve_forever, daemon=True).start()
            try:
                with self.assertRaises(ferry.FerryConnectionError) as e:
                    ferry.Client("http://127.0.0.1:%d" % server.server_address[1], token=TOKEN).models()
                self.assertIn("BadStatusLine", str(e.exception))
                self.assertIn("listing models", str(e.exception))
            finally:
                server.shutdown()

    def test_a_content_length_of_digits_that_are_not_ascii_is_no_length(self):
        # str.isdigit() takes '\u00b2' (a header is read as latin-1), which int() refuses: a bare ValueError escaped
        class Superscript(socketserver.StreamRequestHandler):
            def handle(self):
                self.rfile.readline()
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \xb2\r\n"
                                 b"Connection: close\r\n\r\n{}")

        with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Superscript) as server:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            c = ferry.Client("http://127.0.0.1:%d" % server.server_address[1])
            try:
                with self.assertRaises(ferry.FerryError) as e:
                    c.models()
                self.assertIn("GET /v1/models: expected a JSON object with a list 'models', got {}", str(e.exception))
                with self.assertRaises(ferry.FerryIntegrityError) as e:
                    c._object("0" * 64, "version x")
                self.assertIn("the content's SHA-256 is %s" % hashlib.sha256(b"{}").hexdigest(), str(e.exception))
            finally:
                server.shutdown()

    def test_json_that_is_not_the_answer_asked_for(self):
        # another service's JSON (or a server paging in a circle): KeyError and TypeError escaped, or the listing of
        # versions went round for ever; JSON nested too deep for Python's parser raised a bare RecursionError
        for body in (b"{}", b"[1, 2]", b'{"models": {"a": 1}}', b'{"versions": [{"id": "x"}], "next": "x"}',
                     b"[" * 100000 + b"]" * 100000):
            server = _Fixed(body)
            try:
                c = ferry.Client(server.url(), token=TOKEN)
                for call in (c.models, lambda: c.versions("tiny")):
                    if body.startswith(b'{"versions"') and call == c.models:
                        continue
                    with self.assertRaises(ferry.FerryError, msg=body[:50]) as e:
                        call()
                    self.assertIn("GET /v1/", str(e.exception))
            finally:
                server.close()
        # a version or snapshot object nested as deep (its SHA-256 is its id: a hostile server can make one)
        deep = b"[" * 100000 + b"]" * 100000
        server = _Fixed(deep)
        try:
            with self.assertRaises(ferry.FerryIntegrityError) as e:
                ferry.Client(server.url())._object(hashlib.sha256(deep).hexdigest(), "version x")
            self.assertIn("recursion", str(e.exception))
        finally:
            server.close()

    def test_a_listing_of_versions_that_pages_without_end_or_in_a_circle(self):
        # each page had a new cursor, so the listing went on for as long as the server did (here 100 pages)
        served = []

        class Pages(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                n = len(served)
                served.append(self.path)
                if self.server.how == "endless":
                    ids = ["%064x" % (n * 1000 + i) for i in range(1000)]
                    after = ids[-1] if n < 100 else None
                elif self.server.how == "again":  # the same page under a new cursor each time
                    ids = ["%064x" % i for i in range(3)]
                    after = ids[-1] if n < 100 else None
                else:  # a cursor that is not the page's last version
                    ids = ["%064x" % (n * 3 + i) for i in range(3)]
                    after = "%064x" % (10 ** 6 + n) if n < 100 else None
                body = json.dumps({"versions": [{"id": i} for i in ids], "next": after}).encode("utf-8")
                _answer(self, 200, "application/json", body)

            def log_message(self, *args):
                pass

        bound = ferry.client.MAX_VERSIONS
        ferry.client.MAX_VERSIONS = 5000
        try:
            for how, text in (("endless", "past 5000 versions"), ("again", "listed again after 3 versions"),
                              ("cursor", "expected the page's last version")):
                del served[:]
                server = _LocalServer.__new__(_LocalServer)
                server.daemon_threads = True
                server._start(Pages)
                server.how = how
                try:
                    with self.assertRaises(ferry.FerryError, msg=how) as e:
                        ferry.Client(server.url()).versions("tiny")
                finally:
                    server.close()
                self.assertIn(text, str(e.exception))
                self.assertIn("GET /v1/models/tiny/versions", str(e.exception))
                self.assertLessEqual(len(served), 5, how)
        finally:
            ferry.client.MAX_VERSIONS = bound

    def test_a_servers_error_text_is_made_printable(self):
        # the error code and message of a hostile server went into the exception as sent: escape sequences that a
        # terminal showing the traceback obeys, lines that look like the program's own; a message that was not a
        # string raised a TypeError
        for doc in ({"error": "x\x1b[2J", "message": "gone\x1b]0;title\x07\nforged line\x9b"},
                    {"error": 5, "message": {"a": 1}}):
            server = _Fixed(json.dumps(doc).encode("utf-8"), status=404)
            try:
                with self.assertRaises(ferry.FerryHTTPError) as e:
                    ferry.Client(server.url(), token=TOKEN).models()
            finally:
                server.close()
            text = "%s %s %s" % (e.exception, e.exception.code, e.exception.server_message)
            self.assertEqual(404, e.exception.status)
            self.assertFalse([c for c in text if ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f], text)
            if isinstance(doc["error"], str):
                self.assertEqual("x?[2J", e.exception.code)
                self.assertEqual("gone?]0;title??forged line?", e.exception.server_message)

    def test_a_chunk_cut_short_in_chunked_encoding(self):
        m = ferry.Client(URL, token=TOKEN).model("tiny:prod")
        lm = [x for x in m._files[3]["chunks"] if x["length"] == 1024 * 160 * 2][0]["id"]
        chunk = lambda p: "/v1/store/chunks/%s?" % lm in p  # noqa: E731

        def read(c):
            proxied = c.model("tiny:prod")
            proxied.tensor("lm_head.weight")
        self.broken(lambda p: "chunked-cut" if chunk(p) else None, read, lm, "model-00002-of-00002.safetensors",
                    "IncompleteRead")
        # the version's and the file's requests before the stalled chunk have the same timeout: 1.5 s leaves them room
        # on a loaded machine (0.5 s timed out reading the version once) and is still within the proxy's 3 s stall
        self.broken(lambda p: "stall" if chunk(p) else None, read, lm, "timed out", timeout=1.5)


    def test_a_server_sending_a_byte_now_and_then_is_held_to_the_deadline(self):
        # each byte came within the timeout, so a request waited for as long as the server went on (the timeout bounds
        # each read only): in the headers, or in the body
        stop = threading.Event()
        sent = []

        class Trickle(socketserver.StreamRequestHandler):
            def handle(self):
                self.rfile.readline()
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                body = b" " * 100000
                try:
                    for b in (body if self.server.in_body else head + body):
                        if self.server.in_body and not sent:
                            self.wfile.write(head)
                        self.wfile.write(bytes([b]))
                        self.wfile.flush()
                        sent.append(1)
                        if stop.wait(60 if self.server.stall else 0.01):
                            return
                except OSError:  # the client gave up
                    pass

        # and one that stops within the timeout but past the deadline: the last wait ends at the deadline
        for in_body, stall in ((False, False), (True, False), (True, True)):
            del sent[:]
            with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Trickle) as server:
                server.daemon_threads = True
                server.in_body = in_body
                server.stall = stall
                threading.Thread(target=server.serve_forever, daemon=True).start()
                url = "http://127.0.0.1:%d" % server.server_address[1]
                try:
                    with self.assertRaises(ferry.FerryConnectionError) as e:
                        ferry.Client(url, timeout=5, deadline=0.5).models()
                finally:
                    stop.set()
                    server.shutdown()
                    stop.clear()
            self.assertIn("GET %s/v1/models" % url, str(e.exception))
            self.assertIn("deadline of 0.5 s", str(e.exception))
            self.assertLess(len(sent), 100000)
        with self.assertRaises(ValueError):
            ferry.Client(URL, deadline=0)
        # an OverflowError at the first request ("timestamp too large to convert to C _PyTime_t")
        for kw in ({"timeout": float("inf"), "deadline": None}, {"timeout": 1e300}, {"deadline": float("inf")}):
            with self.assertRaises(ValueError, msg=repr(kw)) as e:
                ferry.Client(URL, **kw)
            self.assertIn("expected a positive number of at most 31536000 seconds, or None", str(e.exception))
        self.assertEqual("tiny", ferry.Client(URL, token=TOKEN, timeout=None, deadline=None).models()[0]["name"])

    def test_a_proxy_answering_connect_a_byte_now_and_then_is_held_to_the_deadline(self):
        # HTTPS_PROXY: the proxy's answer to CONNECT was read before the deadline applied, so a proxy sending a byte
        # within each timeout held the request for as long as it went on
        stop = threading.Event()

        class Trickle(socketserver.StreamRequestHandler):
            def handle(self):
                self.rfile.readline()
                try:
                    for b in b"HTTP/1.1 200 Connection established\r\nX-Slow: " + b"y" * 100000:
                        self.wfile.write(bytes([b]))
                        self.wfile.flush()
                        if stop.wait(0.05):
                            return
                except OSError:  # the client gave up
                    pass

        # in a Python of its own, so that the proxy setting reaches no other test
        code = ("import ferry\ntry:\n    ferry.Client('https://ferry.invalid:8443', timeout=5, deadline=0.5).models()\n"
                "except ferry.FerryConnectionError as e:\n    print(e)\n")
        with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Trickle) as server:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            env = {k: v for k, v in ENV.items() if k.lower() not in ("no_proxy", "https_proxy", "http_proxy")}
            env["HTTPS_PROXY"] = "http://127.0.0.1:%d" % server.server_address[1]
            try:
                run = subprocess.run([sys.executable, "-c", code], cwd=CLIENT_DIR, env=env, capture_output=True,
                                     text=True, timeout=30)
            finally:
                stop.set()
                server.shutdown()
        self.assertEqual("", run.stderr)
        self.assertIn("GET https://ferry.invalid:8443/v1/models", run.stdout)
        self.assertIn("deadline of 0.5 s", run.stdout)

    def test_a_json_answer_past_the_bound_is_refused_not_buffered(self):
        # the bound was 2 GiB, read whole and then parsed into Python's objects (several times that in memory)
        self.assertLessEqual(ferry.Client(URL).max_json_bytes, 512 << 20)
        c = ferry.Client(URL, token=TOKEN, max_json_bytes=10)
        self.assertEqual(10, c.max_json_bytes)
        with self.assertRaises(ferry.FerryConnectionError) as e:
            c.models()
        self.assertIn("GET %s/v1/models: the answer is " % URL.rstrip("/"), str(e.exception))
        self.assertIn("more than the 10 bytes the client reads as JSON (ferry.Client's max_json_bytes)",
                      str(e.exception))
        # a version or snapshot object too
        c = ferry.Client(URL, token=TOKEN)
        vid = c.model("tiny:prod").id
        c = ferry.Client(URL, token=TOKEN, max_json_bytes=100)
        with self.assertRaises(ferry.FerryConnectionError) as e:
            c._object(vid, "version x")
        self.assertIn("reading version x: GET %s/v1/store/chunks/%s?decoded=1: object %s is " % (
            URL.rstrip("/"), vid, vid), str(e.exception))
        # and an answer without a Content-Length, read until it holds more

        class Endless(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                try:
                    for _ in range(1000):
                        self.wfile.write(b" " * 1000)
                except OSError:  # the client stopped reading
                    pass

            def log_message(self, *args):
                pass

        server = _LocalServer.__new__(_LocalServer)
        server.daemon_threads = True
        server._start(Endless)
        try:
            with self.assertRaises(ferry.FerryConnectionError) as e:
                ferry.Client(server.url(), max_json_bytes=1000).models()
        finally:
            server.close()
        self.assertIn("/v1/models: the answer holds more than the 1000 bytes", str(e.exception))
        # a count of bytes that is not an integer: 0.5 was taken, and a refusal then spoke of "the 0 bytes"
        for bad in (None, 0.5, 1e9, 0, -1, True, "10"):
            with self.assertRaises(ValueError, msg=repr(bad)) as e:
                ferry.Client(URL, max_json_bytes=bad)
            self.assertIn("max_json_bytes: expected a positive integer (bytes), got %r" % (bad,), str(e.exception))
        c = ferry.Client(URL, max_json_bytes=np.int64(10))
        self.assertIs(int, type(c.max_json_bytes))
        self.assertEqual(10, c.max_json_bytes)

    def test_an_answer_that_breaks_off_is_asked_again_of_another_server(self):
        # a server killed or restarted mid-answer: the chunk (or the version or snapshot object) is asked again of
        # the next server, and the read succeeds; with one server, once more of it
        expected = ferry.Client(URL, token=TOKEN).model("tiny:prod").tensor("lm_head.weight")
        cut = []

        def every_chunk(path):
            if "/v1/store/chunks/" in path:
                cut.append(path)
                return "cut"
            return None
        broken = _TamperProxy(URL, breaks=every_chunk)
        try:
            c = ferry.Client([broken.url(), URL], token=TOKEN)
            for _ in range(2):  # round-robin: one of the two starts at the broken server
                np.testing.assert_array_equal(expected, c.model("tiny:prod").tensor("lm_head.weight"))
            d = scratch("broken-off")
            c.model("tiny:prod").download(d)
            self.assertEqual(relative_files(os.path.join(MODELS, "v2")), relative_files(d))
            self.assertGreater(len(cut), 0, "no answer was broken off")
        finally:
            broken.close()

        del cut[:]

        def first_only(path):
            return every_chunk(path) if not cut else None
        proxy = _TamperProxy(URL, breaks=first_only)
        try:
            np.testing.assert_array_equal(
                expected, ferry.Client(proxy.url(), token=TOKEN).model("tiny:prod").tensor("lm_head.weight"))
            self.assertEqual(1, len(cut))
        finally:
            proxy.close()


class IntegrityTest(unittest.TestCase):
    def test_a_chunk_changed_in_transit_is_refused(self):
        proxy = _TamperProxy(URL)
        try:
            c = ferry.Client(proxy.url(), token=TOKEN)
            m = c.model("tiny:prod")
            proxy.change = _flip_chunks
            with self.assertRaises(ferry.FerryIntegrityError) as e:
                m.tensor("lm_head.weight")
            text = str(e.exception)
            lm_chunk = [x for x in m._files[3]["chunks"] if x["length"] == 1024 * 160 * 2][0]["id"]
            for part in (lm_chunk, "model-00002-of-00002.safetensors", "tiny", m.id, "SHA-256"):
                self.assertIn(part, text)
            d = scratch("flipped")
            with self.assertRaises(ferry.FerryIntegrityError):
                m.download(d, include="model-00002*")
            self.assertFalse(os.path.exists(os.path.join(d, "model-00002-of-00002.safetensors")))
            part = os.path.join(d, ferry.part_name([f for f in m.files() if f["path"].startswith("model-00002")][0]))
            # what stays under the temporary name is only verified chunks (the header), never the bad one
            self.assertLess(os.path.getsize(part), 4096)
            self.assertGreater(proxy.changed, 0)
        finally:
            proxy.close()

    def test_a_chunk_damaged_once_in_transit_is_fetched_again(self):
        proxy = _TamperProxy(URL)
        try:
            c = ferry.Client(proxy.url(), token=TOKEN)
            m = c.model("tiny:prod")
            expected = ferry.Client(URL, token=TOKEN).model("tiny:prod").tensor("lm_head.weight")
            flipped = []

            def once(path, body):
                if not flipped and "/v1/store/chunks/" in path and len(body) > 100:
                    flipped.append(path)
                    return _flip_chunks(path, body)
                return None
            proxy.change = once
            self.assertTrue((m.tensor("lm_head.weight") == expected).all())
            self.assertEqual(proxy.changed, 1)
            # a download too: the file's SHA-256 counted the damaged read's bytes, and the download failed
            del flipped[:]
            d = scratch("once")
            m.download(d, include="model-00002*")
            self.assertEqual(proxy.changed, 2)
            self.assertEqual(sha256(os.path.join(MODELS, "v2", "model-00002-of-00002.safetensors")),
                             sha256(os.path.join(d, "model-00002-of-00002.safetensors")))
        finally:
            proxy.close()

    def test_a_chunk_one_server_damaged_is_read_again_from_another(self):
        # two servers, one damaging every chunk: the second read went where round-robin's turn was, which other
        # threads' requests move on (done here by hand as the bytes pass), so it could ask the same server again
        proxy = _TamperProxy(URL)
        try:
            c = ferry.Client([proxy.url(), URL], token=TOKEN)
            m = c.model("tiny:prod")
            expected = ferry.Client(URL, token=TOKEN).model("tiny:prod").tensor("lm_head.weight")

            def flip_and_turn(path, body):
                if "/v1/store/chunks/" in path:
                    c._http._order()  # another thread's request takes a turn meanwhile
                return _flip_chunks(path, body)
            proxy.change = flip_and_turn
            for _ in range(4):  # the first read goes to either server
                self.assertTrue((m.tensor("lm_head.weight") == expected).all())
            self.assertGreater(proxy.changed, 0)
            # when both reads fail, the error names the servers that sent the bytes
            other = _TamperProxy(URL)
            try:
                proxy.change = None
                tiny = ferry.Client([proxy.url(), other.url()], token=TOKEN).model("tiny:prod")
                proxy.change = other.change = _flip_chunks
                with self.assertRaises(ferry.FerryIntegrityError) as e:
                    tiny.tensor("lm_head.weight")
            finally:
                other.close()
            text = str(e.exception)
            self.assertIn("(sent by %s)" % proxy.url(), text)
            self.assertIn("(sent by %s)" % other.url(), text)
        finally:
            proxy.close()

    def test_a_chunk_damaged_in_the_store_is_an_error_naming_it(self):
        c = ferry.Client(ENV["FERRY_TEST_CORRUPT_URL"])
        m = c.model("tiny:prod")
        f = [x for x in m._files if x["path"] == "model-00001-of-00002.safetensors"][0]
        loose = [x for x in f["chunks"] if x["pack"] is None and x["length"] == 512 * 384 * 2][0]["id"]
        obj = os.path.join(ENV["FERRY_TEST_CORRUPT_STORE"], "objects", loose[:2], loose[2:])
        with open(obj, "r+b") as fh:
            fh.seek(os.path.getsize(obj) // 2)
            b = fh.read(1)
            fh.seek(-1, os.SEEK_CUR)
            fh.write(bytes([b[0] ^ 0x40]))
        with self.assertRaises(ferry.FerryError) as e:
            m.tensor("embed.weight")
        text = str(e.exception)
        for part in (loose, "model-00001-of-00002.safetensors", "tiny"):
            self.assertIn(part, text)
        # the other tensors still read
        np.testing.assert_array_equal(originals()["ids"][2], m.tensor("ids"))


class TreeTest(unittest.TestCase):
    """Model "tiny-tree": files in directories, and a file name of 250 bytes."""

    def setUp(self):
        self.m = ferry.Client(URL, token=TOKEN).model("tiny-tree")
        self.src = os.path.join(MODELS, "tree")

    def test_safetensors_metadata_naming_strides_is_only_text(self):
        want = model_files.read_safetensors(os.path.join(MODELS, "tree", "model.safetensors"))["w"][2]
        np.testing.assert_array_equal(want, self.m.tensor("w", file="model.safetensors"))
        np.testing.assert_array_equal(want[2:4], self.m.rows("w", 2, 4, file="model.safetensors"))

    def test_a_name_two_files_hold_is_listed_twice_and_read_by_its_file(self):
        # the client kept the first file's tensor only: tensors() left the other out, and tensor("w") gave the
        # first file's array whichever was meant
        extra = "a/b/extra.safetensors"
        want = model_files.read_safetensors(os.path.join(MODELS, "tree", "a", "b", "extra.safetensors"))["w"][2]
        self.assertCountEqual(["model.safetensors", extra], [t.file for t in self.m.tensors() if t.name == "w"])
        with self.assertRaises(ValueError) as e:
            self.m.tensor("w")
        self.assertIn("held by 2 files", str(e.exception))
        self.assertIn(extra, str(e.exception))
        np.testing.assert_array_equal(want, self.m.tensor("w", file=extra))
        np.testing.assert_array_equal(want[1:3], self.m.rows("w", 1, 3, file=extra))
        self.assertEqual(want.tobytes(), self.m.tensor_bytes("w", file=extra))
        with self.assertRaises(ferry.FerryNotFoundError):
            self.m.tensor("w", file="config.json")
        try:
            import torch  # noqa: F401
        except ImportError:
            return
        with self.assertRaises(ValueError):
            self.m.state_dict()
        sd = self.m.state_dict(file=extra)
        self.assertEqual(["x", "w"], list(sd))
        np.testing.assert_array_equal(want, sd["w"].numpy())

    def test_f8_codes_as_float32(self):
        # as_float32 gave the uint8 codes back unchanged: a float32 request answered with bits
        def value(code, exp_bits, bias):  # sign, exponent, mantissa; exponent 0 is subnormal
            man_bits = 7 - exp_bits
            e, m = (code >> man_bits) & ((1 << exp_bits) - 1), code & ((1 << man_bits) - 1)
            v = (m / (1 << man_bits)) * 2.0 ** (1 - bias) if e == 0 else (1 + m / (1 << man_bits)) * 2.0 ** (e - bias)
            return -v if code & 0x80 else v

        # NaN keeps the code's sign bit, as the half's NaN does (and torch's float8 types)
        e4m3 = [math.copysign(float("nan"), -1 if c & 0x80 else 1) if c & 0x7F == 0x7F else value(c, 4, 7)
                for c in range(256)]
        # E5M2 is the top byte of an IEEE half
        e5m2 = (np.arange(256, dtype=np.uint16) << 8).view(np.float16).astype(np.float32).tolist()
        e4m3fnuz = [float("nan") if c == 0x80 else value(c, 4, 8) for c in range(256)]
        e5m2fnuz = [float("nan") if c == 0x80 else value(c, 5, 16) for c in range(256)]
        e8m0 = [2.0 ** (c - 127) for c in range(255)] + [float("nan")]
        for kind, want in [("F8_E4M3", e4m3), ("F8_E5M2", e5m2), ("F8_E4M3FNUZ", e4m3fnuz),
                           ("F8_E5M2FNUZ", e5m2fnuz), ("F8_E8M0", e8m0)]:
            name = "f8." + kind.lower()
            bits = self.m.tensor(name)
            self.assertEqual((np.uint8, (16, 16)), (bits.dtype, bits.shape), kind)
            self.assertEqual(list(range(256)), bits.reshape(-1).tolist(), kind)
            got = self.m.tensor(name, as_float32=True)
            self.assertEqual((np.float32, (16, 16)), (got.dtype, got.shape), kind)
            np.testing.assert_array_equal(np.array(want, dtype=np.float32).reshape(16, 16), got, err_msg=kind)
            np.testing.assert_array_equal(np.signbit(np.array(want, dtype=np.float32).reshape(16, 16)), np.signbit(got),
                                          err_msg=kind)
            np.testing.assert_array_equal(got[3:5], self.m.rows(name, 3, 5, as_float32=True), err_msg=kind)
        e4m3 = self.m.tensor("f8.f8_e4m3", as_float32=True).reshape(-1)
        self.assertEqual([448.0, -448.0], e4m3[[0x7E, 0xFE]].tolist())
        self.assertTrue(np.signbit(e4m3[0x80]))

    def test_a_250_byte_file_name_downloads_under_a_short_temporary_name(self):
        long = model_files.LONG_NAME
        f = [x for x in self.m.files() if x["path"] == long][0]
        part = ferry.part_name(f)
        self.assertRegex(part, r"^\.[0-9a-f]{16}\.ferry-part$")
        self.assertEqual(part, ferry.part_name(dict(f)), "the same file gets the same name on every run")
        self.assertNotEqual(part, ferry.part_name(dict(f, sha256="0" * 64)))
        d = scratch("long")
        r = self.m.download(d)
        self.assertEqual(sorted(model_files.TREE), sorted(r["fetched"]))
        self.assertEqual(relative_files(self.src), relative_files(d))
        # an interrupted download left the whole file under its temporary name: a rerun finds it and fetches nothing
        os.rename(os.path.join(d, long), os.path.join(d, part))
        r = self.m.download(d, include=long)
        self.assertEqual(([long], 0), (r["fetched"], r["bytes"]))
        self.assertEqual(relative_files(self.src), relative_files(d))

    def test_a_file_system_failure_is_a_ferry_error_naming_the_file(self):
        d = scratch("fs-error")
        with open(os.path.join(d, "a"), "w") as fh:
            fh.write("a file where the version has a directory")
        with self.assertRaises(ferry.FerryError) as e:
            self.m.download(d, include="a/**")
        self.assertIn("a/b/c.json", str(e.exception))
        self.assertIn("tiny-tree", str(e.exception))
        self.assertIsInstance(e.exception.__cause__, OSError)

    def test_include_and_exclude_select_what_ferry_pull_selects(self):
        long = model_files.LONG_NAME
        for include, exclude, want in [
                ("**/*.safetensors", None, ["a/b/extra.safetensors", "model.safetensors"]),
                ("*.json", None, ["config.json"]),
                ("**/*.json", None, ["a/b/c.json", "config.json"]),
                ("a/**", None, ["a/b/c.json", "a/b/extra.safetensors"]),
                ("/config.json", None, ["config.json"]),
                (None, ["a/**", "*.json"], [long, "model.safetensors"]),
                (["**"], "**/*.safetensors", [long, "a/b/c.json", "config.json"])]:
            d = scratch("globs")
            r = self.m.download(d, include=include, exclude=exclude)
            self.assertEqual(sorted(want), sorted(r["fetched"]), (include, exclude))
            self.assertEqual(sorted(want), sorted(relative_files(d)), (include, exclude))
        for bad in ("", [""]):
            with self.assertRaises(ValueError):
                self.m.download(scratch("globs"), include=bad)

    def test_globs_of_another_type_are_an_error_naming_the_option(self):
        # an integer was "'int' object is not iterable", and bytes were read as their integers ("got 42")
        for bad in (5, b"*.json", bytearray(b"*.json")):
            for option in ("include", "exclude"):
                with self.assertRaises(TypeError, msg=repr(bad)) as e:
                    self.m.download(scratch("glob-type"), **{option: bad})
                self.assertIn("%s: expected a glob (a string) or a list of them, got %r" % (option, bad),
                              str(e.exception))

    def test_a_class_whose_range_is_reversed_is_an_error_naming_the_option(self):
        # re.error escaped ("bad character range z-a at position 6"), naming neither the option nor the glob
        for option in ("include", "exclude"):
            with self.assertRaises(ValueError) as e:
                self.m.download(scratch("glob-range"), **{option: ["*.json", "[z-a]*"]})
            self.assertIn("%s: glob '[z-a]*' holds a class of characters that is not one: bad character range z-a"
                          % option, str(e.exception))

    def test_a_selection_of_no_file_is_refused_as_ferry_pull_refuses_it(self):
        """Before, a glob that matched nothing (a typo such as ``*.safetensor``) or ``include=[]`` downloaded nothing
        and returned as a success (``include=[]`` even downloaded every file)."""
        for include, exclude, words in [("*.safetensor", None, "include=['*.safetensor']"),
                                        ([], None, "include=[]"),
                                        (None, "**", "exclude=['**']")]:
            d = os.path.join(scratch("none"), "dest")
            with self.assertRaises(ferry.FerryNotFoundError) as e:
                self.m.download(d, include=include, exclude=exclude)
            self.assertIn("has no file that %s selects" % words, str(e.exception))
            self.assertIn(self.m.name, str(e.exception))
            self.assertFalse(os.path.exists(d), "nothing is made")


@unittest.skipIf(torch is None and not CI, "torch is not importable")
class ViewsTest(unittest.TestCase):
    """Model "tiny-views", a PyTorch checkpoint whose tensors are views: a transposed, strided or expanded view is
    read from the bytes it spans and given row-major. Before, the expanded one failed model() with an integrity error
    and the transposed one came back as its storage's bytes in storage order: wrong values. Its complex128 tensors
    come as complex128 (Ferry refused the checkpoint at push until it read them as C128)."""

    @classmethod
    def setUpClass(cls):
        assert torch is not None, "CI=true: torch (python3-torch) must be importable"
        cls.m = ferry.Client(URL, token=TOKEN).model("tiny-views")
        cls.want = model_files.views()

    def numpy(self, t):
        return t.view(torch.int16).numpy().view(np.uint16) if t.dtype == torch.bfloat16 else t.numpy()

    def test_every_view_reads_as_torch_loads_it(self):
        sd = self.m.state_dict()
        self.assertEqual(sorted(self.want), sorted(sd))
        for name, t in self.want.items():
            got = self.m.tensor(name)
            self.assertEqual(tuple(t.shape), got.shape, name)
            self.assertTrue(got.flags.writeable and got.flags.c_contiguous, name)
            np.testing.assert_array_equal(self.numpy(t), got, err_msg=name)
            self.assertEqual(self.numpy(t.contiguous()).tobytes(), self.m.tensor_bytes(name), name)
            self.assertEqual(t.dtype, sd[name].dtype, name)
            self.assertTrue(torch.equal(t, sd[name]), name)

    def test_tied_weights_are_fetched_once_and_share_memory(self):
        """"x" and "x.tied" are one tensor saved under two names: state_dict() gives them sharing memory, as
        torch.load does, and fetches them once. Before, each was fetched and held on its own."""
        c = ferry.Client(URL, token=TOKEN)
        m = c.model("tiny-views")
        before = c.bytes_received
        m.state_dict(["x"])
        one = c.bytes_received - before
        sd = m.state_dict(["x", "x.tied"])
        self.assertEqual(one, c.bytes_received - before - one)
        self.assertEqual(sd["x"].data_ptr(), sd["x.tied"].data_ptr())
        self.assertIsNot(sd["x"], sd["x.tied"])
        self.assertTrue(torch.equal(self.want["x"], sd["x.tied"]))

    def test_rows_of_views(self):
        for name, t in self.want.items():
            n = t.shape[0]
            for a, b in [(0, n), (1, n), (0, 1), (n - 1, n), (2, 2), (n, n)]:
                np.testing.assert_array_equal(self.numpy(t)[a:b], self.m.rows(name, a, b), err_msg=(name, a, b))
        np.testing.assert_array_equal(self.numpy(self.want["b.t"].float()),
                                      self.m.tensor("b.t", as_float32=True))


class OnnxTypesTest(unittest.TestCase):
    """Model "tiny-onnx": ONNX initializers of the types safetensors lacks. COMPLEX128 comes as complex128; INT4,
    UINT4, INT2 and UINT2 come unpacked, one value per element, as onnx's numpy_helper gives their values. They were
    not listed at all (no Ferry dtype), and once listed COMPLEX128 had no numpy type."""

    @classmethod
    def setUpClass(cls):
        cls.m = ferry.Client(URL, token=TOKEN).model("tiny-onnx")
        cls.want = model_files.onnx_tensors()

    def test_listed_and_read_as_their_values(self):
        got = {t.name: t for t in self.m.tensors()}
        self.assertEqual(sorted(self.want), sorted(got))
        for name, (dtype, arr, raw) in self.want.items():
            self.assertEqual((dtype, arr.shape), (got[name].dtype, got[name].shape), name)
            self.assertEqual(raw, self.m.tensor_bytes(name), name)
            values = self.m.tensor(name)
            self.assertEqual(arr.dtype, values.dtype, name)
            np.testing.assert_array_equal(arr, values, err_msg=name)
        with self.assertRaises(ferry.FerryError) as e:
            self.m.rows("i4", 0, 1)
        self.assertIn("'i4': dtype I4 packs several values a byte", str(e.exception))
        np.testing.assert_array_equal(self.want["z"][1][1:], self.m.rows("z", 1, 2))

    @unittest.skipIf(torch is None and not CI, "torch is not importable")
    def test_state_dict(self):
        sd = self.m.state_dict()
        for name, (dtype, arr, raw) in self.want.items():
            np.testing.assert_array_equal(arr, sd[name].numpy(), err_msg=name)


class UnrecordedViewsTest(unittest.TestCase):
    """A checkpoint with more views than its metadata holds strides for records the first ones and names the first
    unrecorded view in ``views.unrecorded.from``. The client took a tensor without strides for row-major: it read
    such a view's span as its elements (wrong values), and a strided one failed model() with an integrity error."""

    FILE = {"path": "views.pt", "format": "torch", "size": 24, "chunks": [{"offset": 0, "length": 24, "id": "0"}],
            "metadata": {"strides.v1": "[1,3]", "views.unrecorded": "2 more", "views.unrecorded.from": "v2"},
            "tensors": [{"name": n, "dtype": "F32", "shape": s, "offset": 0, "length": 24} for n, s in
                        [("a", [2, 3]), ("v1", [3, 2]), ("v2", [3, 2]), ("v3", [2]), ("w", [2, 3])]]}

    def test_unrecorded_views_are_refused_not_read_as_row_major(self):
        from ferry import client
        client._check_file(self.FILE, "views.pt")  # v3 spans 24 bytes for 2 elements: a strided view
        t = {x["name"]: x for x in self.FILE["tensors"]}
        self.assertIsNone(client._view_strides(self.FILE, t["a"]))
        self.assertEqual((1, 3), client._view_strides(self.FILE, t["v1"]))
        for name in ["v2", "v3", "w"]:
            with self.assertRaises(ferry.FerryError) as e:
                client._view_strides(self.FILE, t[name])
            self.assertIn("tensor %r of views.pt may be a non-contiguous view" % name, str(e.exception))


class GlobTest(unittest.TestCase):
    """The client's globs are ferry pull's: PathFilterTest's cases, and a table of what Java's PathFilter takes."""

    def test_globs_of_many_wildcards_against_long_paths_take_no_longer_than_their_length(self):
        # globs were regular expressions, whose backtracking took time exponential in the number of '*' and '**/':
        # each of these ran for minutes (the paths are the server's to choose); in a Python of its own, bounded
        code = ("from ferry._glob import PathFilter\n"
                "cases = [('**/**/**/**/**/**/**/**/x', '/'.join(['a'] * 200)), ('*-*-*-*-*-*-*.bin', '-' * 250),\n"
                "         ('*a*a*a*a*a*a*a*a*b', 'a' * 250), ('a/**/b/**/c/**/d/**/e', 'a/' + 'b/c/d/' * 100)]\n"
                "print([PathFilter(include=g).test(p) for g, p in cases])\n")
        run = subprocess.run([sys.executable, "-c", code], cwd=CLIENT_DIR, capture_output=True, text=True, timeout=60)
        self.assertEqual(("[False, False, False, False]\n", ""), (run.stdout, run.stderr))

    def test_the_cases_of_the_java_test(self):
        from ferry._glob import PathFilter

        def include(*globs):
            return PathFilter(list(globs))

        self.assertTrue(include("*.json").test("config.json"))
        self.assertFalse(include("*.json").test("sub/config.json"))
        self.assertTrue(include("**/*.json").test("config.json"))
        self.assertTrue(include("**/*.json").test("a/b/config.json"))
        self.assertTrue(include("a/**").test("a/b/c"))
        self.assertFalse(include("a/**").test("ab/c"))
        self.assertTrue(include("a/**/z").test("a/z"))
        self.assertTrue(include("a/**/z").test("a/b/c/z"))
        self.assertTrue(include("model-0000?-of-*.safetensors").test("model-00001-of-00002.safetensors"))
        self.assertFalse(include("?").test("/"))
        self.assertTrue(include("[a-c]x").test("bx"))
        self.assertFalse(include("[!a-c]x").test("bx"))
        self.assertTrue(include("[!a-c]x").test("dx"))
        self.assertFalse(include("[!a]x").test("/x"))
        self.assertFalse(include("a.b").test("axb"))
        self.assertTrue(include("\\*").test("*"))
        self.assertFalse(include("\\*").test("x"))
        self.assertTrue(include("(x|y)+").test("(x|y)+"))
        self.assertTrue(include("[x").test("[x"))
        f = PathFilter(["**/*.txt"], ["notes/a.txt"])
        self.assertFalse(f.test("notes/a.txt"))
        self.assertTrue(f.test("notes/b.txt"))
        self.assertFalse(f.test("b.bin"))
        self.assertTrue(PathFilter().test("anything/at/all"))
        # globs given as an iterator (a generator, map(), filter()) select as a list of them does: they were read
        # twice, and the second time found nothing, so include took no file and exclude left every file in
        f = PathFilter((g for g in ["**/*.txt"]), map(str, ["notes/a.txt"]))
        self.assertEqual([False, True], [f.test("notes/a.txt"), f.test("notes/b.txt")])
        self.assertEqual("include=['**/*.txt'] exclude=['notes/a.txt']", f.describe())
        with self.assertRaises(ValueError) as e:
            include("")
        self.assertIn("include", str(e.exception))

    def test_hyphens_in_a_row_in_a_class_are_read_as_java_reads_them_without_a_warning(self):
        # '--' in a class reached Python's parser, which warned of a possible set difference (FutureWarning) for
        # each such glob and may read it so one day
        from ferry._glob import PathFilter

        def members(glob):
            f = PathFilter([glob + "x"])
            return "".join(chr(c) for c in range(32, 127) if f.test(chr(c) + "x"))

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # as Java's PathFilter: a '-' between two members makes a range, a '-' where a member starts is one
            self.assertEqual("+,-b", members("[+---b]"))
            self.assertEqual("-abce", members("[a-c-e]"))
            self.assertEqual("-" + "".join(chr(c) for c in range(ord("."), ord("e") + 1) if chr(c) != "/"),
                             members("[a-c--e]"))
            self.assertEqual("-", members("[---]"))
            self.assertEqual("-.0", members("[--0]"))
            for glob in ("[a---b]", "[a--b]"):
                with self.assertRaises(ValueError) as e:
                    PathFilter([glob])
                self.assertIn("include: glob %r holds a class of characters that is not one: bad character range"
                              " a--" % glob, str(e.exception))

    def test_the_same_files_as_javas_path_filter(self):
        from ferry._glob import PathFilter

        with open(ENV["FERRY_TEST_GLOBS"], encoding="utf-8") as fh:
            table = json.load(fh)
        self.assertGreater(len(table), 1000)
        self.assertTrue(any(row["taken"] for row in table) and not all(row["taken"] for row in table))
        # the table's empty include list is Java's "no --include given" (Python's None; include=[] takes no file)
        differ = [row for row in table
                  if PathFilter(row["include"] or None, row["exclude"]).test(row["path"]) != row["taken"]]
        self.assertEqual([], differ)


_install = {}


def setUpModule():
    """Starts the offline pip install into a venv at once: it runs beside the other tests (InstallTest waits)."""
    d = scratch("venv")
    env = {k: v for k, v in ENV.items() if k != "PYTHONPATH"}
    # install from a copy: pip builds in the source tree, which would leave build/ and *.egg-info in the checkout
    src = os.path.join(d, "src")
    shutil.copytree(CLIENT_DIR, src, ignore=shutil.ignore_patterns("tests", "__pycache__", "build", "*.egg-info"))
    venv = os.path.join(d, "venv")
    q = shlex.quote
    script = ("set -e; {py} -m venv --system-site-packages --without-pip {venv}; {venv}/bin/python -m pip install"
              " --no-deps --no-build-isolation --no-index --disable-pip-version-check -q {src}; cd {d}; {venv}/bin/python"
              " -c 'import ferry; print(ferry.__file__); print(ferry.__version__)'").format(
                  py=q(sys.executable), venv=q(venv), src=q(src), d=q(d))
    _install["dir"] = venv
    _install["proc"] = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=env, cwd=d)


def tearDownModule():
    p = _install.get("proc")
    if p is not None and p.poll() is None:
        p.kill()
        p.wait()


class InstallTest(unittest.TestCase):
    def test_pip_installs_offline_into_a_venv(self):
        """pip install --no-deps --no-build-isolation ./clients/python into a venv using the system's setuptools,
        without an index: then ``import ferry`` in that venv finds the installed copy, not the source."""
        out, _ = _install["proc"].communicate(timeout=120)
        self.assertEqual(0, _install["proc"].returncode, out)
        lines = out.strip().splitlines()
        self.assertTrue(lines[-2].startswith(_install["dir"]), out)
        self.assertEqual(ferry.__version__, lines[-1], out)


if __name__ == "__main__":
    unittest.main()
