"""File selection by globs, with the rules of ``ferry pull --include/--exclude`` (Java: io.ferry.scan.PathFilter).

A glob matches the whole path (relative, ``/``-separated): ``*`` and ``?`` match within one path component, ``**``
across directories (``**/`` also matches no directory), ``[abc]``, ``[a-z]`` and ``[!a]`` (or ``[^a]``) match one
character of a set (never ``/``), and a backslash makes the next character literal. In a set, a ``-`` between two
members makes a range and one first or last is a member (``[a-c--e]``: a to c, and ``-`` to e); a range whose ends are
reversed (``[z-a]``, ``[a---b]``) is a ValueError. A leading ``/`` is dropped. A ``[`` without its ``]`` (in the same
component) is a literal ``[``. A glob without ``/`` therefore matches top-level files only: ``*.json`` takes
``config.json``, not ``a/b/c.json``; ``**/*.json`` takes both.
"""

import re

#: Globs longer than this are refused (as PathFilter.MAX_GLOB_CHARS).
MAX_GLOB_CHARS = 4096
#: More globs than this are refused (as PathFilter.MAX_GLOBS).
MAX_GLOBS = 10000


class PathFilter:
    """Which files a download takes: those matching some include glob (every file when ``include`` is None; no file
    when it is an empty list, as huggingface_hub's ``allow_patterns=[]``) and no exclude glob; an exclude wins over an
    include."""

    def __init__(self, include=None, exclude=None):
        # taken as lists once: a generator or map() would be empty the second time it is read
        include, exclude = (_listed(o, g) for o, g in (("include", include), ("exclude", exclude)))
        self._include_given = include is not None
        given = (("include", include), ("exclude", exclude))
        self._words = [(o, g) for o, g in given if g is not None]
        self.include = _compile("include", include)
        self.exclude = _compile("exclude", exclude)

    def takes_all(self):
        """Whether the filter takes every file (no include and no exclude given)."""
        return not self._include_given and not self.exclude

    def describe(self):
        """The selection as the arguments that made it, as in ``include=['*.json'] exclude=['tokenizer*']``."""
        return " ".join("%s=%r" % (option, globs) for option, globs in self._words)

    def test(self, path):
        """Whether the file at ``path`` (relative, ``/``-separated) is taken."""
        if self._include_given and not any(p.fullmatch(path) for p in self.include):
            return False
        return not any(p.fullmatch(path) for p in self.exclude)


def _listed(option, globs):
    """The globs given as a list: None, one string, or any iterable of them (bytes and other types are a TypeError
    naming the option: bytes iterate as integers, and an integer does not iterate)."""
    if globs is None:
        return None
    if isinstance(globs, str):
        return [globs]
    if isinstance(globs, (bytes, bytearray)) or not hasattr(globs, "__iter__"):
        raise TypeError("%s: expected a glob (a string) or a list of them, got %r" % (option, globs))
    return list(globs)


def _compile(option, globs):
    if globs is None:
        return []
    globs = [globs] if isinstance(globs, str) else list(globs)
    if len(globs) > MAX_GLOBS:
        raise ValueError("%s: %d globs, more than %d" % (option, len(globs), MAX_GLOBS))
    out = []
    for g in globs:
        if not isinstance(g, str):
            raise TypeError("%s: a glob must be a string, got %r" % (option, g))
        if not g:
            raise ValueError("%s: an empty glob matches no file; write '**' for every file" % option)
        if len(g) > MAX_GLOB_CHARS:
            raise ValueError("%s: a glob of %d characters, more than %d" % (option, len(g), MAX_GLOB_CHARS))
        try:
            out.append(_Glob(g[1:] if g.startswith("/") else g))
        except re.error as e:  # a range whose ends are reversed, [z-a]
            raise ValueError("%s: glob %r holds a class of characters that is not one: %s (a range goes from a lower"
                             " character to a higher one, as in [a-z])" % (option, g, e.msg)) from None
    return out


class _Glob:
    """A compiled glob. Matching runs over the glob's parts and the path's characters once, keeping the set of parts
    reached (a regular expression's backtracking took time exponential in the number of '*' and '**/' of a glob: a
    few of them against a long path, which the server chooses, held a download for minutes)."""

    def __init__(self, glob):
        self._parts = _parts(glob)

    def fullmatch(self, path):
        """Whether the glob matches the whole of ``path``."""
        parts = self._parts
        end = len(parts)
        states = self._closure({(0, False)})
        for c in path:
            reached = set()
            for at, in_dirs in states:
                if at == end:
                    continue
                kind, arg = parts[at]
                if in_dirs or kind == "dirs":  # '**/': any characters up to a '/', then the next part
                    reached.add((at, True))
                    if c == "/":
                        reached.add((at + 1, False))
                elif kind == "any":
                    reached.add((at, False))
                elif c == "/":
                    if kind == "char" and arg == c:
                        reached.add((at + 1, False))
                elif kind == "star":
                    reached.add((at, False))
                elif kind == "one" or kind == "char" and arg == c or kind == "class" and arg.fullmatch(c):
                    reached.add((at + 1, False))
            if not reached:
                return False
            states = self._closure(reached)
        return (end, False) in states

    def _closure(self, states):
        """``states`` and those reached from them without a character: past a '*', a '**' or a '**/'."""
        out = set(states)
        for at in sorted({at for at, in_dirs in states if not in_dirs}):
            while at < len(self._parts) and self._parts[at][0] in ("star", "any", "dirs"):
                at += 1
                out.add((at, False))
        return out


def _parts(glob):
    """The glob as parts: ``("dirs", None)`` for a '**/' that starts a component (no directory or any number of
    them), ``("any", None)`` for another '**', ``("star", None)`` for '*' (within a component), ``("one", None)`` for
    '?', ``("class", pattern)`` for a class of characters, ``("char", c)`` for a character matched as it is."""
    out = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*" and i + 1 < n and glob[i + 1] == "*":
            at_start = i == 0 or glob[i - 1] == "/"
            after = i + 2
            if at_start and after < n and glob[after] == "/":
                out.append(("dirs", None))
                i = after + 1
            else:
                out.append(("any", None))
                i = after
            continue
        if c == "*":
            out.append(("star", None))
        elif c == "?":
            out.append(("one", None))
        elif c == "\\":
            if i + 1 < n:
                i += 1
            out.append(("char", glob[i]))
        elif c == "[":
            close = _class_end(glob, i)
            if close < 0:
                out.append(("char", "["))
            else:
                out.append(("class", re.compile(_character_class(glob[i + 1:close]), re.DOTALL)))
                i = close
        else:
            out.append(("char", c))
        i += 1
    return out


def _class_end(glob, start):
    """The index of the ``]`` closing the class that opens at ``start``, or -1 (none before a ``/`` or the end)."""
    i = start + 1
    if i < len(glob) and glob[i] in "!^":
        i += 1
    if i < len(glob) and glob[i] == "]":
        i += 1  # a ']' first is a member
    while i < len(glob):
        if glob[i] == "]":
            return i
        if glob[i] == "/":
            return -1
        i += 1
    return -1


def _character_class(body):
    """The regular expression of a class's ``body`` (between its brackets), with the members Java's PathFilter gives
    it: a ``-`` that is not the body's first or last character joins the member before it and the one after it into a
    range (a ``-`` where a member starts is a member, and may start a range itself: ``[a-c--e]`` is a to c and ``-``
    to e); every member is written as an escape of its code point, so that no ``--`` reaches Python's parser, which
    warns of it (FutureWarning) and may read it as a set difference one day. A range whose ends are reversed
    (``[z-a]``, ``[a---b]``) is an error, as in Java."""
    neg = bool(body) and body[0] in "!^"
    start = 1 if neg else 0
    # (character, whether it is a '-' joining two members)
    tokens = [(c, c == "-" and j != start and j < len(body) - 1) for j, c in enumerate(body) if j >= start]
    out = ["(?!/)[", "^" if neg else ""]
    i = 0
    while i < len(tokens):
        low = tokens[i][0]
        if i + 2 < len(tokens) and tokens[i + 1][1]:
            high = tokens[i + 2][0]
            if high < low:
                raise re.error("bad character range %s-%s" % (low, high))
            out.append("%s-%s" % (_escape(low), _escape(high)))
            i += 3
        else:
            out.append(_escape(low))
            i += 1
    out.append("]")
    return "".join(out)


def _escape(c):
    return "\\x%02x" % ord(c) if ord(c) < 0x100 else "\\u%04x" % ord(c) if ord(c) < 0x10000 else "\\U%08x" % ord(c)
