"""Which node owns each body, as colours: the same colour per node on every machine."""

from __future__ import annotations

import colorsys

import numpy as np

from ..p2p.identity import fingerprint_of


def node_rgb(fingerprint: str) -> tuple[float, float, float]:
    """A node's colour (0..1 RGB) from its key's fingerprint: same hue on every machine."""
    hue = int.from_bytes(fingerprint.encode("utf-8"), "little") % 360
    return colorsys.hsv_to_rgb(hue / 360.0, 160 / 255.0, 230 / 255.0)


def node_colour(fingerprint: str) -> str:
    """The same colour as ``#rrggbb`` (Peers dock)."""
    return "#" + "".join(f"{round(c * 255):02x}" for c in node_rgb(fingerprint))


#: the tint of a body whose owner left or went silent: frozen, and shown as such
STALE_RGB = (0.42, 0.42, 0.45)


class OwnerTint:
    """(n, 3) RGB of each body's owner for a snapshot's names, NaN for our own bodies, grey for bodies
    whose owner is gone (stale); recomputed only when the names or the session's remote bodies (or
    their staleness) change, never per frame."""

    def __init__(self, session) -> None:
        self.session = session
        self._key: tuple | None = None
        self._rgb: np.ndarray | None = None
        self._colours: dict[bytes, tuple[float, float, float]] = {}

    def rgb(self, names: tuple[str, ...]) -> np.ndarray:
        key = (names, self.session.remote_version)
        if key != self._key or self._rgb is None:
            rgb = np.full((len(names), 3), np.nan, np.float32)
            stale = getattr(self.session, "stale_authors", frozenset())
            for i, name in enumerate(names):
                author = self.session.owner_of(name)
                if author is not None:
                    colour = self._colours.get(author)
                    if colour is None:
                        colour = self._colours[author] = node_rgb(fingerprint_of(author))
                    rgb[i] = STALE_RGB if author in stale else colour
            self._key, self._rgb = key, rgb
        return self._rgb
