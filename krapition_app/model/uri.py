"""``krapition://host:port/<kind>/<collection>/<name>``: the names of everything in a shared world.

The authority (``host:port``) of a URI names the node that owns it: that node is the only writer of
the URI and stores its value (the seed's "URIに記載されているホストに値が保存される"). Every URI has
exactly one canonical text form (lowercase scheme and host, explicit port, compressed IPv6), so two
nodes that mean the same object always write the same bytes.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from types import MappingProxyType

from .errors import InvalidURIError

SCHEME = "krapition"
# The seed's extract_host_from_uri falls back to port 8080; a URI without a port means that port.
DEFAULT_PORT = 8080

#: Every kind of resource and the collections it has. The first three are the seed's examples.
COLLECTIONS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "physics": frozenset({"objects", "constraints", "materials"}),
        "audio": frozenset({"sources", "listeners"}),
        "system": frozenset({"nodes", "sessions", "checkpoints"}),
    }
)

MAX_NAME_LENGTH = 128
MAX_URI_LENGTH = 512
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*\Z")
_HOST_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_GLOB_CHARS = frozenset("*?[")
#: printable ASCII, no spaces (0x21 .. 0x7e)
_PRINTABLE = re.compile(r"[!-~]*\Z")


def _parse_host(text: str, host: str) -> str:
    """Returns the canonical form of ``host`` (a DNS name, IPv4, or bracketed IPv6)."""
    if host.startswith("["):
        if not host.endswith("]"):
            raise InvalidURIError(text, "unterminated IPv6 address in the authority")
        try:
            return "[" + ipaddress.IPv6Address(host[1:-1]).compressed + "]"
        except ValueError as exc:
            raise InvalidURIError(text, f"bad IPv6 address: {exc}") from None
    host = host.lower()
    if not host:
        raise InvalidURIError(text, "the authority has no host")
    if len(host) > 253:
        raise InvalidURIError(text, "the host is longer than 253 characters")
    labels = host.split(".")
    if all(label.isdigit() for label in labels):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError as exc:
            raise InvalidURIError(text, f"bad IPv4 address: {exc}") from None
    for label in labels:
        if not _HOST_LABEL.match(label):
            raise InvalidURIError(
                text, f"bad host label {label!r} (letters, digits and inner hyphens, 1-63 long)"
            )
    return host


def _parse_port(text: str, port: str) -> int:
    if not port.isdigit() or not port.isascii():
        raise InvalidURIError(text, f"the port {port!r} is not a decimal number")
    value = int(port)
    if not 1 <= value <= 65535 or (len(port) > 1 and port.startswith("0")):
        raise InvalidURIError(text, f"the port {port!r} is not in 1..65535 (without leading zeros)")
    return value


def _split_authority(text: str, authority: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise InvalidURIError(text, "unterminated IPv6 address in the authority")
        host, rest = authority[: end + 1], authority[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise InvalidURIError(text, "unexpected text after the IPv6 address")
        return host, rest[1:]
    if "@" in authority:
        raise InvalidURIError(text, "user information ('@') is not allowed in the authority")
    host, sep, port = authority.rpartition(":")
    return (host, port) if sep else (authority, None)


def _split(text: str, *, pattern: bool) -> tuple[str, list[str]]:
    """Splits ``text`` into its authority and its three path segments, checking the frame."""
    if not isinstance(text, str):
        raise InvalidURIError(repr(text), f"expected a str, got {type(text).__name__}")
    if len(text) > MAX_URI_LENGTH:
        raise InvalidURIError(text[:64] + "...", f"longer than {MAX_URI_LENGTH} characters")
    if not _PRINTABLE.match(text):
        raise InvalidURIError(text, "only printable ASCII without spaces is allowed")
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise InvalidURIError(text, "missing '://' after the scheme")
    if scheme.lower() != SCHEME:
        raise InvalidURIError(text, f"the scheme must be {SCHEME!r}, not {scheme!r}")
    for char, what in (("?", "a query"), ("#", "a fragment"), ("%", "percent-encoding")):
        if char in rest and not (pattern and char == "?"):  # in a pattern '?' is a glob
            raise InvalidURIError(text, f"{what} ({char!r}) is not allowed")
    authority, slash, path = rest.partition("/")
    if not slash:
        raise InvalidURIError(text, "missing the path /<kind>/<collection>/<name>")
    if not authority:
        raise InvalidURIError(
            text, "missing the authority host:port (the owning node) after 'krapition://'"
        )
    segments = path.split("/")
    if len(segments) != 3:
        raise InvalidURIError(
            text, f"the path must be /<kind>/<collection>/<name>, got {len(segments)} segment(s)"
        )
    if not pattern:
        for segment in segments:
            if not segment:
                raise InvalidURIError(text, "the path has an empty segment")
    return authority, segments


@dataclass(frozen=True, slots=True, order=True)
class Authority:
    """``host:port``: which node owns a URI."""

    host: str
    port: int = DEFAULT_PORT

    @classmethod
    def parse(cls, text: str) -> Authority:
        """Parses ``host[:port]`` (no scheme)."""
        if not isinstance(text, str) or not text or not text.isascii():
            raise InvalidURIError(str(text), "an authority is a non-empty ASCII host[:port]")
        host, port = _split_authority(text, text)
        return cls(_parse_host(text, host), DEFAULT_PORT if port is None else _parse_port(text, port))

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True, order=True)
class KrapitionURI:
    """A parsed, validated URI. Build one with :meth:`parse` or :meth:`build`; ``str()`` formats it."""

    authority: Authority
    kind: str
    collection: str
    name: str

    def __post_init__(self) -> None:
        text = f"{SCHEME}://{self.authority}/{self.kind}/{self.collection}/{self.name}"
        _check_path(text, self.kind, self.collection, self.name)

    @classmethod
    def parse(cls, text: str) -> KrapitionURI:
        if isinstance(text, str) and len(text) <= MAX_URI_LENGTH:
            return _parse_cached(text)  # every event names a URI; the same few recur constantly
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> KrapitionURI:
        authority_text, (kind, collection, name) = _split(text, pattern=False)
        authority = Authority.parse(authority_text) if authority_text else None
        if authority is None:  # pragma: no cover - _split rejects an empty authority
            raise InvalidURIError(text, "missing the authority")
        _check_path(text, kind, collection, name)
        return cls(authority, kind, collection, name)

    @classmethod
    def build(cls, authority: Authority | str, kind: str, collection: str, name: str) -> KrapitionURI:
        if isinstance(authority, str):
            authority = Authority.parse(authority)
        return cls(authority, kind, collection, name)

    @property
    def host(self) -> str:
        return self.authority.host

    @property
    def port(self) -> int:
        return self.authority.port

    @property
    def path(self) -> str:
        return f"/{self.kind}/{self.collection}/{self.name}"

    def is_owned_by(self, authority: Authority | str) -> bool:
        """True when ``authority`` is the node that owns (and alone may write) this URI."""
        if isinstance(authority, str):
            authority = Authority.parse(authority)
        return self.authority == authority

    def with_name(self, name: str) -> KrapitionURI:
        return KrapitionURI(self.authority, self.kind, self.collection, name)

    def __str__(self) -> str:
        return f"{SCHEME}://{self.authority}{self.path}"


def _check_path(text: str, kind: str, collection: str, name: str) -> None:
    collections = COLLECTIONS.get(kind)
    if collections is None:
        raise InvalidURIError(text, f"unknown kind {kind!r}; known kinds: {', '.join(COLLECTIONS)}")
    if collection not in collections:
        raise InvalidURIError(
            text,
            f"unknown collection {collection!r} of kind {kind!r}; "
            f"known: {', '.join(sorted(collections))}",
        )
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidURIError(
            text, f"bad name {name!r}: letters, digits and '._~-', starting with a letter or digit"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidURIError(text, f"the name is longer than {MAX_NAME_LENGTH} characters")


@functools.lru_cache(maxsize=8192)
def _parse_cached(text: str) -> KrapitionURI:
    # URIs are frozen values, so one parsed instance can be shared; errors are not cached
    return KrapitionURI._parse(text)


def parse_uri(text: str) -> KrapitionURI:
    """Parses ``text`` or raises :class:`InvalidURIError` with the reason."""
    return KrapitionURI.parse(text)


@dataclass(frozen=True, slots=True)
class URIPattern:
    """A glob over URIs for list queries, e.g. ``krapition://*/physics/objects/ball-*``.

    The authority is ``*`` (any node) or ``host[:port]`` where host and port may hold ``*``, ``?``
    and ``[...]``; a host without a port means the default port, as in a URI. Each of the three
    path segments is a glob of its own, so ``*`` never crosses a ``/``.
    """

    host: str
    port: str
    kind: str
    collection: str
    name: str

    @classmethod
    def parse(cls, text: str) -> URIPattern:
        authority, (kind, collection, name) = _split(text, pattern=True)
        if authority == "*":
            host, port = "*", "*"
        else:
            host_text, port_text = _split_authority(text, authority)
            # a bracketed IPv6 literal is an address, not a [...] glob
            literal = host_text.startswith("[") or not _GLOB_CHARS & set(host_text)
            host = _parse_host(text, host_text) if literal else host_text.lower()
            if port_text is None:
                port = str(DEFAULT_PORT)
            elif _GLOB_CHARS & set(port_text):
                port = port_text
            else:
                port = str(_parse_port(text, port_text))
        for segment, what in ((kind, "kind"), (collection, "collection"), (name, "name")):
            if not segment:
                raise InvalidURIError(text, f"the {what} segment of the pattern is empty")
        return cls(host, port, kind, collection, name)

    def matches(self, uri: KrapitionURI | str) -> bool:
        if isinstance(uri, str):
            uri = KrapitionURI.parse(uri)
        if self.host.startswith("["):
            host_matches = uri.host == self.host
        else:
            host_matches = fnmatchcase(uri.host, self.host)
        return (
            host_matches
            and fnmatchcase(str(uri.port), self.port)
            and fnmatchcase(uri.kind, self.kind)
            and fnmatchcase(uri.collection, self.collection)
            and fnmatchcase(uri.name, self.name)
        )

    def __str__(self) -> str:
        authority = "*" if (self.host, self.port) == ("*", "*") else f"{self.host}:{self.port}"
        return f"{SCHEME}://{authority}/{self.kind}/{self.collection}/{self.name}"
