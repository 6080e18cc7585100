"""Errors raised by the Ferry client. Every message names what failed, where, what was expected and what came."""


class FerryError(Exception):
    """Base class of every error this package raises on purpose."""


class FerryHTTPError(FerryError):
    """The server answered with an error status.

    Attributes: ``status`` (the HTTP status), ``code`` (the server's error code, e.g. ``forbidden``, or None),
    ``server_message`` (the server's message, or None), ``method`` and ``url`` of the request (never a token).
    """

    def __init__(self, status, code, server_message, method, url, context=None):
        self.status = status
        self.code = code
        self.server_message = server_message
        self.method = method
        self.url = url
        what = "HTTP %d" % status
        if code:
            what += " %s" % code
        text = "%s from %s %s" % (what, method, url)
        if server_message:
            text += ": " + server_message
        if context:
            text = context + ": " + text
        super().__init__(text)


class FerryConnectionError(FerryError):
    """No server could be reached (every URL given to the client was tried)."""


class FerryTransferError(FerryConnectionError):
    """An answer broke off after its headers: cut short, reset, or stalled longer than the client's timeout (a server
    killed or restarted mid-answer). The client has already tried the request again on its other servers (and once
    more on a single one) before raising it. ``server``: the URL of the server whose answer broke off last, or None."""

    def __init__(self, message, server=None):
        super().__init__(message)
        self.server = server


class FerryIntegrityError(FerryError):
    """Bytes received from a server are not the bytes asked for: a chunk whose SHA-256 is not its id, a chunk of the
    wrong length, or a file whose SHA-256 is not the one its version lists. ``server``: the URL of the server that sent
    a chunk's bytes, where known, else None."""

    def __init__(self, message, server=None):
        super().__init__(message)
        self.server = server


class FerryNotFoundError(FerryError, KeyError):
    """A tensor or file name that the version does not hold."""

    def __str__(self):  # KeyError would quote the message
        return Exception.__str__(self)
