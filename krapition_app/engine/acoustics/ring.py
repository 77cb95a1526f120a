"""Single-producer single-consumer frame ring, and the njit kernel the audio callback runs.

The ring holds the mix before the master section (volume, mono fold, limiter): the callback applies it
to the frames it plays, so impacts added late into frames already in the ring (:mod:`.late`) go
through the limiter like the rest. The synthesis thread is the only writer of ``index[WRITE]`` and the
audio callback the only writer of ``index[READ]``; each side writes its index only after its data is in
place (a plain int64 store; the GIL and x86's store order make it visible in order), so neither side
ever waits or locks. All buffers are allocated once, here.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .master import LIMIT_CEILING, LIMIT_RELEASE_S, master

WRITE, READ, UNDERRUNS, CALLBACKS, PA_UNDERFLOWS = 0, 1, 2, 3, 4
#: the master section's state in ``FrameRing.master``: the gain the last callback ended at, the gain
#: asked for (volume / full scale, 0 when muted), the limiter's gain, its ceiling and release per
#: sample, and mono (1.0) or not
M_APPLIED, M_TARGET, M_LIMITER, M_CEILING, M_RELEASE, M_MONO = 0, 1, 2, 3, 4, 5
TIMING_RECORDS = 4096  # callback timing log: (first frame, monotonic seconds, DAC latency seconds)


class FrameRing:
    def __init__(
        self, capacity: int, channels: int = 2, monitor_frames: int = 0, sample_rate: int = 48_000
    ) -> None:
        if capacity & (capacity - 1):
            raise ValueError("capacity must be a power of two")
        self.capacity = capacity
        self.master = np.zeros(6, np.float32)
        self.master[[M_APPLIED, M_TARGET, M_LIMITER]] = 1.0
        self.master[M_CEILING] = LIMIT_CEILING
        self.master[M_RELEASE] = math.exp(-1.0 / (LIMIT_RELEASE_S * sample_rate))
        self.data = np.zeros((capacity, channels), np.float32)
        self.index = np.zeros(8, np.int64)
        self.timing = np.zeros((TIMING_RECORDS, 3), np.float64)
        size = 1 << max(1, int(monitor_frames - 1).bit_length()) if monitor_frames > 0 else 1
        self.monitor = np.zeros((size, channels), np.float32)
        self.monitor_on = monitor_frames > 0

    @property
    def written(self) -> int:
        return int(self.index[WRITE])

    @property
    def read(self) -> int:
        return int(self.index[READ])

    def set_gain(self, gain: float, ramp: bool = True) -> None:
        """The output gain the callback ramps to over its next block (any thread: one float store);
        ``ramp=False`` (before the stream starts) sets it at once."""
        self.master[M_TARGET] = gain
        if not ramp:
            self.master[M_APPLIED] = gain

    def set_mono(self, mono: bool) -> None:
        self.master[M_MONO] = 1.0 if mono else 0.0

    def space(self) -> int:
        return self.capacity - (int(self.index[WRITE]) - int(self.index[READ]))

    def push(self, block: np.ndarray) -> None:
        """Producer: append a block (caller checked :meth:`space`), then publish it."""
        w = int(self.index[WRITE])
        ring_store(self.data, w, block)
        self.index[WRITE] = w + block.shape[0]

    def skip_to(self, frame: int) -> None:
        """Producer, after an underrun: continue writing at ``frame`` (frames before it were not played)."""
        self.index[WRITE] = frame

    def monitor_copy(self, first_frame: int, frames: int) -> np.ndarray:
        """Frames [first_frame, first_frame + frames) as the callback played them (monitor tap)."""
        size = self.monitor.shape[0]
        idx = np.arange(first_frame, first_frame + frames) & (size - 1)
        return self.monitor[idx].copy()


@njit(cache=True, nogil=True)
def ring_store(data, w, block):
    mask = data.shape[0] - 1
    for n in range(block.shape[0]):
        i = (w + n) & mask
        for c in range(block.shape[1]):
            data[i, c] = block[n, c]


# keeps the GIL: the callback already holds it, and a kernel of a few microseconds that released it would
# make the callback wait to get it back (up to the switch interval) while another thread runs Python;
# holding it also keeps late impacts (late.ring_add, which holds it too) out of the frames being played
@njit(cache=True)
def callback_play(
    outdata, data, index, written, monitor, monitor_on, timing, now, dac_latency, pa_underflow, mst
):
    """Everything the audio callback does: copy what is ready (zero-fill what is not), apply the master
    section, count underruns, log timing. Touches only preallocated arrays; ``written`` is the
    producer's index read once by the caller."""
    frames = outdata.shape[0]
    r = index[READ]
    avail = written - r
    if avail < 0:
        avail = 0
    n = min(avail, frames)
    if n < frames:
        index[UNDERRUNS] += 1
    if pa_underflow:
        index[PA_UNDERFLOWS] += 1
    mask = data.shape[0] - 1
    for i in range(frames):
        j = (r + i) & mask
        for c in range(outdata.shape[1]):
            outdata[i, c] = data[j, c] if i < n else np.float32(0.0)
    target = mst[M_TARGET]
    master(outdata, mst[M_APPLIED], target, mst[M_LIMITER : M_LIMITER + 1], mst[M_CEILING], mst[M_RELEASE],
           mst[M_MONO] != 0.0)
    mst[M_APPLIED] = target
    if monitor_on:
        mmask = monitor.shape[0] - 1
        for i in range(frames):
            for c in range(outdata.shape[1]):
                monitor[(r + i) & mmask, c] = outdata[i, c]
    k = index[CALLBACKS] & (timing.shape[0] - 1)
    timing[k, 0] = r
    timing[k, 1] = now
    timing[k, 2] = dac_latency
    index[CALLBACKS] += 1
    index[READ] = r + frames
