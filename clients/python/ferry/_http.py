"""HTTP transport over the standard library: bearer token, several servers tried in turn, JSON errors."""

import http.client
import io
import json
import os
import re
import select
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref

from .errors import FerryConnectionError, FerryError, FerryHTTPError, FerryTransferError

#: Statuses after which the same request is tried on the next server (when the client has several).
RETRY_STATUSES = (502, 503, 504)

#: The most a JSON answer, or a version or snapshot object, may hold by default (ferry.Client's ``max_json_bytes``): a
#: server sending more is refused, not buffered and parsed. Ferry writes snapshots of at most 128 MiB and versions of
#: at most 64 MiB; a version's description repeats its snapshot with chunk offsets and tensor chunk ranges added, about
#: twice its size.
MAX_JSON_BYTES = 512 << 20

#: Seconds a request may take as a whole, by default (ferry.Client's ``deadline``).
DEADLINE = 600.0

#: Bytes read at a time from a JSON answer.
_PIECE = 1 << 20

#: Connections kept open for later requests, for each server (and proxy) a client sends requests to.
POOL_SIZE = 8

#: A store id as a server reports it (GET /v1/store): Ferry's are 32 lower-case hex digits.
_STORE_ID = re.compile(r"^[0-9a-f]{1,128}$")

#: Rounds over the servers while they all answer 503 (busy).
BUSY_ATTEMPTS = 4


def _split_urls(url):
    if isinstance(url, str):
        parts = [u.strip() for u in url.split(",")]
    else:
        parts = [str(u).strip() for u in url]
    parts = [p.rstrip("/") for p in parts if p]
    if not parts:
        raise ValueError("ferry.Client needs at least one server URL, got %r" % (url,))
    for p in parts:
        u = urllib.parse.urlsplit(p)
        if u.scheme not in ("http", "https"):
            raise ValueError("server URL %r: expected http:// or https://, got scheme %r" % (p, u.scheme))
        # as Java's HTTP store client takes a server (HttpSettings): requests are the URL followed by their path, so
        # a query or a fragment would swallow it, and credentials would be printed with the URL in every message
        if "@" in u.netloc:
            raise ValueError("server URL of host %r: credentials do not go in the URL (not shown); give a token with"
                             " token= or FERRY_TOKEN" % u.hostname)
        if not u.hostname:
            raise ValueError("server URL %r has no host (expected http(s)://host[:port][/path])" % p)
        if "?" in p or "#" in p:
            raise ValueError("server URL %r: expected no query or fragment (http(s)://host[:port][/path])" % p)
        try:
            u.port
        except ValueError as e:
            raise ValueError("server URL %r: %s" % (p, e)) from None
    # as Java's HTTP store client: one server listed twice would take two turns of the round-robin and be "another
    # server" to retry on; the scheme is compared without its case, the rest as written
    seen = set()
    for p in parts:
        scheme, rest = p.split(":", 1)
        key = scheme.lower() + ":" + rest
        if key in seen:
            raise ValueError("server %s is listed twice" % p)
        seen.add(key)
    return parts


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Ferry's API never redirects; following one would hand the bearer token to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class _DeadlineSocket:
    """A connected socket whose every receive waits at most until the request's deadline (and at most ``timeout`` at a
    time): a server that sends a byte now and then, each within the timeout, cannot hold a request past its deadline
    (http.client reads a status line, a header or a body of known length in a loop of receives, each of which would
    otherwise wait the whole timeout again)."""

    def __init__(self, sock, timeout, deadline):
        self._sock = sock
        self._timeout = timeout
        self._seconds, self._end, self._what = deadline

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def makefile(self, mode="r", buffering=None, **kw):
        # http.client reads the answer through this buffered reader only; the raw socket file keeps the socket open
        # after the connection closes its own reference, as socket.makefile does
        return io.BufferedReader(_DeadlineReader(self, self._sock.makefile("rb", buffering=0)))

    def wait(self):
        """Sets the socket's timeout for the next receive: the rest of the deadline, at most ``timeout``."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise self.expired()
        self._sock.settimeout(left if self._timeout is None else min(left, self._timeout))

    def expired(self):
        return TimeoutError("%s: the answer was not complete within the client's deadline of %g s (ferry.Client's"
                            " deadline)" % (self._what, self._seconds))


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock, raw):
        self._sock = sock
        self._raw = raw

    def readable(self):
        return True

    def readinto(self, b):
        self._sock.wait()
        try:
            return self._raw.readinto(b)
        except (socket.timeout, TimeoutError):  # one class from Python 3.10 on, two before
            if time.monotonic() >= self._sock._end:
                raise self._sock.expired() from None
            raise

    def close(self):
        self._raw.close()
        super().close()


class _PooledResponse(http.client.HTTPResponse):
    """An answer whose connection goes back to its client's pool when the answer is closed after its last byte was
    read (and the server keeps the connection open); an answer closed before its end closes its connection."""

    _ferry_release = None

    def close(self):
        whole = self.fp is None  # http.client lets go of the socket's reader once the body is read to its end
        super().close()
        release, self._ferry_release = self._ferry_release, None
        if release is not None:
            release(whole)


def _deadline_connection(base):
    class Connection(base):
        """An HTTP(S) connection whose socket keeps to a request's deadline."""

        response_class = _PooledResponse

        def __init__(self, *args, ferry_deadline=None, **kw):
            super().__init__(*args, **kw)
            self._ferry_deadline = ferry_deadline

        def connect(self):
            super().connect()
            if self._ferry_deadline is not None:
                self.sock = _DeadlineSocket(self.sock, self.timeout, self._ferry_deadline)

        def reuse(self, timeout, deadline):
            """Readies a connection kept open after an earlier answer for the next request: its timeout and deadline
            (the deadline counts from now, as for a new connection)."""
            raw = self.sock._sock if isinstance(self.sock, _DeadlineSocket) else self.sock
            self.timeout = timeout
            self._ferry_deadline = deadline
            raw.settimeout(timeout)
            self.sock = raw if deadline is None else _DeadlineSocket(raw, timeout, deadline)

        def _tunnel(self):
            # a proxy's answer to CONNECT (HTTPS_PROXY) is read under the deadline too: a proxy that sends a byte now
            # and then would otherwise hold the request for ever; TLS then starts on the plain socket
            if self._ferry_deadline is None:
                return super()._tunnel()
            raw = self.sock
            self.sock = _DeadlineSocket(raw, self.timeout, self._ferry_deadline)
            try:
                return super()._tunnel()
            finally:
                if self.sock is not None:  # None when the proxy refused and the connection was closed
                    self.sock = raw

    return Connection


_HTTPConnection = _deadline_connection(http.client.HTTPConnection)
_HTTPSConnection = _deadline_connection(http.client.HTTPSConnection)


_POOLS = weakref.WeakSet()


def _after_fork_in_child():
    """A fork copies a lock another thread held at that moment, held for ever in the child: each pool takes a new
    one (the child has one thread, which holds none)."""
    for pool in list(_POOLS):
        pool._lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Pool:
    """A client's idle connections, kept open for its next requests (at most POOL_SIZE for each server, or proxy and
    server, they go to); thread-safe: a connection is used by one request at a time.

    The lock is re-entrant: an answer read to its end but never closed gives its connection back when the collector
    finalizes it, which may happen at any allocation, also one made while this thread holds the lock."""

    def __init__(self):
        self._idle = {}
        self._lock = threading.RLock()
        self._pid = os.getpid()
        _POOLS.add(self)

    def _forked(self):
        """Lets go, under the lock, of the connections of the process this one was forked from (a data loader's
        worker, a rank): both would send requests on them and read each other's answers. Closing them here closes
        this process's copy of each socket only."""
        if self._pid != os.getpid():
            idle, self._idle = self._idle, {}  # a connection given back while these close goes to the new table
            self._pid = os.getpid()
            for conns in idle.values():
                for conn in conns:
                    conn.close()

    def take(self, key):
        while True:
            with self._lock:
                self._forked()
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None or not _readable(conn.sock):
                return conn
            # an idle connection has nothing to read unless the server closed it or sent bytes past its last answer
            conn.close()

    def give(self, key, conn):
        with self._lock:
            self._forked()
            idle = self._idle.setdefault(key, [])
            if len(idle) < POOL_SIZE:
                idle.append(conn)
                return
        conn.close()

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


def _readable(sock):
    """Whether a socket has bytes (or its end) to read now; a socket already closed has its end. (The collector
    finalizes an answer never closed together with its connection's socket: the answer gives the connection back, its
    socket closed.)"""
    if sock.fileno() < 0:
        return True
    if hasattr(select, "poll"):  # select.select takes no file descriptor past 1023
        poll = select.poll()
        poll.register(sock, select.POLLIN)
        return bool(poll.poll(0))
    return bool(select.select([sock], [], [], 0)[0])


#: What sending on, or reading from, a kept connection the server closed meanwhile raises: a reset or a broken pipe
#: (ConnectionError), and over TLS also these (a write on a TLS connection the server reset raises SSLEOFError).
_CLOSED = (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError)


def _pooled_open(handler, pool, http_class, req, **conn_args):
    """What urllib's do_open does, over a connection kept open from an earlier request when the pool holds one (to
    the same server, through the same proxy). A kept connection that the server closed meanwhile (an idle connection
    timed out, a server restarted) fails before any byte of the answer; the request, a GET, is then sent once more, on
    a new connection and within the same deadline."""
    host = req.host
    if not host:
        raise urllib.error.URLError("no host given")
    headers = dict(req.unredirected_hdrs)
    headers.update({k: v for k, v in req.headers.items() if k not in headers})
    headers = {name.title(): val for name, val in headers.items()}
    tunnel_headers = {}
    if req._tunnel_host and "Proxy-Authorization" in headers:
        # Proxy-Authorization is for the proxy, not the server
        tunnel_headers["Proxy-Authorization"] = headers.pop("Proxy-Authorization")
    # a connection carries requests for one server only (through an HTTP proxy too), so the token goes nowhere else
    key = (req.type, host, req._tunnel_host, urllib.parse.urlsplit(req.full_url).netloc,
           tuple(sorted(tunnel_headers.items())))
    deadline = getattr(req, "ferry_deadline", None)
    retried = False
    while True:
        h = None if retried else pool.take(key)
        kept = h is not None
        if kept:
            h.reuse(req.timeout, deadline)
        else:
            h = http_class(host, timeout=req.timeout, ferry_deadline=deadline, **conn_args)
            h.set_debuglevel(handler._debuglevel)
            if req._tunnel_host:
                h.set_tunnel(req._tunnel_host, headers=tunnel_headers)
        try:
            try:
                h.request(req.get_method(), req.selector, req.data, headers,
                          encode_chunked=req.has_header("Transfer-encoding"))
            except OSError as err:
                if kept and isinstance(err, _CLOSED) and req.get_method() == "GET":
                    raise
                raise urllib.error.URLError(err)
            r = h.getresponse()
        except _CLOSED:  # RemoteDisconnected, a reset, a broken pipe, a TLS connection closed
            h.close()
            if kept and req.get_method() == "GET":
                retried = True
                continue
            raise
        except BaseException:
            h.close()
            raise
        break
    if not r.will_close:
        def release(whole):
            if whole and h.sock is not None:
                pool.give(key, h)
            else:
                h.close()

        r._ferry_release = release
    r.url = req.get_full_url()
    r.msg = r.reason
    return r


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, pool):
        super().__init__()
        self._pool = pool

    def http_open(self, req):
        return _pooled_open(self, self._pool, _HTTPConnection, req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, pool):
        super().__init__()
        self._pool = pool

    def https_open(self, req):
        kw = {"context": self._context}
        if getattr(self, "_check_hostname", None) is not None:  # Python before 3.12
            kw["check_hostname"] = self._check_hostname
        return _pooled_open(self, self._pool, _HTTPSConnection, req, **kw)


class Transport:
    """Sends requests to one of several servers, round-robin; a server that cannot be reached or answers 502/503/504
    is skipped for that request and the next one is tried, each server once. An answer that breaks off after its
    headers is the caller's to try again (``transfer_attempts`` in all), on another server first (``avoid``)."""

    def __init__(self, url, token, timeout, deadline=None, max_json_bytes=MAX_JSON_BYTES, connect_timeout=None):
        self.urls = _split_urls(url)
        self._token = token
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.deadline = deadline
        self.max_json_bytes = max_json_bytes
        self._next = 0
        self._lock = threading.Lock()
        self.bytes_received = 0
        self.requests = 0
        # proxies (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) are read from the environment now, when the client is made, as
        # other HTTP clients read them per client or per request (not once for the process, when ferry is imported)
        self._pool = _Pool()
        # a client dropped without close() closes its kept connections when it is collected
        weakref.finalize(self, self._pool.close)
        self._opener = urllib.request.build_opener(_NoRedirect, _DeadlineHTTPHandler(self._pool),
                                                   _DeadlineHTTPSHandler(self._pool))
        # servers given together must serve one store (a store and a copy of it hold the same objects, with tags
        # that may differ): the id each reports (GET /v1/store), read before its first request, must agree, and every
        # request names that id (Ferry-Store-Id) so that a server started again over another store refuses it; one
        # server's id is taken from its first answer (Ferry-Store-Id there too), without a request of its own
        self._store_lock = threading.Lock()
        self._store_id = None
        self._store_of = None
        self._described = set()
        self._refusal = None

    def close(self):
        """Closes the connections kept open for later requests (a later request opens a new one)."""
        self._pool.close()

    @property
    def transfer_attempts(self):
        """How often a request whose answer broke off is made in all: once per server, and twice with one server (a
        server restarted, or a connection reset once, answers the second time)."""
        return max(2, len(self.urls))

    def _order(self, avoid=None):
        with self._lock:
            start = self._next
            self._next = (self._next + 1) % len(self.urls)
        order = [self.urls[(start + i) % len(self.urls)] for i in range(len(self.urls))]
        if avoid in order and len(order) > 1:
            # the server whose answer just broke off is tried last (round-robin alone may pick it again when other
            # threads' requests moved the turn on)
            order.remove(avoid)
            order.append(avoid)
        return order

    def base_of(self, resp):
        """The server URL (as given) that sent ``resp``."""
        url = resp.geturl()
        for base in self.urls:
            if url.startswith(base + "/"):
                return base
        return None

    def open(self, path, headers=None, context=None, avoid=None):
        """Opens GET ``path`` (already quoted, with its query) and returns the response, ready to be read.

        Raises FerryHTTPError for an error status (with the server's code and message) and FerryConnectionError when
        no server could be reached. A 503 (the server is busy) from every server is tried again, a few times, after a
        short and growing pause. ``avoid``: a server to try last (one whose answer to this request just broke off).
        """
        for attempt in range(BUSY_ATTEMPTS):
            try:
                return self._open_once(path, headers, context, avoid)
            except FerryHTTPError as e:
                if e.status != 503 or attempt == BUSY_ATTEMPTS - 1:
                    raise
                time.sleep(0.1 * (2 ** attempt))

    def _request(self, url, headers, deadline=None):
        """A GET of ``url`` with the token and ``headers``, and the timeout to open it with; ``deadline`` (seconds)
        bounds the whole request more tightly than the client's deadline."""
        req = urllib.request.Request(url, method="GET")
        if self._token:
            req.add_header("Authorization", "Bearer " + self._token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        timeout = self.timeout
        if deadline is None or (self.deadline is not None and self.deadline < deadline):
            deadline = self.deadline
        if deadline is not None:
            # the whole request, from connecting to the answer's last byte (read later, through the response)
            req.ferry_deadline = (deadline, time.monotonic() + deadline, "GET " + url)
            timeout = deadline if timeout is None else min(timeout, deadline)
        return req, timeout

    def _check_store(self, base):
        """With several servers: reads the store id of ``base`` (on the first request, of every server) unless it was
        read, and raises FerryError naming both servers and their ids when two servers report different ones (then
        on every later request too). A server that cannot be reached is read again before its next request; one that
        reports no id (older than store ids) is taken as it is."""
        if self._refusal is not None:
            raise self._refusal
        if len(self.urls) < 2 or base in self._described:
            return
        with self._store_lock:
            for b in self.urls if not self._described else [base]:
                if b in self._described or self._refusal is not None:
                    continue
                try:
                    sid = self._describe(b)
                except (urllib.error.URLError, OSError, http.client.HTTPException):
                    continue  # unreachable: the request itself finds it so, or the next one reads its id
                self._described.add(b)
                if sid is None:
                    continue
                if self._store_id is None:
                    self._store_id, self._store_of = sid, b
                elif sid != self._store_id:
                    self._refusal = FerryError(
                        "the servers %s do not serve one store: %s serves store %s, %s serves store %s; list only"
                        " servers started over one store (a copy made with 'ferry copy' is another store)" % (
                            ",".join(self.urls), self._store_of, self._store_id, b, sid))
        if self._refusal is not None:
            raise self._refusal

    def _learn_store(self, headers):
        """With one server: takes the store id its first answer names in Ferry-Store-Id, which every later request
        then names, so that the server started again over another store refuses them (409 store-mismatch)."""
        if self._store_id is not None or len(self.urls) > 1 or headers is None:
            return
        sid = headers.get("Ferry-Store-Id")
        if isinstance(sid, str) and _STORE_ID.match(sid):
            with self._store_lock:
                if self._store_id is None:
                    self._store_id, self._store_of = sid, self.urls[0]

    def _describe(self, base):
        """The store id ``base`` reports in its description, or None for a server that reports none (or answers
        with an error or a body that is not a description: its requests tell). The whole read, connecting included,
        takes at most ``connect_timeout``: a hung server (one that accepts connections and never answers) held every
        request, to whichever server it went, for the whole ``timeout`` while its description was read."""
        req, timeout = self._request(base + "/v1/store", {"Accept": "application/json"}, self.connect_timeout)
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                body = self.read_whole(resp, "the store's description")
        except urllib.error.HTTPError as e:
            e.close()
            return None
        except FerryConnectionError:
            return None
        self.count(len(body))
        try:
            sid = json.loads(body.decode("utf-8")).get("id")
        except (ValueError, AttributeError, RecursionError):
            return None
        # Ferry's ids are 32 hex digits; anything else is no id (it goes into a header of every request)
        return sid if isinstance(sid, str) and _STORE_ID.match(sid) else None

    def _open_once(self, path, headers, context, avoid):
        failures = []
        last_http = None
        http_failures = 0
        for base in self._order(avoid):
            url = base + path
            self._check_store(base)
            if self._store_id is not None:
                headers = dict(headers or {}, **{"Ferry-Store-Id": self._store_id})
            req, timeout = self._request(url, headers)
            try:
                resp = self._opener.open(req, timeout=timeout)
                with self._lock:
                    self.requests += 1
                self._learn_store(resp.headers)
                return resp
            except urllib.error.HTTPError as e:
                self._learn_store(e.headers)
                err = _http_error(e, "GET", url, context)
                if e.code in RETRY_STATUSES and len(self.urls) > 1:
                    last_http = err
                    http_failures += 1
                    failures.append("%s: HTTP %d" % (base, e.code))
                    continue
                raise err from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                # HTTPException: an answer that is not HTTP (a bad status line, bad headers)
                reason = getattr(e, "reason", e)
                if isinstance(e, http.client.HTTPException):
                    reason = "%s: %s" % (type(e).__name__, e)
                failures.append("%s: %s" % (base, reason))
        if last_http is not None and len(failures) == http_failures:
            raise last_http
        where = (context + ": ") if context else ""
        raise FerryConnectionError("%sGET %s: no server answered (tried %s)" % (where, path, "; ".join(failures)))

    def json(self, path, context=None):
        avoid = None
        for attempt in range(self.transfer_attempts):
            with self.open(path, {"Accept": "application/json"}, context, avoid) as resp:
                try:
                    body = self.read_whole(resp, "the answer")
                except (OSError, http.client.HTTPException) as e:
                    # a body cut short (IncompleteRead), a server that stalled past the timeout, a reset connection
                    if attempt + 1 < self.transfer_attempts:
                        avoid = self.base_of(resp)
                        continue
                    where = (context + ": ") if context else ""
                    raise FerryTransferError("%sGET %s: the answer broke off after its headers (%s: %s)" % (
                        where, resp.geturl(), type(e).__name__, e)) from None
                self.count(len(body))
            break
        try:
            return json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError) as e:  # RecursionError: arrays or objects nested too deep to parse
            raise FerryConnectionError("GET %s: expected a JSON body, got %d bytes that are not JSON (%s)"
                                       % (path, len(body), e)) from None

    def count(self, n):
        with self._lock:
            self.bytes_received += n

    def read_whole(self, resp, what, digest=None):
        """The whole body of a JSON answer (or a version or snapshot object), read in pieces up to ``max_json_bytes``
        (a hostile or broken server cannot make the client buffer without end), fed to ``digest`` when given;
        IncompleteRead when it ends before its Content-Length."""
        declared = declared_length(resp)
        if declared is not None and declared > self.max_json_bytes:
            raise self._too_big(resp, what, "is %d bytes long," % declared)
        body = bytearray()
        while True:
            piece = resp.read(_PIECE)
            if not piece:
                break
            if digest is not None:
                digest.update(piece)
                self.count(len(piece))
            body += piece
            if len(body) > self.max_json_bytes:
                raise self._too_big(resp, what, "holds")
        if declared is not None and len(body) < declared:
            raise http.client.IncompleteRead(bytes(body[:0]), declared - len(body))
        return bytes(body)

    def _too_big(self, resp, what, how):
        return FerryConnectionError("GET %s: %s %s more than the %d bytes the client reads as JSON"
                                    " (ferry.Client's max_json_bytes); it is not read" % (
                                        resp.geturl(), what, how, self.max_json_bytes))


def declared_length(resp):
    """The answer's Content-Length, or None without one or with one that is not ASCII digits (str.isdigit takes '²',
    which int() refuses), as http.client reads it."""
    declared = resp.headers.get("Content-Length")
    if declared is None or not declared.isascii() or not declared.isdigit():
        return None
    return int(declared)


def _http_error(e, method, url, context):
    code = message = None
    try:
        body = e.read(64 * 1024)
        doc = json.loads(body.decode("utf-8"))
        if isinstance(doc, dict):
            code = doc.get("error")
            message = doc.get("message")
    except Exception:  # the body is informative only; the status is what counts
        pass
    finally:
        e.close()
    if not isinstance(message, str):
        message = e.reason if isinstance(e.reason, str) else None
    return FerryHTTPError(e.code, _printable(code), _printable(message), method, url, context)


def _printable(text):
    """A server's text made safe to print (as Java's HTTP store client makes it): control characters, which could
    move a terminal's cursor or forge lines in a log, become '?'; None for anything but a string."""
    if not isinstance(text, str):
        return None
    return "".join("?" if ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f else c for c in text)
