"""The modal synthesis and path-mixing kernel: every sounding voice, one block at a time.

Per sample and voice: impacts scheduled at their exact frame add to the mode states, white noise
(xorshift32, seeded per body so renders are bit-identical) drives sliding/rolling texture, each mode
turns by its pole, and the sum of the imaginary parts is the source's pressure at 1 m. Each room path
adds that block, at its own delay and gain per channel, into a shared arrival ring, so direct and
reflected sound add coherently (sample for sample) at the listener. The reverb send goes in at the
direct delay. Runs without the GIL.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .voices import ACTIVE, FREE, NOISE_HOLD, RELEASING, SILENCE

_FADE_STEP = np.float32(1.0 / 256.0)


@njit(cache=True, nogil=True, fastmath=True)
def _modal_block(
    v, nframes, pr, pi, zr, zi, exc, exc_off, nin, noise_env, noise_decay, rng, fade, state, src
):
    """The source signal of voice ``v`` (pressure at 1 m) for this block into ``src``."""
    m = pr.shape[1]
    for n in range(nframes):
        if n == exc_off[v]:
            for k in range(m):
                zr[v, k] += exc[v, k]
                exc[v, k] = 0.0
            exc_off[v] = -1
        s = np.float32(0.0)
        env = noise_env[v]
        if env > 1e-4:
            x = rng[v]
            x ^= (x << np.uint32(13)) & np.uint32(0xFFFFFFFF)
            x ^= x >> np.uint32(17)
            x ^= (x << np.uint32(5)) & np.uint32(0xFFFFFFFF)
            rng[v] = x
            # uniform in [-sqrt(3), sqrt(3)): unit variance
            u = np.float32((np.float64(x) / 4294967296.0 * 2.0 - 1.0) * 1.7320508 * env)
            noise_env[v] = env * noise_decay
            for k in range(m):
                re = zr[v, k] * pr[v, k] - zi[v, k] * pi[v, k] + u * nin[v, k]
                im = zr[v, k] * pi[v, k] + zi[v, k] * pr[v, k]
                zr[v, k] = re
                zi[v, k] = im
                s += im
        else:
            for k in range(m):
                re = zr[v, k] * pr[v, k] - zi[v, k] * pi[v, k]
                im = zr[v, k] * pi[v, k] + zi[v, k] * pr[v, k]
                zr[v, k] = re
                zi[v, k] = im
                s += im
        if state[v] == RELEASING:
            s *= fade[v]
            fade[v] -= _FADE_STEP
            if fade[v] <= 0.0:
                for rest in range(n, nframes):
                    src[rest] = 0.0
                for k in range(m):
                    zr[v, k] = 0.0
                    zi[v, k] = 0.0
                noise_env[v] = 0.0
                fade[v] = 0.0
                state[v] = FREE
                return
        src[n] = s


@njit(cache=True, nogil=True, fastmath=True)
def _scatter(acc, start, gain, src, nframes):
    """acc[start + n] += gain * src[n], wrapping around the ring."""
    size = acc.shape[0]
    first = min(nframes, size - start)
    # through slices: plain non-negative indices, so the loops vectorise (no index wraparound per element)
    head = acc[start : start + first]
    for n in range(first):
        head[n] += gain * src[n]
    tail = acc[: nframes - first]
    rest = src[first:nframes]
    for n in range(nframes - first):
        tail[n] += gain * rest[n]


@njit(cache=True, nogil=True, fastmath=True)
def render_block(
    f0,
    nframes,
    fs,
    state,
    pr,
    pi,
    zr,
    zi,
    exc,
    exc_off,
    nin,
    noise_env,
    rng,
    fade,
    npaths,
    pdelay,
    pgain,
    direct_gain,
    direct_delay,
    loud,
    acc,
    rev_acc,
    out,
    rev_in,
):
    """Add ``nframes`` frames of every voice (from frame ``f0``) to out (nframes, 2) and rev_in (nframes,).

    Each voice's block goes forward into the shared arrival rings ``acc`` (2, R) and ``rev_acc`` (R,)
    at its paths' delays (R fits in L2, so the scattered adds stay in cache); then the block at f0 is
    read out of the rings and cleared.
    """
    size = acc.shape[1]
    mask = size - 1
    src = np.zeros(nframes, np.float32)
    noise_decay = np.float32(math.exp(-1.0 / (NOISE_HOLD * fs)))
    for v in range(state.shape[0]):
        if state[v] == FREE:
            continue
        _modal_block(
            v, nframes, pr, pi, zr, zi, exc, exc_off, nin, noise_env, noise_decay, rng, fade, state, src
        )
        for p in range(npaths[v]):
            for c in range(2):
                _scatter(acc[c], (f0 + pdelay[v, p, c]) & mask, pgain[v, p, c], src, nframes)
        _scatter(rev_acc, (f0 + direct_delay[v]) & mask, np.float32(1.0), src, nframes)
        energy = 0.0
        for k in range(pr.shape[1]):
            energy += zr[v, k] * zr[v, k] + zi[v, k] * zi[v, k]
        amp = math.sqrt(energy)
        loud[v] = amp * direct_gain[v]
        if state[v] == ACTIVE and amp < SILENCE and noise_env[v] <= 1e-4 and exc_off[v] < 0:
            state[v] = FREE  # what it sent is already on its way in the rings
            loud[v] = 0.0
    for n in range(nframes):
        i = (f0 + n) & mask
        out[n, 0] += acc[0, i]
        out[n, 1] += acc[1, i]
        rev_in[n] += rev_acc[i]
        acc[0, i] = 0.0
        acc[1, i] = 0.0
        rev_acc[i] = 0.0


@njit(cache=True, nogil=True, fastmath=True)
def modal_bank(nframes, pr, pi, zr, zi, out):
    """The bare modal bank (benchmark): out[v, n] = sum_k Im(z_vk) with z_vk <- p_vk z_vk per sample."""
    for v in range(pr.shape[0]):
        for n in range(nframes):
            s = np.float32(0.0)
            for k in range(pr.shape[1]):
                re = zr[v, k] * pr[v, k] - zi[v, k] * pi[v, k]
                im = zr[v, k] * pi[v, k] + zi[v, k] * pr[v, k]
                zr[v, k] = re
                zi[v, k] = im
                s += im
            out[v, n] = s
