"""The master section: volume ramp, mono fold and a stereo-linked peak limiter, in place on stereo frames.

The offline renderer runs it at the end of each block; the real-time engine runs it in the audio callback
on the frames it plays, after late impacts were added to them (see :mod:`.late`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

LIMIT_CEILING = 0.98
LIMIT_RELEASE_S = 0.08


@njit(cache=True, nogil=True, fastmath=False)
def master(out, gain_from, gain_to, limiter, ceiling, release, mono):
    """Volume ramp, mono fold, then a stereo-linked peak limiter: |out| never exceeds ``ceiling``.

    Instant attack (the gain drops to ceiling / peak on the sample that would clip), exponential release.
    """
    n = out.shape[0]
    g = limiter[0]
    for i in range(n):
        vol = gain_from + (gain_to - gain_from) * np.float32((i + 1) / n)
        left = out[i, 0] * vol
        right = out[i, 1] * vol
        if mono:
            left = np.float32(0.5) * (left + right)
            right = left
        peak = max(abs(left), abs(right))
        g = np.float32(1.0) - (np.float32(1.0) - g) * release
        if peak * g > ceiling:
            g = ceiling / peak
        # the gain already keeps |x| <= ceiling; the clamp only removes float rounding above it
        out[i, 0] = min(max(left * g, -ceiling), ceiling)
        out[i, 1] = min(max(right * g, -ceiling), ceiling)
    limiter[0] = g
