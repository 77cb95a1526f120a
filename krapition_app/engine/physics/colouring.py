"""Greedy colouring of contacts by their moving bodies, for the wide solvers (``wide``, ``manifolds``):
a contact takes the lowest colour in which none of its moving bodies is used yet, so the contacts
of one colour can be solved side by side. A body's used colours are the bits of one uint64."""

from __future__ import annotations

import numpy as np
from numba import njit

from .vecmath import JIT

#: colours per frame (one bit each in a body's mask); what fits none is left to the scalar rows
NCOL = 64

_ONE = np.uint64(1)
_FULL = np.uint64(0xFFFFFFFFFFFFFFFF)
# the index of a single set bit by a de Bruijn multiply (numba has no count-trailing-zeros)
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_SHIFT = np.uint64(58)
_BIT_INDEX = np.zeros(64, dtype=np.int64)
for _i in range(64):
    _BIT_INDEX[((1 << _i) * 0x03F79D71B4CB0A89 & 0xFFFFFFFFFFFFFFFF) >> 58] = _i


@njit(**JIT, inline="always")
def take_colour(mask, a, b, move_a, move_b) -> int:
    """The lowest colour free for both moving bodies, now marked used by them; -1 if none is."""
    used = np.uint64(0)
    if move_a:
        used |= mask[a]
    if move_b:
        used |= mask[b]
    if used == _FULL:
        return -1
    free = ~used & (used + _ONE)  # the lowest clear bit
    if move_a:
        mask[a] |= free
    if move_b:
        mask[b] |= free
    return _BIT_INDEX[(free * _DEBRUIJN) >> _SHIFT]
