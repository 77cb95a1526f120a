"""Krapition: a LAN-shared 3D physics sandbox."""

from importlib import metadata

try:
    __version__ = metadata.version("krapition")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
