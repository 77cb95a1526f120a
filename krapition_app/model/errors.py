"""One error root for everything Krapition raises on purpose, with exact subclasses.

Callers catch the precise class they can handle; anything else that escapes is a bug. Errors caused
by what a peer or a file sent are distinct from errors caused by our own misuse (as h11 separates
``RemoteProtocolError`` from ``LocalProtocolError``).
"""

from __future__ import annotations


class KrapitionError(Exception):
    """Root of every error Krapition raises deliberately."""


class InvalidURIError(KrapitionError, ValueError):
    """A string is not a valid ``krapition://`` URI (or URI pattern); the message says why."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid Krapition URI {text!r}: {reason}")
        self.text = text
        self.reason = reason


class ModelValidationError(KrapitionError, ValueError):
    """A value breaks a rule of the data model (a NaN position, a negative radius, ...)."""


class EncodingError(KrapitionError, ValueError):
    """Bytes or JSON do not decode to a valid model value (corrupt, truncated or of the wrong shape)."""


class NonCanonicalEncodingError(EncodingError):
    """Bytes decode to a valid value but are not that value's canonical encoding.

    Signatures cover exact bytes, so a value must have exactly one accepted encoding.
    """


class UnknownMaterialError(KrapitionError, KeyError):
    """A material name that is not in the catalogue."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown material {name!r}; known materials: {', '.join(known)}")
        self.name = name

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message again
        return str(self.args[0])


class SceneFormatError(KrapitionError, ValueError):
    """A scene file is unreadable or breaks the scene format; the message names the key and file."""
