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
from .late import patch_late, ring_add
from .listener import ListenerPose, output_mode_code
from .master import LIMIT_CEILING, LIMIT_RELEASE_S, master
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
        # late impacts (real time): the patch buffer and the scratch voice of late.patch_late
        self._patch = np.zeros((2, 0), np.float32)
        self._patch_src = np.zeros(0, np.float32)
        self._scratch_voice = (
            np.zeros((1, m), f32), np.zeros((1, m), f32), np.zeros((1, m), f32), np.zeros((1, m), f32),
            np.zeros((1, m), f32), np.full(1, -1, i64), np.zeros((1, m), f32), np.zeros(1, f32),
            np.ones(1, np.uint32), np.ones(1, f32), np.zeros(1, np.int32),
        )

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

    def _due(self, end: int, count_late: bool = True) -> tuple[np.ndarray, Excitations, Prepared] | None:
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
        if count_late:
            self.late_rows += int((frames[order] < self.frame).sum())
        return frames[order], rows.take(order), prepared.take(order)

    def patch(self, ring: FrameRing) -> int:
        """Real time: sound the rows due before the render head in the frames already in ``ring`` and in
        the voices (see late.py). Returns the first frame the callback had not played when they went in:
        rows due before it start there instead (late)."""
        head = self.frame
        due = self._due(head, count_late=False)
        if due is None:
            return ring.read
        frames, rows, p = due
        if ring.read >= head:  # underrun: the callback passed all that was rendered; the next block has them
            self.late_rows += int((frames < ring.read).sum())
            self._pending.append((np.maximum(frames, ring.read), rows, p))
            return ring.read
        size = ring.capacity
        if self._patch.shape[1] != size:
            self._patch = np.zeros((2, size), np.float32)
            self._patch_src = np.zeros(size, np.float32)
        lo = max(ring.read, head - size)
        v = self.voices
        self.late_rows += patch_late(
            head, lo, float(self.fs), v.max_voices,
            frames, rows.body.astype(np.int64), p.src, p.pr, p.pi, p.exc, p.nin, p.npaths, p.pdelay, p.pgain,
            p.direct_gain, p.direct_delay, p.loud,
            v.state, v.body, v.pr, v.pi, v.zr, v.zi, v.exc, v.exc_off, v.nin, v.noise_env, v.rng, v.fade,
            v.pos, v.npaths, v.pdelay, v.pgain, v.direct_gain, v.direct_delay, v.loud, v.counters, v.acc,
            v.rev_acc, self._patch, self._patch_src, *self._scratch_voice,
        )
        return int(ring_add(ring.data, ring.index, lo, self._patch, head - lo))

    # ---- rendering ----------------------------------------------------------------------------------
    def render(
        self, out: np.ndarray, rev_scratch: np.ndarray | None = None, ring: FrameRing | None = None
    ) -> None:
        """Overwrite ``out`` (n, 2) float32 with the next n frames.

        Without ``ring`` (offline) the frames are after volume, mute and limiter. With ``ring`` (the
        real-time engine) they are the mix before the master section, which the audio callback applies
        as it plays them; they are appended to the ring and published. Voice assignment, synthesis,
        reverb and the master section (or the ring store) are one kernel call: one release of the GIL per
        block, so the synthesis thread waits for the interpreter at most once per block.
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
    """One block of :meth:`Mixer.render`: assign the due rows, synthesise, reverb, then either master it
    (offline) or (``to_ring``) append it to the frame ring and publish it, for the callback to master.
    The same kernels in the same order as separate calls.

    numba's on-disk cache checks only this file, not the kernels compiled into this one (synth, voices,
    reverb, ring): the package stamps its cache with a digest of all its sources (``kernel_cache``)."""
    out[:] = 0.0
    rev[:n] = 0.0
    # the block in runs that start at each due row's frame: a voice takes one excitation per render_block
    # call, at its start, so every impact, every texture and a voice's second hit in the block begins on
    # its own sample (rows before f0, late, begin at f0)
    nrows = frames.shape[0]
    r = 0
    start = 0
    while start < n:
        end = r
        while end < nrows and frames[end] - f0 <= start:
            end += 1
        if end > r:
            assign(
                f0 + start, n - start, max_voices, frames[r:end], body[r:end], r_src[r:end], r_pr[r:end],
                r_pi[r:end], r_exc[r:end], r_nin[r:end], r_npaths[r:end], r_pdelay[r:end], r_pgain[r:end],
                r_direct_gain[r:end], r_direct_delay[r:end], r_loud[r:end], state, vbody, pr, pi, zr, zi, exc,
                exc_off, nin, noise_env, rng, fade, vpos, npaths, pdelay, pgain, direct_gain, direct_delay,
                loud, counters,
            )
        stop = n if end == nrows else min(n, frames[end] - f0)
        render_block(
            f0 + start, stop - start, fs, state, pr, pi, zr, zi, exc, exc_off, nin, noise_env, rng, fade,
            npaths, pdelay, pgain, direct_gain, direct_delay, loud, acc, rev_acc, out[start:stop],
            rev[start:stop],
        )
        start = stop
        r = end
    if fdn_on:
        fdn_process(rev[:n], out, fdn_buf, fdn_pos, fdn_lengths, fdn_gains, fdn_out_gain, out_l, out_r)
    if not to_ring:
        master(out, gain_from, gain_to, limiter, ceiling, release, mono)
    else:
        w = ring_index[WRITE]
        ring_store(ring_data, w, out)
        ring_index[WRITE] = w + n  # publish after the data is in place
