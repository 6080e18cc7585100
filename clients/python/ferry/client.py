"""The Ferry client: models, versions, tensors as numpy arrays or torch tensors, and resumable downloads."""

import bisect
import collections
import errno
import hashlib
import http.client
import json
import math
import operator
import os
import posixpath
import re
import stat
import tempfile
import threading
import unicodedata
import urllib.parse

try:
    import fcntl
except ImportError:  # not on Windows: downloads of one file into one directory at once are then the caller's care
    fcntl = None

import numpy as np

from . import _dtypes
from ._glob import PathFilter
from ._http import DEADLINE, MAX_JSON_BYTES, Transport, declared_length
from .errors import (FerryConnectionError, FerryError, FerryHTTPError, FerryIntegrityError, FerryNotFoundError,
                     FerryTransferError)

#: Bytes read from the network at a time (memory per transfer stays about this big, whatever the chunk size).
PIECE = 1 << 20

#: Suffix of the temporary name a file is downloaded under (``.<16 hex digits>.ferry-part`` next to it; see part_name).
PART_SUFFIX = ".ferry-part"

#: The longest timeout or deadline a client takes, in seconds (a year; None bounds nothing).
MAX_SECONDS = 365 * 24 * 3600

#: The most bytes of a chunk that holds bytes of a tensor: Ferry cuts a tensor into chunks of at most 64 MiB (Java:
#: ChunkPlanner.MAX_TENSOR_CHUNK; docs/storage-format.md, "Chunking rules").
MAX_TENSOR_CHUNK = 64 << 20

#: The most bytes of any chunk: a writer holds a chunk in one Java buffer. A run of header bytes is one chunk whatever
#: its size (a safetensors or GGUF header of up to 100,000,000 bytes), so other chunks are bounded only so.
MAX_CHUNK = (1 << 31) - 1

#: The most versions Client.versions() lists: a server paging without end is stopped there.
MAX_VERSIONS = 1000000
_VERSIONS_PAGE = 1000

# Version and snapshot objects kept after their SHA-256 was checked (they never change: their id is their content's
# hash), so that model() of a version already read fetches only the server's description of it
OBJECT_CACHE_BYTES = 64 << 20

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX = re.compile(r"^[0-9a-f]{4,64}$")

# Names as Ferry takes them (Java: io.ferry.store.RefNames): a model is a part with at most one org/ prefix, a tag one
# part; ASCII only, so that no name is '.', '..', holds a separator, a query or a fragment, or needs encoding
_NAME_PART = "[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_MODEL_NAME = re.compile("%s(?:/%s)?" % (_NAME_PART, _NAME_PART))
_TAG_NAME = re.compile(_NAME_PART)
_NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters"

#: One tensor of a version: its name, safetensors dtype name (``"BF16"``, ``"F32"``, ...), shape and file.
Tensor = collections.namedtuple("Tensor", ["name", "dtype", "shape", "file"])


class Client:
    """A client of one Ferry server, or of several serving the same store.

    ``url`` is ``"http://host:8080"``, or several as a list or a comma-separated string; requests go to them in
    turn (round-robin) and a request that finds a server unreachable or answering 502/503/504 is tried on the next.
    ``token`` is a bearer token; without one, ``FERRY_TOKEN`` from the environment is used. The token is sent only in
    the ``Authorization`` header and never appears in messages or ``repr``.

    ``timeout`` bounds each wait on the network (connecting, and each read), in seconds (at most MAX_SECONDS, a
    year; None for no bound); ``deadline`` bounds each
    request as a whole, from connecting to the answer's last byte (a tensor's chunk is at most 64 MiB), so that a server
    sending a byte now and then cannot hold it for ever; None for no deadline. A request past either is tried again
    as an answer that broke off is, and then raised as ``FerryTransferError`` (or ``FerryConnectionError`` before
    the answer's headers) naming the URL. ``max_json_bytes`` (512 MiB) bounds what is read whole and parsed: a JSON
    answer (a version's description) and a version or snapshot object; a server sending more is refused.
    ``connect_timeout`` (5 s, as the Java client's ``connect_timeout_ms``) bounds the read of each server's store id
    (with several servers, before its first request), connecting included, so that a server that accepts
    connections and never answers holds a request to another server no longer; None leaves it to ``timeout`` and
    ``deadline``.
    """

    def __init__(self, url, token=None, timeout=60.0, deadline=DEADLINE, max_json_bytes=MAX_JSON_BYTES,
                 connect_timeout=5.0):
        if token is None:
            token = os.environ.get("FERRY_TOKEN") or None
        if token is not None:
            # a token read from a file keeps its newline; a header with one would be refused with the token in the
            # message
            if not isinstance(token, str):
                raise TypeError("token: expected a str, got %s (not shown)" % type(token).__name__)
            token = token.strip() or None
            if token is not None and not all(33 <= ord(ch) <= 126 for ch in token):
                raise ValueError("token: expected printable ASCII without spaces or control characters (as a Ferry"
                                 " token, fry_<id>_<secret>), got %d characters with others (not shown)" % len(token))
        for name, value in (("timeout", timeout), ("deadline", deadline), ("connect_timeout", connect_timeout)):
            if value is None:
                continue
            # a timeout or deadline past what the system's clock takes (inf, 1e300) was an OverflowError at the first
            # request; None is how no bound is asked for
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
                    or not value <= MAX_SECONDS):
                raise ValueError("%s: expected a positive number of at most %d seconds, or None, got %r" % (
                    name, MAX_SECONDS, value))
        # a count of bytes is an integer (int, numpy's integers): 0.5 was taken, and messages said "0 bytes"
        if isinstance(max_json_bytes, bool) or not hasattr(type(max_json_bytes), "__index__") \
                or not operator.index(max_json_bytes) > 0:
            raise ValueError("max_json_bytes: expected a positive integer (bytes), got %r" % (max_json_bytes,))
        max_json_bytes = operator.index(max_json_bytes)
        self._http = Transport(url, token, timeout, deadline, max_json_bytes, connect_timeout)
        self._objects = collections.OrderedDict()
        self._objects_bytes = 0
        self._objects_lock = threading.Lock()

    def close(self):
        """Closes the connections the client keeps open between requests (at most 8 for each server); the client
        stays usable, and opens new ones as it needs them. ``with ferry.Client(...) as c:`` closes them at its end."""
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "ferry.Client(%r%s)" % (",".join(self._http.urls), ", token=<hidden>" if self._http._token else "")

    @property
    def max_json_bytes(self):
        """The most bytes read whole and parsed as JSON: an answer, or a version or snapshot object."""
        return self._http.max_json_bytes

    @property
    def urls(self):
        """The server URLs, in the order given."""
        return list(self._http.urls)

    @property
    def bytes_received(self):
        """Bytes received in response bodies so far (chunks and JSON), for tests and progress reports."""
        return self._http.bytes_received

    def models(self):
        """Every model the token may read: dicts with ``name``, ``head``, ``tags`` (tag -> version id),
        ``versions`` (count) and ``bytes`` (both None for a model whose history the server cannot read whole)."""
        return _list(self._http.json("/v1/models", "listing models"), "models", "GET /v1/models")

    def versions(self, model):
        """The model's history from its head, newest first (first parents): dicts with ``id``, ``seq``,
        ``message``, ``author``, ``time``, ``snapshot``, ``parents`` and ``metadata``. At most MAX_VERSIONS are
        listed: a longer history is a FerryError."""
        if not isinstance(model, str) or not model:
            raise ValueError("model: expected a model name (a non-empty string like 'llama'), got %r" % (model,))
        _check_model_name(model, "model")
        out = []
        after = None
        seen = set()
        quoted = urllib.parse.quote(model, safe="/")
        while True:
            q = {"limit": str(_VERSIONS_PAGE)}
            if after:
                q["after"] = after
            path = "/v1/models/%s/versions?%s" % (quoted, urllib.parse.urlencode(q))
            what = "listing versions of model %r: GET %s" % (model, path)
            page = self._http.json(path, "listing versions of model %r" % model)
            versions = _list(page, "versions", "GET " + path)
            if len(versions) > _VERSIONS_PAGE:
                raise FerryError("%s: the page holds %d versions, more than the %d asked for" % (
                    what, len(versions), _VERSIONS_PAGE))
            for v in versions:
                vid = v.get("id") if isinstance(v, dict) else None
                if not isinstance(vid, str):
                    raise FerryError("%s: expected versions with a string id, got %s" % (what, _short(v)))
                # a first-parent history holds each version once: a server paging in a circle (or sending a page
                # again under a new cursor) would have this loop for ever
                if vid in seen:
                    raise FerryError("%s: version %s is listed again after %d versions; the server pages in a"
                                     " circle" % (what, _short(vid), len(out)))
                seen.add(vid)
                out.append(v)
            after = page.get("next")
            if not after or not versions:
                return out
            if after != versions[-1]["id"]:
                raise FerryError("%s: the next page is asked after %s, expected the page's last version %s" % (
                    what, _short(after), _short(versions[-1]["id"])))
            if len(out) >= MAX_VERSIONS:
                raise FerryError("%s: the history goes on past %d versions, more than the client lists (a server"
                                 " paging without end?)" % (what, MAX_VERSIONS))

    def model(self, ref):
        """One version of a model: ``"llama"`` (its head), ``"llama:prod"`` (a tag) or ``"llama@<version id or a
        prefix of at least 4 hex digits>"``, each optionally followed by ``~N``: the version N steps back in the
        model's log (``"llama~1"`` is the head's parent; ``~`` alone is ``~1``). The version is resolved once: the
        returned Model keeps reading it even if the tag moves."""
        if not isinstance(ref, str) or not ref:
            raise ValueError("model ref must be a non-empty string like 'llama:prod', got %r" % (ref,))
        if "//" in ref:
            raise ValueError("model ref %r: a path inside a version ('//file') is not a model; use"
                             " Model.files() or Model.download(include=...)" % ref)
        base, back = _steps_back(ref)
        if base != ref and not back:
            return self.model(base)
        if back:
            name, vid = self._step_back(ref, self.model(base), back)
            path = "/v1/versions/%s?%s" % (vid, urllib.parse.urlencode({"model": name}))
            doc = self._http.json(path, "reading version %r" % ref)
            return Model(self, name, ref, self._verified(doc, name, ref, vid))
        if "@" in ref:
            name, _, rev = ref.partition("@")
            _check_model_name(name, "model ref %r" % ref)
            rev = rev.lower()
            if not _HEX.match(rev):
                raise ValueError("model ref %r: expected a version id (hex) after '@', got %r" % (ref, rev))
            if len(rev) < 64:
                # resolved by the server as ferry show resolves it: the model's ref logs, then its whole history (a
                # version that ferry rm took off the head's line stays readable by its id until gc)
                path = "/v1/versions/%s?%s" % (urllib.parse.quote("@" + rev, safe=""),
                                               urllib.parse.urlencode({"model": name}))
                try:
                    doc = self._http.json(path, "reading version %r" % ref)
                except FerryHTTPError as e:
                    if e.code not in ("RevisionNotFound", "bad-revision"):
                        raise
                    raise FerryNotFoundError("model ref %r: %s" % (ref, e.server_message)) from e
                found = self._verified(doc, name, ref, None)
                if not found["id"].startswith(rev):
                    raise FerryIntegrityError("reading version %r: the server sent version %s" % (ref, found["id"]))
                return Model(self, name, ref, found)
        elif ":" in ref:
            name, _, rev = ref.partition(":")
            _check_model_name(name, "model ref %r" % ref)
            if not rev:
                raise ValueError("model ref %r: empty tag after ':'" % ref)
            if not _TAG_NAME.fullmatch(rev):
                raise ValueError("model ref %r: tag %r is not a tag name (%s)" % (ref, rev, _NAME_RULE))
            if rev in ("main", "HEAD") or len(rev) == 64 and all(c in "0123456789abcdefABCDEF" for c in rev):
                # the server reads these revisions as the head and as a version id; a tag of such a name (Ferry
                # allows one) is found among the model's tags
                return self._tagged(name, ref, rev)
        else:
            name, rev = ref, "main"
            _check_model_name(name, "model ref %r" % ref)
        path = "/v1/versions/%s?%s" % (urllib.parse.quote(rev, safe=""), urllib.parse.urlencode({"model": name}))
        doc = self._http.json(path, "reading version %r" % ref)
        return Model(self, name, ref, self._verified(doc, name, ref, rev if _HEX64.match(rev) else None))

    def _tagged(self, name, ref, tag):
        """The version tag ``tag`` of model ``name`` points at, looked up among the model's tags."""
        path = "/v1/models/%s/refs" % urllib.parse.quote(name, safe="/")
        refs = self._http.json(path, "reading the tags of model %r" % name)
        tags = refs.get("tags") if isinstance(refs, dict) else None
        if not isinstance(tags, dict):
            raise FerryError("reading the tags of model %r: GET %s: expected a JSON object with an object 'tags', got"
                             " %s" % (name, path, _short(refs)))
        vid = tags.get(tag)
        if vid is None:
            raise FerryNotFoundError("model ref %r: model %s has no tag %r (its tags: %s)" % (
                ref, name, tag, ", ".join(sorted(tags)) or "none"))
        if not isinstance(vid, str) or not _HEX64.match(vid):
            raise FerryIntegrityError("model ref %r: GET %s: tag %r points at %s, not a version id" % (
                ref, path, tag, _short(vid)))
        path = "/v1/versions/%s?%s" % (vid, urllib.parse.urlencode({"model": name}))
        doc = self._http.json(path, "reading version %r" % ref)
        return Model(self, name, ref, self._verified(doc, name, ref, vid))

    def _step_back(self, ref, start, back):
        """(model name, version id) ``back`` steps back from ``start`` along the history ``ferry log`` lists: first
        parents, within the model (a version's ``logLength`` counts its own log; without one, the model's name
        decides), each version object fetched by its id and checked."""
        vid, version = start.id, self._object(start.id, "version %s of %s" % (start.id, ref))
        left = version.get("logLength") or 0
        for step in range(back):
            parents = version.get("parents") or []
            parent = None
            if parents and left != 1:
                parent = self._object(parents[0], "version %s, parent of %s" % (parents[0], vid))
            if parent is None or left == 0 and parent.get("model") != version.get("model"):
                raise FerryNotFoundError("%s: there %s before %s in the history of %s, not %d" % (
                    ref, "is 1 version" if step == 1 else "are %d versions" % step, start.ref, start.name, back))
            left = left - 1 if left > 1 else (parent.get("logLength") or 0)
            vid, version = parents[0], parent
        return start.name, vid

    # -- versions and snapshots -----------------------------------------------------------------------------------

    def _verified(self, doc, name, ref, want_id):
        """The version description the server sent, checked against the version and snapshot objects it names (each
        fetched by its id and its SHA-256 checked): every field the client uses must be theirs, or this raises
        FerryIntegrityError naming the field. Returns the description rebuilt from those objects (the server's only
        contribution kept is which pack holds each small chunk, itself checked to be one of the version's packs)."""
        if not isinstance(doc, dict):
            raise FerryIntegrityError("reading version %r: expected a JSON object, got %s" % (ref, type(doc).__name__))
        vid = doc.get("id")
        if not isinstance(vid, str) or not _HEX64.match(vid):
            raise FerryIntegrityError("reading version %r: version id %r is not 64 lower-case hex digits" % (ref, vid))
        if want_id is not None and vid != want_id:
            raise FerryIntegrityError("reading version %r: the server sent version %s" % (ref, vid))
        where = "model %s version %s" % (name, vid)
        version = self._object(vid, "the version object of " + where)
        if not isinstance(version, dict) or version.get("format") != "ferry-version/1":
            raise FerryIntegrityError("%s: the version object is not a ferry-version/1 document" % where)
        sid = version.get("snapshot")
        if not isinstance(sid, str) or not _HEX64.match(sid):
            raise FerryIntegrityError("%s: the version object names snapshot %r" % (where, sid))
        snapshot = self._object(sid, "snapshot %s of %s" % (sid, where))
        if not isinstance(snapshot, dict) or snapshot.get("format") != "ferry-snapshot/1":
            raise FerryIntegrityError("%s: snapshot %s is not a ferry-snapshot/1 document" % (where, sid))
        try:
            out = {"id": vid}
            for k in ("model", "seq", "message", "author", "time", "snapshot", "parents", "metadata"):
                out[k] = version[k]
                _same(doc, k, out[k], where, "the version object")
            packs = set(version.get("packs") or ())
            sent = doc.get("files")
            files = [_snapshot_file(f) for f in snapshot["files"]]
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise FerryIntegrityError("%s: the version or snapshot object does not hold together (%s: %s)" % (
                where, type(e).__name__, e)) from None
        if not isinstance(sent, list) or len(sent) != len(files):
            raise FerryIntegrityError("%s: the server's description lists %s files, snapshot %s (SHA-256 checked)"
                                      " has %d" % (where, len(sent) if isinstance(sent, list) else "no", sid,
                                                   len(files)))
        for i, (s, f) in enumerate(zip(sent, files)):
            fwhere = "%s, file %r" % (where, f["path"])
            if not isinstance(s, dict):
                raise FerryIntegrityError("%s: the server's description has %r for file %d" % (fwhere, s, i))
            for k in ("path", "size", "sha256", "format", "dataStart", "metadata"):
                _same(s, k, f[k], fwhere, "snapshot " + sid)
            _same(s, "chunks", f["chunks"], fwhere, "snapshot " + sid, keys=("id", "offset", "length"))
            for c, sc in zip(f["chunks"], s["chunks"]):
                pack = sc.get("pack")
                if pack is not None and not (isinstance(pack, str) and pack in packs):
                    raise FerryIntegrityError("%s: chunk %s is said to be in pack %r, which is not one of the"
                                              " version's packs" % (fwhere, c["id"], pack))
                c["pack"] = pack
            _same(s, "tensors", f["tensors"], fwhere, "snapshot " + sid,
                  keys=("name", "dtype", "shape", "offset", "length", "chunks"))
        out["files"] = files
        return out

    def _object(self, oid, what):
        """A version or snapshot object, fetched by its id (``?decoded=1``: its canonical JSON), its SHA-256 checked
        against the id, parsed."""
        if not isinstance(oid, str) or not _HEX64.match(oid):
            raise FerryIntegrityError("%s: object id %r is not 64 lower-case hex digits" % (what, oid))
        with self._objects_lock:
            kept = self._objects.get(oid)
            if kept is not None:
                self._objects.move_to_end(oid)
        if kept is not None:
            # parsed again: callers get their own copy to change as they like
            return json.loads(kept)
        ctx = "reading " + what
        avoid = None
        for attempt in range(self._http.transfer_attempts):
            try:
                digest, body = self._object_once(oid, ctx, avoid)
                break
            except FerryTransferError as e:
                if attempt + 1 == self._http.transfer_attempts:
                    raise
                avoid = e.server
        actual = digest.hexdigest()
        if actual != oid:
            raise FerryIntegrityError("%s: the content's SHA-256 is %s, expected the object id %s; it is not used" % (
                ctx, actual, oid))
        try:
            text = body.decode("utf-8")
            parsed = json.loads(text)
        except (ValueError, RecursionError) as e:  # RecursionError: arrays or objects nested too deep to parse
            raise FerryIntegrityError("%s: object %s is not JSON (%s)" % (ctx, oid, e)) from None
        if len(body) <= OBJECT_CACHE_BYTES // 4:
            with self._objects_lock:
                if oid not in self._objects:
                    self._objects[oid] = text
                    self._objects_bytes += len(body)
                while self._objects_bytes > OBJECT_CACHE_BYTES:
                    _, old = self._objects.popitem(last=False)
                    self._objects_bytes -= len(old.encode("utf-8"))
        return parsed

    def _object_once(self, oid, ctx, avoid):
        digest = hashlib.sha256()
        resp = None
        try:
            with self._http.open("/v1/store/chunks/%s?decoded=1" % oid, context=ctx, avoid=avoid) as resp:
                try:
                    body = self._http.read_whole(resp, "object " + oid, digest)
                except FerryError as e:  # larger than the client reads
                    raise FerryConnectionError("%s: %s" % (ctx, e)) from None
        except (OSError, ValueError, http.client.HTTPException) as e:  # HTTPException: a cut body
            if isinstance(e, FerryError):
                raise
            raise FerryTransferError("%s: the transfer broke: %s" % (ctx, _why(e)),
                                     self._http.base_of(resp) if resp is not None else None) from None
        return digest, body

    # -- chunks ---------------------------------------------------------------------------------------------------

    def _chunk(self, chunk, lo, hi, sink, where):
        """Fetches a chunk's decoded content, checks its length and SHA-256 against its id, and hands the bytes in
        [lo, hi) of it to ``sink(position in [lo, hi), memoryview)`` as they arrive. The caller uses what the sink got
        only after this returns (it raises on any mismatch). Bytes that fail the checks are fetched once more (damaged
        on the way, they come whole the second time; the sink is written at the same positions again); a second
        failure is raised, with the first one named."""
        cid = chunk["id"]
        if not _HEX64.match(cid):
            raise FerryIntegrityError("%s: chunk id %r is not 64 lower-case hex digits" % (where, cid))
        first = None
        transfers = self._http.transfer_attempts
        avoid = None
        while True:
            try:
                self._chunk_once(chunk, lo, hi, sink, where, avoid)
                return
            except FerryTransferError as e:
                # a server killed or restarted mid-answer, a connection reset: asked again, of another server first
                transfers -= 1
                if transfers == 0:
                    raise
                avoid = e.server
            except FerryIntegrityError as e:
                if first is not None:
                    raise FerryIntegrityError("%s (and on the first read: %s)" % (e, first), e.server) from None
                first = e
                # read again from another server first: round-robin alone may pick the same one again when other
                # threads' requests moved the turn on
                avoid = e.server

    def _chunk_once(self, chunk, lo, hi, sink, where, avoid):
        cid = chunk["id"]
        length = chunk["length"]
        q = {"decoded": "1"}
        if chunk.get("pack"):
            q["pack"] = chunk["pack"]
        path = "/v1/store/chunks/%s?%s" % (cid, urllib.parse.urlencode(q))
        ctx = "reading chunk %s of %s" % (cid, where)
        digest = hashlib.sha256()
        pos = 0
        resp = None
        try:
            with self._http.open(path, context=ctx, avoid=avoid) as resp:
                while True:
                    piece = resp.read(min(PIECE, length + 1 - pos))
                    if not piece:
                        break
                    digest.update(piece)
                    n = len(piece)
                    self._http.count(n)
                    a, b = max(lo, pos), min(hi, pos + n)
                    if a < b:
                        sink(a - lo, memoryview(piece)[a - pos:b - pos])
                    pos += n
                    if pos > length:
                        break
                _check_whole(resp, pos)
        except (OSError, ValueError, http.client.HTTPException) as e:  # HTTPException: a cut body
            if isinstance(e, FerryError):
                raise
            raise FerryTransferError("%s: the transfer broke after %d of %d bytes: %s" % (
                ctx, pos, length, _why(e)), self._http.base_of(resp) if resp is not None else None) from None
        sender = self._http.base_of(resp)
        # which server sent the bytes, where the client has several: the one to look at
        by = " (sent by %s)" % sender if sender is not None and len(self._http.urls) > 1 else ""
        if pos != length:
            raise FerryIntegrityError("%s: expected %d bytes, the server%s sent %s" % (
                ctx, length, by, "more" if pos > length else pos), sender)
        actual = digest.hexdigest()
        if actual != cid:
            raise FerryIntegrityError("%s: the content's SHA-256 is %s, expected the chunk id %s; the bytes%s are not"
                                      " used" % (ctx, actual, cid, by), sender)


class Model:
    """One version of a model, as ``Client.model`` resolved it."""

    def __init__(self, client, name, ref, doc):
        self._client = client
        self.name = name
        self.ref = ref
        self.id = doc["id"]
        self.info = {k: v for k, v in doc.items() if k != "files"}
        self._files = doc["files"]
        # every tensor in file order, and by name (a name several files hold, as a diffusers pipeline's unet/ and
        # vae/ both hold conv_in.weight, maps to each of them)
        self._all = []
        self._tensors = collections.OrderedDict()
        paths = set()
        for f in self._files:
            _check_file(f, self._where(f))
            if f["path"] in paths:  # a snapshot lists each file once (Java's Snapshot refuses duplicates)
                raise FerryIntegrityError("%s: the version lists the file twice" % self._where(f))
            paths.add(f["path"])
            for t in f.get("tensors", ()):
                self._all.append((f, t))
                self._tensors.setdefault(t["name"], []).append((f, t))

    def __repr__(self):
        return "ferry.Model(%r, version=%s)" % (self.ref, self.id[:12])

    def _where(self, f):
        return "file %r of model %s version %s" % (f["path"], self.name, self.id)

    def files(self):
        """The version's files: dicts with ``path``, ``size``, ``sha256`` (of the whole file) and ``format``."""
        return [{k: f[k] for k in ("path", "size", "sha256", "format")} for f in self._files]

    def tensors(self):
        """Every tensor of the version's tensor files, in file order: Tensor(name, dtype, shape, file)."""
        return [Tensor(t["name"], t["dtype"], tuple(t["shape"]), f["path"]) for f, t in self._all]

    def _lookup(self, name, file=None):
        held = self._tensors.get(name, ())
        if file is not None:
            held = [(f, t) for f, t in held if f["path"] == file]
        if not held:
            raise FerryNotFoundError("model %s version %s has no tensor %r%s (%d tensors)" % (
                self.name, self.id, name, "" if file is None else " in file %r" % file, len(self._all)))
        if len(held) > 1:
            raise ValueError("model %s version %s: tensor %r is held by %d files (%s): name one with file=..." % (
                self.name, self.id, name, len(held), ", ".join(f["path"] for f, _ in held)))
        return held[0]

    def _read(self, f, offset, length):
        """Bytes [offset, offset + length) of file ``f``, every chunk they touch fetched whole and verified."""
        out = bytearray(length)
        end = offset + length
        for c in f["chunks"]:
            c0, c1 = c["offset"], c["offset"] + c["length"]
            if c1 <= offset or c0 >= end or length == 0:
                continue
            lo, hi = max(offset, c0) - c0, min(end, c1) - c0
            base = c0 + lo - offset

            def sink(pos, view, base=base):
                out[base + pos:base + pos + len(view)] = view

            self._client._chunk(c, lo, hi, sink, self._where(f))
        return out

    def tensor_bytes(self, name, file=None):
        """The raw little-endian bytes of a tensor (any dtype, including sub-byte ones), verified; a non-contiguous
        view of a PyTorch checkpoint gives its elements in row-major order. ``file`` picks the file when several hold
        the name (else that is a ValueError naming them)."""
        f, t = self._lookup(name, file)
        if _view_strides(f, t) is not None:
            return self._load(f, t).tobytes()
        return bytes(self._read(f, t["offset"], t["length"]))

    def tensor(self, name, as_float32=False, file=None):
        """A tensor as a numpy array of its shape. BF16 comes as uint16 (the same bits) and F8 kinds as uint8,
        unless ``as_float32``, which converts BF16, F16 and the F8 kinds to float32 exactly; ONNX's packed integers
        (I4, I2; U4, U2) come unpacked, one value per element, as int8 (uint8); other dtypes come natively. ``file``
        picks the file when several hold the name (else that is a ValueError naming them)."""
        f, t = self._lookup(name, file)
        return _maybe_float32(self._values(f, t), t["dtype"], as_float32)

    def _values(self, f, t):
        """The tensor as _load gives it; ONNX's packed integers unpacked into int8 or uint8."""
        if t["dtype"] not in _dtypes.PACKED_INTS:
            return self._load(f, t)
        bits = _dtypes.PACKED_INTS[t["dtype"]][0]
        if math.prod(t["shape"]) * bits != t["length"] * 8:
            raise FerryIntegrityError("tensor %r: %d bytes for shape %s of %s" % (
                t["name"], t["length"], list(t["shape"]), t["dtype"]))
        return _dtypes.unpack_ints(t["dtype"], self._read(f, t["offset"], t["length"]), tuple(t["shape"]))

    def rows(self, name, start, stop, as_float32=False, file=None):
        """Rows [start, stop) of a tensor (indices along its first dimension) as a numpy array, fetching only the
        chunks that hold them (big tensors are stored in row-range chunks; each chunk is verified whole). ``file``
        as for tensor()."""
        f, t = self._lookup(name, file)
        shape = tuple(t["shape"])
        if not shape:
            raise ValueError("tensor %r is a scalar: it has no rows" % name)
        try:  # any integer: int, numpy's integers (a shape's entries, np.arange's), anything with __index__
            if isinstance(start, (bool, np.bool_)) or isinstance(stop, (bool, np.bool_)):
                raise TypeError("a bool is not a row index")  # True has __index__, and rows(n, True, 2) is a typo
            start, stop = operator.index(start), operator.index(stop)
        except TypeError:
            raise ValueError("rows of tensor %r: expected integer row indices, got [%r, %r)" % (
                name, start, stop)) from None
        if not 0 <= start <= stop <= shape[0]:
            raise ValueError("rows of tensor %r: expected 0 <= start <= stop <= %d, got [%r, %r)" % (
                name, shape[0], start, stop))
        if t["dtype"] in _dtypes.PACKED_INTS:
            raise FerryError("tensor %r: dtype %s packs several values a byte, so rows are not read apart; use"
                             " tensor() (unpacked) or tensor_bytes()" % (name, t["dtype"]))
        if _dtypes.numpy_dtype(t["dtype"]) is None:
            raise FerryError("tensor %r: dtype %s has no numpy type, so no rows; use tensor_bytes()" % (
                name, t["dtype"]))
        return _maybe_float32(self._load(f, t, start, stop), t["dtype"], as_float32)

    def _load(self, f, t, start=None, stop=None):
        """The tensor (or its rows [start, stop)) as a writable array. A non-contiguous view of a PyTorch storage (a
        transposed, strided or expanded tensor, whose strides its file's metadata gives) is read from the bytes it
        spans and copied into row-major order."""
        shape = tuple(t["shape"])
        first = 0
        if start is not None:
            shape = (stop - start,) + shape[1:]
        dt = _numpy_dtype(t)
        strides = _view_strides(f, t)
        if strides is None:
            if start is not None:
                first = start * math.prod(shape[1:]) * dt.itemsize
            return self._array(t, self._read(f, t["offset"] + first, math.prod(shape) * dt.itemsize), shape)
        if start is not None:
            first = start * strides[0] * dt.itemsize
        data = self._read(f, t["offset"] + first, _span(shape, strides) * dt.itemsize)
        view = np.lib.stride_tricks.as_strided(np.frombuffer(data, dtype=dt), shape,
                                               [k * dt.itemsize for k in strides], writeable=False)
        return np.array(view, order="C")

    def _array(self, t, data, shape):
        dt = _numpy_dtype(t)
        if len(data) != math.prod(shape) * dt.itemsize:
            raise FerryIntegrityError("tensor %r: %d bytes for shape %s of %s" % (
                t["name"], len(data), list(shape), t["dtype"]))
        return np.frombuffer(data, dtype=dt).reshape(shape)  # a bytearray: the array is writable

    def state_dict(self, names=None, file=None):
        """Every tensor (or those ``names`` names: a list, or one string) as torch tensors, BF16 as torch.bfloat16,
        ONNX's packed integers unpacked into int8 or uint8 (as tensor() gives them), in file order, keyed by tensor
        name (a PyTorch checkpoint's non-string keys as their repr, ``"('enc', 0)"``, ``"0.5"``: the version does not
        record the keys' types, so they cannot be given back as torch.load gives them). Needs torch.
        ``file`` keeps to one file's tensors: a pipeline whose files share tensor names (a diffusers model's
        ``unet/`` and ``vae/``) is loaded one file at a time; without it such a name is a ValueError naming them."""
        try:
            import torch
        except ImportError:
            raise FerryError("state_dict() needs torch, which is not importable here; Model.tensor() gives numpy"
                             " arrays") from None
        out = collections.OrderedDict()
        if names is None:
            names = [t["name"] for f, t in self._all if file is None or f["path"] == file]
        elif isinstance(names, str):
            names = [names]  # one name, not its characters
        elif isinstance(names, (bytes, bytearray)) or not hasattr(names, "__iter__"):
            raise TypeError("names: expected tensor names (a list of strings, or one), got %r" % (names,))
        # tied weights (a checkpoint's lm_head.weight and embed_tokens.weight: one storage, two names) are fetched
        # once and share their memory, as torch.load gives them
        loaded = {}
        for n in names:
            f, t = self._lookup(n, file)
            key = (f["path"], t["offset"], t["length"], t["dtype"], tuple(t["shape"]), _view_strides(f, t))
            same = loaded.get(key)
            if same is None:
                out[n] = loaded[key] = _dtypes.torch_tensor(torch, t["dtype"], self._values(f, t), n)
            else:
                out[n] = same.view(same.shape)
        return out

    def download(self, dest, include=None, exclude=None):
        """Writes the version's files under directory ``dest``, chunk by chunk (memory stays about one network
        piece, whatever the file size).

        ``include`` and ``exclude`` are globs over file paths, a string or a list, matched as ``ferry pull
        --include/--exclude`` match them: the whole path, ``*`` and ``?`` within a directory, ``**`` across
        directories (``**/`` also matches none), ``[a-z]`` and ``[!a]`` one character of a set, ``\\`` before a
        literal character. So ``*.json`` takes top-level JSON files and ``**/*.json`` all of them. A file is fetched
        when it matches some include (or ``include`` is None) and no exclude; a selection that takes none of the
        version's files (``include=[]`` among them) raises FerryNotFoundError, as ``ferry pull`` refuses it.

        Resumable: a file already in ``dest`` with the right size and SHA-256 is kept; a file is written under a short
        temporary name next to it (``part_name``: ``.<16 hex>.ferry-part``, the same for the same file on every run)
        and renamed once complete and verified, and a leftover part file is reused up to its last verified chunk.
        Refuses paths that would leave ``dest`` and links inside it; a failure of the file system (a full disk, a name
        it refuses) is a FerryError naming the file. Returns a dict: ``fetched`` and ``kept`` (paths) and ``bytes``
        (bytes received).
        """
        selection = PathFilter(include, exclude)
        root = os.path.abspath(os.fsdecode(dest))  # a bytes path too, decoded as the file system names are
        # every path is checked before anything is written: a version with one unsafe path writes no file
        chosen = [(f, _safe_target(root, f["path"], self._where(f))) for f in self._files if selection.test(f["path"])]
        paths = set()
        for f, _ in chosen:
            if f["path"] in paths:
                # a snapshot holds each path once (a push cannot make one with a path twice; a store another client
                # wrote can): the second would be written over the first
                raise FerryError("%s: the version lists %r twice; nothing written" % (self._where(f), f["path"]))
            paths.add(f["path"])
        # a file whose name is another's temporary name (a part file left in a directory that was pushed) is written
        # after that other one, whose download would otherwise take it for its part file and rename it away
        parts = {posixpath.join(posixpath.dirname(f["path"]), part_name(f)) for f, _ in chosen}
        chosen.sort(key=lambda ft: ft[0]["path"] in parts)
        for f, _ in chosen:
            for at in [i for i, ch in enumerate(f["path"]) if ch == "/"]:
                if f["path"][:at] in paths:
                    # no tree holds both (a push cannot make such a snapshot; a store another client wrote can)
                    raise FerryError("%s: %r is both a file and a directory of the version (it holds this file);"
                                     " nothing written" % (self._where(f), f["path"][:at]))
        _check_name_clashes(root, [f["path"] for f, _ in chosen])
        if not chosen and not selection.takes_all():
            raise FerryNotFoundError("model %s version %s has no file that %s selects (%d files); Model.files() lists"
                                     " them" % (self.name, self.id, selection.describe(), len(self._files)))
        try:
            top = _Dir.open_root(root)
        except OSError as e:
            raise FerryError("download of model %s version %s: cannot make or open the destination %s: %s" % (
                self.name, self.id, root, e)) from e
        before = self._client.bytes_received
        result = {"fetched": [], "kept": [], "bytes": 0}
        try:
            for f, target in chosen:
                path = f["path"]
                where = self._where(f)
                d = None
                try:
                    # each directory on the way opened without following a link, below the one before (a directory
                    # swapped for a link while the download runs is not written through), and the file's names used
                    # only relative to its directory
                    d = top.walk(path.split("/")[:-1], where)
                    name = path.split("/")[-1]
                    fetched = not _complete(d, name, f) and self._download_file(f, d, name)
                except OSError as e:
                    raise FerryError("%s: the download failed in the file system: %s" % (
                        where, e if e.filename else "%s: %s" % (target, e))) from e
                finally:
                    if d is not None and d is not top:
                        d.close()
                result["fetched" if fetched else "kept"].append(path)
        finally:
            top.close()
        result["bytes"] = self._client.bytes_received - before
        return result

    def _download_file(self, f, d, name):
        where = self._where(f)
        part = part_name(f)
        fd = _open_part(d, part)
        if fd is None:  # another process or thread downloaded it meanwhile, holding the part file
            if _complete(d, name, f):
                return False
            fd = _open_part(d, part, wait=False)
        file_digest = hashlib.sha256()
        with os.fdopen(fd, "r+b") as out:
            have = os.fstat(out.fileno()).st_size
            good = 0
            for c in f["chunks"]:
                # a leftover part file: keep each chunk it already holds whole and right, from the start
                if good == c["offset"] and c["offset"] + c["length"] <= have and _region_is(out, c, file_digest):
                    good += c["length"]
                    continue
                break
            out.seek(good)
            out.truncate(good)
            for c in f["chunks"]:
                if c["offset"] < good:
                    continue
                start = out.tell()
                before = file_digest.copy()
                digest = [before]

                def sink(pos, view, out=out, start=start, before=before, digest=digest):
                    if pos == 0:  # the chunk starts, or starts again: a damaged read is fetched once more
                        digest[0] = before.copy()
                    out.seek(start + pos)
                    out.write(view)
                    digest[0].update(view)

                try:
                    self._client._chunk(c, 0, c["length"], sink, where)
                except BaseException:
                    out.truncate(start)  # never keep unverified bytes, even under the temporary name
                    raise
                file_digest = digest[0]
                out.seek(start + c["length"])
            out.flush()
            size = out.tell()
            if size != f["size"] or file_digest.hexdigest() != f["sha256"]:
                raise FerryIntegrityError("%s: the assembled file has %d bytes and SHA-256 %s, expected %d bytes and"
                                          " %s" % (where, size, file_digest.hexdigest(), f["size"], f["sha256"]))
            d.rename(part, name)  # still holding the lock: a waiting download then finds the file complete
        return True


def part_name(f):
    """The temporary name (in the file's own directory) that ``Model.download`` writes the file ``f`` (a dict of
    ``Model.files()``) under: ``.<16 hex digits>.ferry-part``, the hex from the file's path, size and SHA-256 (as
    ``ferry pull`` names its ``.ferry-<16 hex>.tmp`` files), so it is short whatever the file's name and the same file
    gets the same name on every run."""
    key = "%s\n%d\n%s" % (f["path"], f["size"], f["sha256"])
    return "." + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16] + PART_SUFFIX


# flock's errors on a file system that has no locks
_NO_LOCKS = {getattr(errno, n) for n in ("ENOLCK", "EOPNOTSUPP", "ENOTSUP", "ENOSYS") if hasattr(errno, n)}


def _open_part(d, part, wait=True):
    """A file descriptor of the part file, open for reading and writing and locked (``flock``, where the system has
    it) so that downloads of the same file into the same directory at once (the ranks of a distributed job, threads)
    take turns instead of truncating and renaming each other's file under them. A download that had to wait finds the
    part file renamed to its final name by the one before: then this returns None (with ``wait``) and the caller
    checks the file, or starts over on a new part file."""
    while True:
        if d.is_link(part):
            d.unlink(part)
        fd = d.open(part, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            # not a file of its own: a hard link to a file elsewhere (planted, or copied with cp -al) would be
            # truncated and written, a FIFO would take the bytes; its name is removed and a new part file started
            os.close(fd)
            try:
                d.unlink(part)
            except FileNotFoundError:
                pass
            continue
        if fcntl is None:
            return fd
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as e:
                if e.errno not in _NO_LOCKS:
                    raise
                return fd  # a file system without locks (some network ones): as without fcntl
            held = os.fstat(fd)
            try:
                now = d.lstat(part)
                same = (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            return fd
        os.close(fd)  # the one before renamed it (or removed it) while this waited
        if wait:
            return None


def _snapshot_file(f):
    """A file of a snapshot object (docs/storage-format.md, section 4) in the shape ``GET /v1/versions`` describes it:
    chunks with their offsets, tensors with their offsets in the file and the chunk ranges that hold them."""
    data_start = f["dataStart"]
    starts = [0]
    chunks = []
    for cid, length in f["chunks"]:
        chunks.append({"id": cid, "offset": starts[-1], "length": length, "pack": None})
        starts.append(starts[-1] + length)
    tensors = []
    for name, dtype, shape, begin, end in f["tensors"]:
        a, b = data_start + begin, data_start + end
        pieces = []
        i = max(0, bisect.bisect_right(starts, a) - 1)
        while i < len(chunks) and starts[i] < b:
            lo, hi = max(a, starts[i]) - starts[i], min(b, starts[i + 1]) - starts[i]
            if hi > lo:
                pieces.append({"chunk": i, "from": lo, "to": hi})
            i += 1
        tensors.append({"name": name, "dtype": dtype, "shape": list(shape), "offset": a, "length": b - a,
                        "chunks": pieces})
    return {"path": f["path"], "size": f["size"], "sha256": f["sha256"], "format": f["format"],
            "dataStart": data_start, "metadata": f["metadata"], "chunks": chunks, "tensors": tensors}


_MISSING = object()


def _check_model_name(name, what):
    """Raises ValueError unless ``name`` is a model name Ferry takes (before any request is built of it)."""
    if not _MODEL_NAME.fullmatch(name):
        raise ValueError("%s: model name %r is not one (%s; at most one 'org/' prefix of the same form)" % (
            what, name, _NAME_RULE))


def _steps_back(ref):
    """``(ref without its ~N suffix, N)``; N is 0 without one. ``~`` alone is 1 and steps add up (``~2~1`` is 3)."""
    at = ref.find("~")
    if at < 0:
        return ref, 0
    n = 0
    for step in ref[at + 1:].split("~"):
        if step == "":
            n += 1
        elif len(step) <= 7 and all("0" <= c <= "9" for c in step):
            n += int(step)
        else:
            n = -1
            break
    if not 0 <= n <= 1000000:
        raise ValueError("model ref %r: %r is not a step back in history (~ or ~N, N from 0 to 1000000)" % (
            ref, ref[at:]))
    return ref[:at], n


def _same(sent, key, expected, where, source, keys=None):
    """Raises FerryIntegrityError unless ``sent[key]`` (from the server's description) is ``expected`` (from an object
    whose SHA-256 was checked). With ``keys``, both are lists of dicts compared element by element on those keys."""
    got = sent.get(key, _MISSING) if isinstance(sent, dict) else _MISSING

    def fail(what, g, e):
        raise FerryIntegrityError("%s: %s: the server's version description says %s, %s (SHA-256 checked) says %s;"
                                  " nothing of it is used" % (where, what, "nothing" if g is _MISSING else _short(g),
                                                              source, _short(e)))

    if keys is None:
        if got is _MISSING or not _eq(got, expected):
            fail(key, got, expected)
        return
    if not isinstance(got, list) or len(got) != len(expected):
        fail("number of %s" % key, len(got) if isinstance(got, list) else got, len(expected))
    for i, (g, e) in enumerate(zip(got, expected)):
        label = "tensor %r" % e["name"] if "name" in e else "chunk %d (%s)" % (i, e.get("id"))
        for k in keys:
            gv = g.get(k, _MISSING) if isinstance(g, dict) else _MISSING
            if gv is _MISSING or not _eq(gv, e[k]):
                fail("%s: %s" % (label, k), gv, e[k])


def _eq(a, b):
    """JSON equality: true is not 1, and 1.0 is not 1."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_eq(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b))
    return a == b


def _list(doc, key, what):
    """``doc[key]``, a list, from a server's JSON answer; a FerryError saying what came otherwise (a URL that is not
    a Ferry server's, say)."""
    got = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(got, list):
        raise FerryError("%s: expected a JSON object with a list %r, got %s" % (what, key, _short(doc)))
    return got


def _check_whole(resp, got):
    """Raises http.client.IncompleteRead when the answer ended before its Content-Length (read(n) of http.client
    returns b"" at such an end instead of raising, as it does in chunked encoding): the transfer broke off."""
    declared = declared_length(resp)
    if declared is not None and got < declared:
        raise http.client.IncompleteRead(b"", declared - got)


def _why(e):
    """An exception's type and message (a timeout's message is only "timed out")."""
    return "%s: %s" % (type(e).__name__, e)


def _short(v):
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 200 else text[:200] + "..."


def _check_file(f, where):
    """The server's description of a file must hold together before anything is fetched or allocated from it: chunks
    that tile [0, size) in order, tensors inside the file whose byte length matches dtype and shape. Every field is
    of its JSON type first (a string where a name is, an integer from 0 to 2^63 - 1 where a size, offset or dimension
    is), so that what a hostile server's self-consistent objects hold is refused here, not met later as a TypeError
    or an OverflowError."""
    if not isinstance(f["path"], str) or not _count(f["size"]):
        raise FerryIntegrityError("%s: expected a path that is a string and a size from 0 to 2^63 - 1, got size %r" % (
            where, f["size"]))
    if not isinstance(f.get("metadata", {}), dict):
        raise FerryIntegrityError("%s: metadata %s is not an object" % (where, _short(f["metadata"])))
    for c in f["chunks"]:
        if not isinstance(c.get("id"), str) or not _count(c["offset"]) or not _count(c["length"]):
            raise FerryIntegrityError("%s: chunk %r at offset %r with length %r: expected a string id and integers"
                                      " from 0 to 2^63 - 1" % (where, c.get("id"), c["offset"], c["length"]))
    for t in f.get("tensors", ()):
        if (not isinstance(t["name"], str) or not isinstance(t["dtype"], str) or not isinstance(t["shape"], list)
                or not all(_count(d) for d in t["shape"]) or not _count(t["offset"]) or not _count(t["length"])):
            raise FerryIntegrityError("%s: tensor %r of dtype %r, shape %r at [%r, +%r): expected a name and a dtype"
                                      " that are strings, and a shape, offset and length of integers from 0 to"
                                      " 2^63 - 1" % (where, t["name"], t["dtype"], _short(t["shape"]), t["offset"],
                                                     t["length"]))
    pos = 0
    for c in f["chunks"]:
        if c["offset"] != pos or c["length"] <= 0:
            raise FerryIntegrityError("%s: chunk %s at offset %r with length %r, expected offset %d and a positive"
                                      " length" % (where, c.get("id"), c["offset"], c["length"], pos))
        if c["length"] > MAX_CHUNK:
            raise FerryIntegrityError("%s: chunk %s at offset %d is %d bytes long, more than a Ferry chunk holds (%d)"
                                      % (where, c["id"], pos, c["length"], MAX_CHUNK))
        pos += c["length"]
    if pos != f["size"]:
        raise FerryIntegrityError("%s: chunks add up to %d bytes, the file has %r" % (where, pos, f["size"]))
    # chunks of more than 64 MiB (header runs) are few; a tensor may hold bytes of none of them
    big = [c for c in f["chunks"] if c["length"] > MAX_TENSOR_CHUNK]
    big_starts = [c["offset"] for c in big]
    for t in f.get("tensors", ()):
        shape = t["shape"]
        if any((not isinstance(d, int)) or d < 0 for d in shape):
            raise FerryIntegrityError("%s: tensor %r has shape %r" % (where, t["name"], shape))
        if not (0 <= t["offset"] and 0 <= t["length"] and t["offset"] + t["length"] <= f["size"]):
            raise FerryIntegrityError("%s: tensor %r at [%r, +%r) is not inside the file of %d bytes" % (
                where, t["name"], t["offset"], t["length"], f["size"]))
        # the last big chunk starting before the tensor's end is the one it would reach into (they do not overlap)
        i = bisect.bisect_left(big_starts, t["offset"] + t["length"]) - 1
        if t["length"] and i >= 0 and big[i]["offset"] + big[i]["length"] > t["offset"]:
            c = big[i]
            raise FerryIntegrityError("%s: chunk %s at offset %d is %d bytes long and holds bytes of tensor %r; Ferry"
                                      " cuts tensors into chunks of at most %d bytes (64 MiB)" % (
                                          where, c["id"], c["offset"], c["length"], t["name"], MAX_TENSOR_CHUNK))
        if _unrecorded_view(f, t):
            continue  # its length is the span of strides the file's metadata could not hold
        dt = _dtypes.numpy_dtype(t["dtype"])
        strides = _view_strides(f, t, where)
        if strides is not None and dt is None:
            raise FerryIntegrityError("%s: tensor %r of %s has strides %r" % (where, t["name"], t["dtype"], strides))
        # a non-contiguous view spans the bytes from its first element to its last
        elements = math.prod(shape) if strides is None else _span(shape, strides)
        if dt is not None and elements * dt.itemsize != t["length"]:
            raise FerryIntegrityError("%s: tensor %r of %s %r%s has %d bytes, expected %d" % (
                where, t["name"], t["dtype"], shape, "" if strides is None else " (strides %r)" % (list(strides),),
                t["length"], elements * dt.itemsize))


def _count(v):
    """Whether ``v`` is a JSON integer (not a bool, not a float) that fits a signed 64-bit one and is not negative."""
    return type(v) is int and 0 <= v < 1 << 63


def _numpy_dtype(t):
    dt = _dtypes.numpy_dtype(t["dtype"])
    if dt is None:
        raise FerryError("tensor %r: dtype %s has no numpy type; use Model.tensor_bytes()" % (t["name"], t["dtype"]))
    return dt


def _view_strides(f, t, where=None):
    """The strides, in elements, of a tensor of a PyTorch checkpoint that is a non-contiguous view of its storage
    (file metadata ``strides.<name>``: ``[1,4]``), or None for a tensor stored row-major. Only a checkpoint's
    (format ``torch``) metadata is read so: a safetensors file's ``__metadata__`` is anybody's text."""
    text = (f.get("metadata") or {}).get("strides." + t["name"])
    if _unrecorded_view(f, t):
        raise FerryError("tensor %r of %s may be a non-contiguous view: the checkpoint has more views than its metadata"
                         " records strides for (views.unrecorded), and this one's are not recorded, so it cannot be"
                         " read; pull the version with --as safetensors to get it contiguous" % (t["name"], f["path"]))
    if text is None or f.get("format") != "torch":
        return None
    try:
        strides = json.loads(text)
    except (ValueError, RecursionError):
        strides = None
    if (not isinstance(strides, list) or len(strides) != len(t["shape"])
            or any(type(k) is not int or k < 0 for k in strides)):
        raise FerryIntegrityError("%s: tensor %r of shape %r has strides %r" % (
            where or "file %r" % f["path"], t["name"], t["shape"], text))
    return tuple(strides)


def _unrecorded_view(f, t):
    """Whether a tensor of a PyTorch checkpoint may be a view whose strides its file's metadata could not hold: one
    without ``strides.<name>``, named from ``views.unrecorded.from`` on (names compared as Java compares them, by
    UTF-16 code units)."""
    md = f.get("metadata") or {}
    start = md.get("views.unrecorded.from")
    if f.get("format") != "torch" or not isinstance(start, str) or ("strides." + t["name"]) in md:
        return False
    return t["name"].encode("utf-16-be", "surrogatepass") >= start.encode("utf-16-be", "surrogatepass")


def _span(shape, strides):
    """Elements from the first to the last one a view of that shape and strides touches (0 when it is empty)."""
    if math.prod(shape) == 0:
        return 0
    return 1 + sum((d - 1) * k for d, k in zip(shape, strides))


def _maybe_float32(arr, dtype, as_float32):
    if not as_float32:
        return arr
    if dtype == "BF16":
        return _dtypes.bf16_to_float32(arr)
    if dtype == "F16":
        return arr.astype(np.float32)
    if dtype in _dtypes.F8_TABLES:
        return _dtypes.f8_to_float32(dtype, arr)
    return arr


def _region_is(out, c, file_digest):
    """Whether the part file holds chunk ``c`` at its offset (SHA-256 of those bytes = the chunk id); feeds the
    bytes to the running file digest when it does."""
    out.seek(c["offset"])
    h = hashlib.sha256()
    left = c["length"]
    while left:
        b = out.read(min(PIECE, left))
        if not b:
            return False
        h.update(b)
        left -= len(b)
    if h.hexdigest() != c["id"]:
        return False
    out.seek(c["offset"])
    left = c["length"]
    while left:  # read twice rather than hold a whole chunk: memory stays one piece
        b = out.read(min(PIECE, left))
        file_digest.update(b)
        left -= len(b)
    return True


def _complete(d, name, f):
    """Whether ``name`` in directory ``d`` is a regular file (not a link) with the size and SHA-256 the version
    lists."""
    try:
        if not stat.S_ISREG(d.lstat(name).st_mode):  # a device or a FIFO is not opened at all
            return False
        fd = d.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as e:
        if e.errno == errno.ELOOP:  # a link: replaced by the file, never read through
            return False
        raise
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size != f["size"]:
            return False
        h = hashlib.sha256()
        for b in iter(lambda: fh.read(PIECE), b""):
            h.update(b)
    return h.hexdigest() == f["sha256"]


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted at a file's name does not block the check
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)

#: Whether the system opens files relative to a directory's descriptor (POSIX's openat, mkdirat, renameat; not
#: Windows). Where it does not, a download checks the directories on a file's way for links and then writes by path,
#: which a local user who can write into the destination could race.
DIR_FD = bool(_NOFOLLOW and _DIRECTORY) and all(
    fn in os.supports_dir_fd for fn in (os.open, os.mkdir, os.rename, os.unlink, os.stat))


class _Dir:
    """A directory of a download's destination: its descriptor where the system has ``dir_fd`` (every name below it is
    then opened relative to it, without following links), else its path."""

    def __init__(self, fd, path):
        self.fd = fd
        self.path = path

    @staticmethod
    def open_root(root):
        """The destination (made if missing), which may itself be a link: it is the caller's choice."""
        os.makedirs(root, exist_ok=True)
        return _Dir(os.open(root, os.O_RDONLY | _DIRECTORY) if DIR_FD else None, root)

    def walk(self, names, where):
        """The directory ``names`` below this one, each made if missing; a link on the way is a FerryError."""
        cur = self
        try:
            for n in names:
                child = cur._child(n, where)
                if cur is not self:
                    cur.close()
                cur = child
        except BaseException:
            if cur is not self:
                cur.close()
            raise
        return cur

    def _child(self, name, where):
        path = os.path.join(self.path, name)
        if self.fd is None:
            if os.path.islink(path):
                raise FerryError("%s: %s is a link in the destination; refusing to write through it" % (where, path))
            os.makedirs(path, exist_ok=True)
            child = _Dir(None, path)
        else:
            try:
                os.mkdir(name, 0o777, dir_fd=self.fd)
            except FileExistsError:
                pass
            try:
                fd = os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=self.fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR) and self.is_link(name):
                    raise FerryError("%s: %s is a link in the destination; refusing to write through it" % (
                        where, path)) from None
                raise
            child = _Dir(fd, path)
        return child

    def open(self, name, flags, mode=0o777):
        if self.fd is None:
            return os.open(os.path.join(self.path, name), flags, mode)
        return os.open(name, flags, mode, dir_fd=self.fd)

    def lstat(self, name):
        if self.fd is None:
            return os.lstat(os.path.join(self.path, name))
        return os.stat(name, dir_fd=self.fd, follow_symlinks=False)

    def is_link(self, name):
        try:
            return stat.S_ISLNK(self.lstat(name).st_mode)
        except FileNotFoundError:
            return False

    def unlink(self, name):
        if self.fd is None:
            os.unlink(os.path.join(self.path, name))
        else:
            os.unlink(name, dir_fd=self.fd)

    def rename(self, src, dst):
        """Renames ``src`` to ``dst`` in this directory, replacing ``dst`` (a link there is replaced, not followed)."""
        if self.fd is None:
            os.replace(os.path.join(self.path, src), os.path.join(self.path, dst))
        else:
            os.rename(src, dst, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _name_key(path, folds_case=True, normalizes=True):
    """``path`` as a file system that compares names without case and/or Unicode normalization sees it."""
    if normalizes:
        path = unicodedata.normalize("NFC", path)
    return path.casefold() if folds_case else path


def _name_rules(d):
    """(folds case, normalizes) of the file system under the existing directory ``d``: a probe file, made and
    removed there, looked up spelled otherwise."""
    def two_spellings(written, asked):
        try:
            fd, made = tempfile.mkstemp(prefix=".ferry-name-probe-", suffix="-" + written, dir=d)
        except (OSError, UnicodeError):
            return False  # a name this file system cannot hold: nothing to confuse
        os.close(fd)
        try:
            return os.path.lexists(made[:-len(written)] + asked)
        finally:
            os.unlink(made)
    return two_spellings("a", "A"), two_spellings("\u00e9", "e\u0301")


def _check_name_clashes(root, paths):
    """Refuses, before anything is written, two paths (or a file and a directory) that the file system of ``root``
    takes for one name (``A.bin`` and ``a.bin`` on exFAT, FAT, NTFS, macOS's default or a casefold directory): the
    second would be written over the first. Paths no such file system confuses cost nothing."""
    seen = {}
    suspects = []
    for path in paths:
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            other = seen.setdefault(_name_key(p), p)
            if other != p:
                suspects.append((other, p))
    rules = {}
    files = set(paths)
    for a, b in suspects:
        common = []
        for x, y in zip(a.split("/"), b.split("/")):
            if x != y:
                break
            common.append(x)
        d = os.path.join(root, *common)
        while not os.path.isdir(d) and os.path.dirname(d) != d:
            d = os.path.dirname(d)
        if d not in rules:
            rules[d] = _name_rules(d)
        folds, normalizes = rules[d]
        if _name_key(a, folds, normalizes) == _name_key(b, folds, normalizes):
            raise FerryError("%s: the version's paths %r and %r would be one %s there: its file system does not tell"
                             " apart names that differ only in %s; nothing written: download into a directory on a"
                             " file system that does, or leave one of them out (exclude)" % (
                                 root, a, b, "file" if a in files and b in files else "entry",
                                 "case" if folds else "Unicode normalization"))


def _safe_target(root, path, where):
    """The file's place under root, refusing what ``ferry pull`` refuses (Java: io.ferry.version.SafePaths): paths
    that could leave root (absolute, '..', drive letters, backslashes), NUL and other control characters, '.git'
    components (in every spelling git refuses: a file there, in a clone, could run as a git hook or set a command in
    git's config), paths that are not UTF-8 text; and directories on the way that are links."""
    why = _path_defect(path)
    if why is not None:
        raise FerryError("%s: unsafe path %r: %s (expected a relative path without '.', '..', '.git', '\\\\' or"
                         " control characters); nothing written" % (where, path, why))
    parts = path.split("/")
    cur = root
    for p in parts[:-1]:
        cur = os.path.join(cur, p)
        if os.path.islink(cur):
            raise FerryError("%s: %s is a link in the destination; refusing to write through it" % (where, cur))
    return os.path.join(root, *parts)


# characters HFS+ ignores in names: zero-width and direction marks, U+FEFF
_IGNORED_IN_NAMES = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


def _path_defect(path):
    """Why a snapshot path is unsafe to write (the rules of SafePaths), or None."""
    if not isinstance(path, str) or not path:
        return "not a non-empty string"
    if len(path) > 4096:
        return "longer than 4096 characters"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "not UTF-8 text (a lone surrogate)"
    if path.startswith("/"):
        return "absolute"
    if len(path) >= 2 and path[1] == ":" and path[0].isalpha():
        return "starts with a drive letter"
    if any(c < " " or c == "\x7f" for c in path):
        return "contains NUL or another control character"
    if "\\" in path:
        return "contains a backslash"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return "has an empty, '.' or '..' component"
        name = _IGNORED_IN_NAMES.sub("", part).rstrip(". ").lower()
        if name in (".git", "git~1"):
            return "has a %r component (git's own directory, where a file could run as a git hook)" % part
    return None
