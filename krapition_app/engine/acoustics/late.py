"""Impacts into frames already rendered ahead: the real-time engine keeps a deep ring of speculative frames.

The synthesis thread renders the mix (voices, room paths, reverb; the master section is the callback's)
tens of milliseconds ahead of the callback, so a slow render or a short stall of the machine costs no
underrun. An impact then arrives for a frame T that is already rendered: everything a voice does is
linear in its excitation, so its effect from T on is added to what is there.

- :func:`patch_late` (no GIL) gives each late row its voice (as :func:`.voices.assign` does), renders
  the row's excitation alone from T to the render head ``head`` in a scratch voice (same modes, same
  noise stream), adds the scratch voice's state at ``head`` to the voice's, and sends the scratch
  block down the row's room paths: arrivals before ``head`` into a patch buffer of frames
  [lo, head), later ones into the arrival rings where the next blocks pick them up. The reverb send
  of frames already past the reverb goes in at ``head`` instead (the diffuse tail starts at most the
  lead late, never early).
- :func:`ring_add` (keeps the GIL, so the callback is not reading the ring meanwhile) adds the patch
  buffer into the frames the callback has not played yet.

Rows before ``lo`` (the first frame the callback has not played) start at ``lo``: late, and counted.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .ring import READ
from .synth import _modal_block, _scatter
from .voices import ACTIVE, NOISE_HOLD, active_voices, take_voice


@njit(cache=True, nogil=True, fastmath=True)
def patch_late(
    head, lo, fs, max_voices,
    frames, body, r_src, r_pr, r_pi, r_exc, r_nin, r_npaths, r_pdelay, r_pgain, r_direct_gain, r_direct_delay,
    r_loud,
    state, vbody, pr, pi, zr, zi, exc, exc_off, nin, noise_env, rng, fade, vpos, npaths, pdelay, pgain,
    direct_gain, direct_delay, loud, counters, acc, rev_acc,
    patch, src, s_pr, s_pi, s_zr, s_zi, s_exc, s_off, s_nin, s_env, s_rng, s_fade, s_state,
):
    """Add rows due before ``head`` (sorted by frame) to the voices and to ``patch[:, :head - lo]`` (frames
    [lo, head)) and the arrival rings. Returns how many rows started after their frame (before ``lo``)."""
    mask = acc.shape[1] - 1
    m = pr.shape[1]
    noise_decay = np.float32(math.exp(-1.0 / (NOISE_HOLD * fs)))
    n_active = active_voices(state)
    late = 0
    for row in range(frames.shape[0]):
        t = frames[row]
        if t < lo:
            t = lo
            late += 1
        if t >= head:  # the caller keeps lo below head (late.py's rows are all due before head)
            continue
        v, n_active = take_voice(
            row, max_voices, n_active, body, r_src, r_pr, r_pi, r_npaths, r_pdelay, r_pgain, r_direct_gain,
            r_direct_delay, r_loud, state, vbody, pr, pi, zr, zi, exc, exc_off, nin, noise_env, rng, fade,
            vpos, npaths, pdelay, pgain, direct_gain, direct_delay, loud, counters,
        )
        if v < 0:
            continue
        # the row alone, from rest, in a scratch voice: the modes it excites and its noise texture
        has_noise = False
        for k in range(m):
            s_pr[0, k] = pr[v, k]
            s_pi[0, k] = pi[v, k]
            s_zr[0, k] = 0.0
            s_zi[0, k] = 0.0
            s_exc[0, k] = r_exc[row, k]
            s_nin[0, k] = r_nin[row, k]
            if r_nin[row, k] > 0.0:
                has_noise = True
        s_off[0] = 0
        s_env[0] = 1.0 if has_noise else 0.0
        s_rng[0] = rng[v]
        s_fade[0] = 1.0
        s_state[0] = ACTIVE
        n = head - t
        _modal_block(0, n, s_pr, s_pi, s_zr, s_zi, s_exc, s_off, s_nin, s_env, noise_decay, s_rng, s_fade,
                     s_state, src)
        # from head on, the voice carries it: superposition of the two states
        for k in range(m):
            zr[v, k] += s_zr[0, k]
            zi[v, k] += s_zi[0, k]
        if has_noise:
            for k in range(m):
                nin[v, k] = r_nin[row, k]
            noise_env[v] = s_env[0]
            rng[v] = s_rng[0]
        for p in range(npaths[v]):
            for c in range(2):
                arrive = t + pdelay[v, p, c]
                g = pgain[v, p, c]
                early = min(max(head - arrive, 0), n)  # samples arriving in frames already rendered
                base = arrive - lo
                for j in range(early):
                    patch[c, base + j] += g * src[j]
                if early < n:
                    _scatter(acc[c], (arrive + early) & mask, g, src[early:n], n - early)
        send = max(t + direct_delay[v], head)
        _scatter(rev_acc, send & mask, np.float32(1.0), src, n)
    return late


# keeps the GIL: the callback (which holds it while it reads the ring) cannot run meanwhile, so every frame
# at or after READ is still unplayed while it is added to
@njit(cache=True)
def ring_add(data, index, lo, patch, nframes):
    """Add ``patch[:, :nframes]`` (frames [lo, lo + nframes)) into the ring where not played yet; clear
    the patch. Returns the first frame not played yet (what the callback reads next)."""
    mask = data.shape[0] - 1
    r = index[READ]
    first = max(lo, r)
    for f in range(first, lo + nframes):
        i = f & mask
        data[i, 0] += patch[0, f - lo]
        data[i, 1] += patch[1, f - lo]
    patch[:, :nframes] = 0.0
    return r
