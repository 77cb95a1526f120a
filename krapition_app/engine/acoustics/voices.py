"""Voice management: one voice per sounding body, a cap, priority by loudness, graceful stealing.

A voice is a body's modal resonator bank (complex one-pole per mode: z <- p z + x, p = exp((-d + i w)/fs),
an exact sampling of A e^{-d t} sin(w t)) and the room paths from its position. States:

- ACTIVE: ringing; counted against the cap ``max_voices``;
- RELEASING: stolen, fading out over FADE_FRAMES, no longer counted;
- FREE (what a voice sent is already in the mixer's arrival rings, so a silent voice frees at once).

When a new body must sound while ``max_voices`` are active, the quietest active voice (loudness at
the listener) is faded out if it is quieter than the newcomer; otherwise the newcomer is dropped.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .modes import MODES
from .paths import compute_paths

FREE, ACTIVE, RELEASING = 0, 1, 2
FADE_FRAMES = 256
ARRIVAL_RING = 16384  # samples (341 ms at 48 kHz): the longest path kept
#: noise texture envelope: 1/e after this many seconds without a new sliding/rolling contact
NOISE_HOLD = 0.05
SILENCE = 1e-6  # Pa at 1 m: below this a voice has stopped ringing


class VoiceBank:
    """All voice state as preallocated arrays (the numba kernels read and write them in place)."""

    def __init__(self, max_voices: int, spare: int, max_paths: int, modes: int = MODES) -> None:
        v = max_voices + spare
        self.max_voices = max_voices
        self.capacity = v
        self.max_paths = max_paths
        self.state = np.zeros(v, np.int32)
        self.body = np.full(v, -1, np.int64)
        self.pr = np.zeros((v, modes), np.float32)
        self.pi = np.zeros((v, modes), np.float32)
        self.zr = np.zeros((v, modes), np.float32)
        self.zi = np.zeros((v, modes), np.float32)
        self.exc = np.zeros((v, modes), np.float32)
        self.exc_off = np.full(v, -1, np.int64)
        self.nin = np.zeros((v, modes), np.float32)
        self.noise_env = np.zeros(v, np.float32)
        self.rng = np.ones(v, np.uint32)
        self.fade = np.ones(v, np.float32)
        self.pos = np.zeros((v, 3))
        self.npaths = np.zeros(v, np.int64)
        self.pdelay = np.zeros((v, max_paths, 2), np.int64)
        self.pgain = np.zeros((v, max_paths, 2), np.float32)
        self.direct_gain = np.zeros(v, np.float32)
        self.direct_delay = np.zeros(v, np.int64)
        self.loud = np.zeros(v, np.float32)
        #: arrival rings: every voice's paths add into these at their delays (channels, samples)
        self.acc = np.zeros((2, ARRIVAL_RING), np.float32)
        self.rev_acc = np.zeros(ARRIVAL_RING, np.float32)
        #: counters: [stolen, dropped, started]
        self.counters = np.zeros(3, np.int64)

    def active_count(self) -> int:
        return int((self.state == ACTIVE).sum())

    def sounding_count(self) -> int:
        return int((self.state != FREE).sum())


@njit(cache=True, nogil=True)
def _pick_slot(state, loud, exclude):
    """A FREE slot, else the quietest RELEASING one; -1 if every slot is ACTIVE."""
    best = -1
    best_loud = np.inf
    for i in range(state.shape[0]):
        if state[i] == FREE:
            return i
    for i in range(state.shape[0]):
        if i != exclude and state[i] != ACTIVE and loud[i] < best_loud:
            best = i
            best_loud = loud[i]
    return best


@njit(cache=True, nogil=True)
def take_voice(
    row,
    max_voices,
    n_active,
    body,
    r_src,
    r_pr,
    r_pi,
    r_npaths,
    r_pdelay,
    r_pgain,
    r_direct_gain,
    r_direct_delay,
    r_loud,
    state,
    vbody,
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
    vpos,
    npaths,
    pdelay,
    pgain,
    direct_gain,
    direct_delay,
    loud,
    counters,
):
    """The voice that sounds prepared ``row``: its body's, else a free slot, else the slot of the quietest
    active voice if that is quieter than the row (faded out: graceful stealing). The voice is ACTIVE with
    the row's modes, position and paths; its excitation is the caller's. Returns (voice or -1 when the
    row is dropped, the new active count)."""
    v = -1
    for i in range(state.shape[0]):
        if vbody[i] == body[row] and state[i] != FREE:
            v = i
            break
    new_loud = r_loud[row]
    fresh = v < 0
    stolen = -1
    if (fresh or state[v] != ACTIVE) and n_active >= max_voices:
        quiet = -1
        quiet_loud = np.inf
        for i in range(state.shape[0]):
            if state[i] == ACTIVE and exc_off[i] < 0 and loud[i] < quiet_loud:
                quiet = i
                quiet_loud = loud[i]
        if quiet < 0 or quiet_loud >= new_loud:
            counters[1] += 1
            return -1, n_active
        state[quiet] = RELEASING
        fade[quiet] = 1.0
        n_active -= 1
        counters[0] += 1
        stolen = quiet
    if fresh:
        v = _pick_slot(state, loud, stolen)  # never the voice that is fading out for us
        if v < 0:
            counters[1] += 1
            return -1, n_active
        zr[v, :] = 0.0
        zi[v, :] = 0.0
        exc[v, :] = 0.0
        nin[v, :] = 0.0
        exc_off[v] = -1
        noise_env[v] = 0.0
        vbody[v] = body[row]
        rng[v] = np.uint32((body[row] * 2654435761 + 12345) & 0xFFFFFFFF) | np.uint32(1)
        counters[2] += 1
    if state[v] != ACTIVE:
        n_active += 1
    state[v] = ACTIVE
    fade[v] = 1.0
    for c in range(3):
        vpos[v, c] = r_src[row, c]
    n = r_npaths[row]
    npaths[v] = n
    for p in range(n):
        for c in range(2):
            pdelay[v, p, c] = r_pdelay[row, p, c]
            pgain[v, p, c] = r_pgain[row, p, c]
    direct_gain[v] = r_direct_gain[row]
    direct_delay[v] = r_direct_delay[row]
    for k in range(pr.shape[1]):
        pr[v, k] = r_pr[row, k]
        pi[v, k] = r_pi[row, k]
    loud[v] = max(loud[v], new_loud)
    return v, n_active


@njit(cache=True, nogil=True)
def active_voices(state):
    n = 0
    for i in range(state.shape[0]):
        if state[i] == ACTIVE:
            n += 1
    return n


@njit(cache=True, nogil=True)
def assign(
    f0,
    nframes,
    max_voices,
    frames,
    body,
    r_src,
    r_pr,
    r_pi,
    r_exc,
    r_nin,
    r_npaths,
    r_pdelay,
    r_pgain,
    r_direct_gain,
    r_direct_delay,
    r_loud,
    state,
    vbody,
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
    vpos,
    npaths,
    pdelay,
    pgain,
    direct_gain,
    direct_delay,
    loud,
    counters,
):
    """Give each prepared row (frames in [f0, f0 + nframes)) a voice and schedule it in this block."""
    n_active = active_voices(state)
    for row in range(frames.shape[0]):
        off = frames[row] - f0
        if off < 0:
            off = 0
        if off >= nframes:
            continue
        v, n_active = take_voice(
            row, max_voices, n_active, body, r_src, r_pr, r_pi, r_npaths, r_pdelay, r_pgain, r_direct_gain,
            r_direct_delay, r_loud, state, vbody, pr, pi, zr, zi, exc, exc_off, nin, noise_env, rng, fade,
            vpos, npaths, pdelay, pgain, direct_gain, direct_delay, loud, counters,
        )
        if v < 0:
            continue
        has_noise = False
        for k in range(pr.shape[1]):
            exc[v, k] += r_exc[row, k]
            if r_nin[row, k] > 0.0:
                has_noise = True
        if has_noise:
            for k in range(pr.shape[1]):
                nin[v, k] = r_nin[row, k]
            noise_env[v] = 1.0
        if exc_off[v] < 0 or off < exc_off[v]:
            exc_off[v] = off
    return n_active


@njit(cache=True, nogil=True)
def _paths_for(
    v,
    src,
    lis,
    right,
    dims,
    beta,
    max_order,
    mode,
    fs,
    max_delay,
    npaths,
    pdelay,
    pgain,
    direct_gain,
    direct_delay,
    img_pos,
    img_gain,
    img_order,
    img_index,
):
    n, direct = compute_paths(
        src,
        lis,
        right,
        dims,
        beta,
        max_order,
        mode,
        fs,
        max_delay,
        pdelay.shape[1],
        img_pos,
        img_gain,
        img_order,
        img_index,
        pdelay[v],
        pgain[v],
    )
    npaths[v] = n
    direct_gain[v] = 1.0 / max(direct, 0.1)
    direct_delay[v] = min(int(direct / 343.0 * fs + 0.5), max_delay)


@njit(cache=True, nogil=True)
def recompute_paths(
    state,
    vpos,
    lis,
    right,
    dims,
    beta,
    max_order,
    mode,
    fs,
    nframes,
    npaths,
    pdelay,
    pgain,
    direct_gain,
    direct_delay,
    ring_size,
    img_pos,
    img_gain,
    img_order,
    img_index,
):
    """After the listener, room or output mode changed: new paths for every sounding voice."""
    max_delay = ring_size - nframes - 1
    for v in range(state.shape[0]):
        if state[v] != FREE:
            _paths_for(
                v,
                vpos[v],
                lis,
                right,
                dims,
                beta,
                max_order,
                mode,
                fs,
                max_delay,
                npaths,
                pdelay,
                pgain,
                direct_gain,
                direct_delay,
                img_pos,
                img_gain,
                img_order,
                img_index,
            )
