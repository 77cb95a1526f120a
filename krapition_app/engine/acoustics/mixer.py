"""The synthesis core shared by the real-time engine and the offline renderer.

:class:`Mixer` keeps the voices, the room, the listener and the master section. Excitations are
scheduled at absolute frame numbers; :meth:`Mixer.render` produces the next block of stereo frames.
Everything is deterministic: the same excitations give bit-identical output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from .excitation import Excitations
from .listener import ListenerPose, output_mode_code
from .paths import ImageSourceScratch
from .prepare import Geometry, Prepared, prepare
from .reverb import _OUT_L, _OUT_R, FeedbackDelayNetwork, fdn_process
from .ring import WRITE, FrameRing, ring_store
from .room import RoomSettings
from .synth import render_block
from .voices import VoiceBank, assign, recompute_paths

SAMPLE_RATE = 48_000
#: Pa of sound pressure that maps to digital full scale (1.0): 2 Pa = 100 dB SPL
FULL_SCALE_PA = 2.0
LIMIT_CEILING = 0.98
LIMIT_RELEASE_S = 0.08


@dataclass(frozen=True, slots=True)
class MixerConfig:
    sample_rate: int = SAMPLE_RATE
    #: the cap on simultaneously ringing voices (bodies)
    max_voices: int = 256
    #: extra slots where stolen voices fade out (graceful stealing) while the newcomer starts
    spare_voices: int = 64
    #: room paths rendered per voice (direct + strongest reflections)
    paths_per_voice: int = 16
    full_scale_pa: float = FULL_SCALE_PA


class Mixer:
    def __init__(
        self,
        config: MixerConfig | None = None,
        room: RoomSettings | None = None,
        listener: ListenerPose | None = None,
        output_mode: str = "stereo",
    ) -> None:
        self.config = config or MixerConfig()
        self.fs = self.config.sample_rate
        self.voices = VoiceBank(self.config.max_voices, self.config.spare_voices, self.config.paths_per_voice)
        self.frame = 0
        self._pending: list[tuple[np.ndarray, Excitations, Prepared | None]] = []
        self._volume = 1.0
        self._applied_volume = 1.0
        self._muted = False
        self._limiter = np.ones(1, np.float32)
        self.room = room or RoomSettings()
        self.listener = listener or ListenerPose()
        self._mode = output_mode_code(output_mode)
        self.output_mode = output_mode
        self._geometry: Geometry | None = None
        self._configure_room()
        self.late_rows = 0
        # the kernel's arguments when no rows are due / no ring is written (typed like the real ones)
        m, paths = self.voices.pr.shape[1], self.config.paths_per_voice
        i64, f32 = np.int64, np.float32
        self._no_rows = (
            np.zeros(0, i64), np.zeros(0, i64), np.zeros((0, 3)),
            np.zeros((0, m), f32), np.zeros((0, m), f32), np.zeros((0, m), f32), np.zeros((0, m), f32),
            np.zeros(0, i64), np.zeros((0, paths, 2), i64),
            np.zeros((0, paths, 2), f32), np.zeros(0, f32), np.zeros(0, i64), np.zeros(0, f32),
        )
        self._no_ring_data = np.zeros((1, 2), np.float32)
        self._no_ring_index = np.zeros(8, np.int64)

    # ---- settings (call from the thread that calls render) -------------------------------------
    def set_room(self, room: RoomSettings) -> None:
        self.room = room
        self._configure_room()

    def set_listener(self, pose: ListenerPose) -> None:
        self.listener = pose
        self._lis = self.room.to_room(np.array(pose.position))
        self._right = pose.right
        self._recompute()

    def set_output_mode(self, mode: str) -> None:
        self._mode = output_mode_code(mode)
        self.output_mode = mode
        self._recompute()

    def set_volume(self, volume: float) -> None:
        self._volume = float(volume)

    def set_muted(self, muted: bool) -> None:
        self._muted = bool(muted)

    def _configure_room(self) -> None:
        self._dims = np.array(self.room.size)
        self._beta = self.room.reflection
        self._scratch = ImageSourceScratch(self.room.max_order)
        self._fdn = FeedbackDelayNetwork(self.room, self.fs)
        self.set_listener(self.listener)

    def geometry(self) -> Geometry:
        return Geometry(
            self.room,
            self.listener,
            self.output_mode,
            float(self.fs),
            self.config.paths_per_voice,
            self.voices.acc.shape[1],
        )

    def _recompute(self) -> None:
        self._geometry = self.geometry()
        v = self.voices
        recompute_paths(
            v.state,
            v.pos,
            self._lis,
            self._right,
            self._dims,
            self._beta,
            self.room.max_order,
            self._mode,
            float(self.fs),
            256,
            v.npaths,
            v.pdelay,
            v.pgain,
            v.direct_gain,
            v.direct_delay,
            v.acc.shape[1],
            self._scratch.pos,
            self._scratch.gain,
            self._scratch.order,
            self._scratch.index,
        )

    # ---- excitations ------------------------------------------------------------------------------
    def schedule(self, frames: np.ndarray, rows: Excitations, prepared: Prepared | None = None) -> None:
        """Sound ``rows`` at absolute ``frames``; ``prepared`` (see prepare.py) saves the work here."""
        if len(rows) == 0:
            return
        self._pending.append((np.asarray(frames, np.int64), rows, prepared))

    def _due(self, end: int) -> tuple[np.ndarray, Excitations, Prepared] | None:
        if not self._pending or min(int(f.min()) for f, _, _ in self._pending) >= end:
            return None
        key = self._geometry.key
        parts = [
            (f, r, p if p is not None and p.key == key else prepare(r, self._geometry))
            for f, r, p in self._pending
        ]
        frames = np.concatenate([f for f, _, _ in parts])
        rows = Excitations.concat([r for _, r, _ in parts]) if len(parts) > 1 else parts[0][1]
        prepared = Prepared.concat([p for _, _, p in parts]) if len(parts) > 1 else parts[0][2]
        due = frames < end
        later = np.nonzero(~due)[0]
        self._pending = [(frames[later], rows.take(later), prepared.take(later))] if len(later) else []
        idx = np.nonzero(due)[0]
        order = idx[np.argsort(frames[idx], kind="stable")]
        late = frames[order] < self.frame
        if late.any():
            self.late_rows += int(late.sum())
        return frames[order], rows.take(order), prepared.take(order)

    # ---- rendering ----------------------------------------------------------------------------------
    def render(
        self, out: np.ndarray, rev_scratch: np.ndarray | None = None, ring: FrameRing | None = None
    ) -> None:
        """Overwrite ``out`` (n, 2) float32 with the next n frames (after volume, mute and limiter).

        With ``ring``, the frames are also appended to it and published (the real-time engine). Voice
        assignment, synthesis, reverb, master and the ring store are one kernel call: one release of
        the GIL per block, so the synthesis thread waits for the interpreter at most once per block.
        """
        n = out.shape[0]
        v = self.voices
        due = self._due(self.frame + n)
        if due is not None:
            frames, rows, p = due
            rows_in = (
                frames, rows.body.astype(np.int64), p.src, p.pr, p.pi, p.exc, p.nin, p.npaths, p.pdelay,
                p.pgain, p.direct_gain, p.direct_delay, p.loud,
            )
        else:
            rows_in = self._no_rows
        rev = rev_scratch if rev_scratch is not None else np.zeros(n, np.float32)
        target = 0.0 if self._muted else self._volume
        fdn = self._fdn
        if ring is None:
            ring_data, ring_index, to_ring = self._no_ring_data, self._no_ring_index, False
        else:
            ring_data, ring_index, to_ring = ring.data, ring.index, True
        mix_block(
            self.frame,
            n,
            float(self.fs),
            v.max_voices,
            *rows_in,
            v.state,
            v.body,
            v.pr,
            v.pi,
            v.zr,
            v.zi,
            v.exc,
            v.exc_off,
            v.nin,
            v.noise_env,
            v.rng,
            v.fade,
            v.pos,
            v.npaths,
            v.pdelay,
            v.pgain,
            v.direct_gain,
            v.direct_delay,
            v.loud,
            v.counters,
            v.acc,
            v.rev_acc,
            out,
            rev,
            fdn.enabled,
            fdn.buf,
            fdn.pos,
            fdn.lengths,
            fdn.gains,
            fdn.out_gain,
            _OUT_L,
            _OUT_R,
            np.float32(self._applied_volume / self.config.full_scale_pa),
            np.float32(target / self.config.full_scale_pa),
            self._limiter,
            np.float32(LIMIT_CEILING),
            np.float32(math.exp(-1.0 / (LIMIT_RELEASE_S * self.fs))),
            self._mode == 0,
            ring_data,
            ring_index,
            to_ring,
        )
        self._applied_volume = target
        self.frame += n

    def stats(self) -> dict[str, int]:
        v = self.voices
        return {
            "active_voices": v.active_count(),
            "sounding_voices": v.sounding_count(),
            "stolen": int(v.counters[0]),
            "dropped": int(v.counters[1]),
            "started": int(v.counters[2]),
            "late": self.late_rows,
        }


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


@njit(cache=True, nogil=True)
def mix_block(
    f0, n, fs, max_voices,
    frames, body, r_src, r_pr, r_pi, r_exc, r_nin, r_npaths, r_pdelay, r_pgain, r_direct_gain, r_direct_delay,
    r_loud,
    state, vbody, pr, pi, zr, zi, exc, exc_off, nin, noise_env, rng, fade, vpos, npaths, pdelay, pgain,
    direct_gain, direct_delay, loud, counters, acc, rev_acc,
    out, rev,
    fdn_on, fdn_buf, fdn_pos, fdn_lengths, fdn_gains, fdn_out_gain, out_l, out_r,
    gain_from, gain_to, limiter, ceiling, release, mono,
    ring_data, ring_index, to_ring,
):
    """One block of :meth:`Mixer.render`: assign the due rows, synthesise, reverb, master, and (``to_ring``)
    append to the frame ring and publish it. The same kernels in the same order as separate calls.

    numba's on-disk cache checks only this file, not the kernels compiled into this one (synth, voices,
    reverb, ring): the package stamps its cache with a digest of all its sources (``kernel_cache``)."""
    if frames.shape[0]:
        assign(
            f0, n, max_voices, frames, body, r_src, r_pr, r_pi, r_exc, r_nin, r_npaths, r_pdelay, r_pgain,
            r_direct_gain, r_direct_delay, r_loud, state, vbody, pr, pi, zr, zi, exc, exc_off, nin, noise_env,
            rng, fade, vpos, npaths, pdelay, pgain, direct_gain, direct_delay, loud, counters,
        )
    out[:] = 0.0
    rev[:n] = 0.0
    render_block(
        f0, n, fs, state, pr, pi, zr, zi, exc, exc_off, nin, noise_env, rng, fade, npaths, pdelay, pgain,
        direct_gain, direct_delay, loud, acc, rev_acc, out, rev,
    )
    if fdn_on:
        fdn_process(rev[:n], out, fdn_buf, fdn_pos, fdn_lengths, fdn_gains, fdn_out_gain, out_l, out_r)
    master(out, gain_from, gain_to, limiter, ceiling, release, mono)
    if to_ring:
        w = ring_index[WRITE]
        ring_store(ring_data, w, out)
        ring_index[WRITE] = w + n  # publish after the data is in place
