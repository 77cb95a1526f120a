"""Pure data of Krapition: URIs, events, messages, materials, scenes and errors.

This package imports nothing else of the app (an import-linter contract checks it), so every layer
can use it.
"""

from .errors import (
    EncodingError,
    InvalidURIError,
    KrapitionError,
    ModelValidationError,
    NonCanonicalEncodingError,
    SceneFormatError,
    UnknownMaterialError,
)
from .uri import DEFAULT_PORT, Authority, KrapitionURI, URIPattern, parse_uri

__all__ = [
    "DEFAULT_PORT",
    "Authority",
    "EncodingError",
    "InvalidURIError",
    "KrapitionError",
    "KrapitionURI",
    "ModelValidationError",
    "NonCanonicalEncodingError",
    "SceneFormatError",
    "URIPattern",
    "UnknownMaterialError",
    "parse_uri",
]
