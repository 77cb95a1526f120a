"""Sleeping islands: bodies joined by touching contacts or joints sleep together and wake together.

An island sleeps when every body in it has been slow for ``time_to_sleep``. A sleeping body keeps its
island id (the union-find root when it fell asleep), so one touch wakes the whole island at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .contacts_table import CA, CB, JSUM, SEP
from .vecmath import HOT, JIT


@njit(**JIT, inline="always")
def _find(parent, i) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(**JIT)
def wake_touched(pair_a, pair_b, npairs, joint_a, joint_b, forced, static, sleeping, island,
                 sleep_time) -> int:
    return _wake_touched(pair_a, pair_b, npairs, joint_a, joint_b, forced, static, sleeping, island,
                         sleep_time, np.zeros(sleeping.shape[0], dtype=np.bool_))


@njit(**HOT)
def _wake_touched(pair_a, pair_b, npairs, joint_a, joint_b, forced, static, sleeping, island,
                  sleep_time, wake) -> int:
    """Wakes every sleeping island that an awake dynamic body touches (by swept AABB), that a joint ties
    to an awake body, or that holds a body in ``forced`` (dragged, edited). Returns islands woken."""
    n = sleeping.shape[0]
    # wake: indexed by island id (a body row)
    count = 0
    for p in range(npairs):
        a = pair_a[p]
        b = pair_b[p]
        for s, o in ((a, b), (b, a)):
            if sleeping[s] and not static[o] and not sleeping[o] and island[s] >= 0 and not wake[island[s]]:
                wake[island[s]] = True
                count += 1
    for j in range(joint_a.shape[0]):
        a = joint_a[j]
        b = joint_b[j]
        if b < 0:
            continue
        for s, o in ((a, b), (b, a)):
            if sleeping[s] and not static[o] and not sleeping[o] and island[s] >= 0 and not wake[island[s]]:
                wake[island[s]] = True
                count += 1
    for f in range(forced.shape[0]):
        s = forced[f]
        if sleeping[s] and island[s] >= 0 and not wake[island[s]]:
            wake[island[s]] = True
            count += 1
    if count == 0:
        return 0
    for i in range(n):
        if sleeping[i] and island[i] >= 0 and wake[island[i]]:
            sleeping[i] = False
            island[i] = -1
            sleep_time[i] = 0.0
    return count


@njit(**JIT)
def update_sleep(cf, ci, nc, joint_a, joint_b, forced, vel, angvel, bound, static, sleeping, island,
                 sleep_time, dt, linear_tolerance, time_to_sleep, can_sleep) -> int:
    n = vel.shape[0]
    return _update_sleep(cf, ci, nc, joint_a, joint_b, forced, vel, angvel, bound, static, sleeping, island,
                         sleep_time, dt, linear_tolerance, time_to_sleep, can_sleep, np.arange(n),
                         np.full(n, np.inf))


@njit(**HOT)
def _update_sleep(cf, ci, nc, joint_a, joint_b, forced, vel, angvel, bound, static, sleeping, island,
                  sleep_time, dt, linear_tolerance, time_to_sleep, can_sleep, parent, least) -> int:
    """Advances sleep timers and puts whole islands to sleep; returns the number of bodies put to sleep."""
    n = vel.shape[0]
    tol2 = linear_tolerance * linear_tolerance
    for i in range(n):
        if static[i] or sleeping[i]:
            continue
        v2 = vel[i, 0] ** 2 + vel[i, 1] ** 2 + vel[i, 2] ** 2
        w2 = (angvel[i, 0] ** 2 + angvel[i, 1] ** 2 + angvel[i, 2] ** 2) * bound[i] * bound[i]
        if v2 > tol2 or w2 > tol2:
            sleep_time[i] = 0.0
        else:
            sleep_time[i] += dt
    for f in range(forced.shape[0]):
        sleep_time[forced[f]] = 0.0
    if not can_sleep:
        return 0
    for c in range(nc):
        a = ci[c, CA]
        b = ci[c, CB]
        if b < 0 or static[a] or static[b]:
            continue
        if cf[c, JSUM] <= 0.0 and cf[c, SEP] > 0.0:
            continue  # a speculative contact that never touched does not tie two bodies together
        ra = _find(parent, a)
        rb = _find(parent, b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # the smallest row is the root: deterministic ids
    for j in range(joint_a.shape[0]):
        a = joint_a[j]
        b = joint_b[j]
        if b < 0 or static[a] or static[b]:
            continue
        ra = _find(parent, a)
        rb = _find(parent, b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    # an island may sleep when its least sleepy body may
    for i in range(n):
        if static[i] or sleeping[i]:
            continue
        r = _find(parent, i)
        if sleep_time[i] < least[r]:
            least[r] = sleep_time[i]
    slept = 0
    for i in range(n):
        if static[i] or sleeping[i]:
            continue
        r = _find(parent, i)
        if least[r] >= time_to_sleep:
            sleeping[i] = True
            island[i] = r
            vel[i, 0] = vel[i, 1] = vel[i, 2] = 0.0
            angvel[i, 0] = angvel[i, 1] = angvel[i, 2] = 0.0
            slept += 1
    return slept
