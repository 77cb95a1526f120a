"""The acoustic events of a physics step, for the event stream.

For the loudest excited bodies of a step: SoundEmitted (the modes it rings with), SoundReceived (the
direct path to the listener), AcousticReflection (the strongest image-source paths, with the walls
they touch), AcousticInterference (direct vs strongest reflection: comb-filter notches where the path
difference is an odd number of half wavelengths, f = (2k + 1) c / (2 d)), and AcousticCollision for
each impact contact that caused them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ...model.events import (
    AcousticCollision,
    AcousticInterference,
    AcousticReflection,
    EventPayload,
    SoundEmitted,
    SoundReceived,
)
from ...model.materials import MATERIAL_NAMES
from ..contacts import IMPACT, ContactEvents
from .bodies import BodyTable
from .excitation import Excitations
from .listener import ListenerPose
from .paths import MIN_DISTANCE, SPEED_OF_SOUND, images
from .room import RoomSettings, wall_sequence

UriOf = Callable[[int], "str | None"]
MAX_NOTCHES = 16
NOTCH_LIMIT_HZ = 20_000.0


def acoustic_events(
    contacts: ContactEvents,
    bodies: BodyTable,
    rows: Excitations,
    room: RoomSettings,
    listener: ListenerPose,
    uri_of: UriOf,
    listener_uri: str,
    *,
    static_material: str = "stone",
    max_sources: int = 8,
    max_reflections: int = 6,
) -> list[EventPayload]:
    """Events for the ``max_sources`` loudest rows; bodies whose ``uri_of`` is None are left out."""
    events: list[EventPayload] = []
    lis = room.to_room(np.array(listener.position))
    right = listener.right
    seen_contacts: set[int] = set()
    for i in range(min(max_sources, len(rows))):
        body = int(rows.body[i])
        uri = uri_of(body)
        if uri is None:
            continue
        time = float(rows.time[i])
        live = rows.freq[i] > 0
        events.append(
            SoundEmitted(
                source=uri,
                time=time,
                frequencies=tuple(float(f) for f in rows.freq[i][live]),
                amplitudes=tuple(float(a) for a in (rows.amp[i] + rows.noise_amp[i])[live]),
                decay_rates=tuple(float(d) for d in rows.decay[i][live]),
            )
        )
        src = room.to_room(rows.position[i])
        pos, gain, order, index = images(src, lis, np.array(room.size), room.reflection, room.max_order)
        dist = np.linalg.norm(pos - lis, axis=1)
        strength = gain / np.maximum(dist, MIN_DISTANCE)
        direct = int(np.nonzero(order == 0)[0][0])
        r0 = float(dist[direct])
        lateral = float(np.dot(pos[direct] - lis, right) / max(r0, 1e-9))
        events.append(
            SoundReceived(
                source=uri,
                listener=listener_uri,
                delay=r0 / SPEED_OF_SOUND,
                gain=float(strength[direct]),
                pan=max(-1.0, min(1.0, lateral)),
            )
        )
        reflected = [int(j) for j in np.argsort(-strength, kind="stable") if order[j] > 0][:max_reflections]
        for j in reflected:
            walls = wall_sequence(index[j, :3], index[j, 3:], src, lis, room.size)
            events.append(
                AcousticReflection(
                    source=uri,
                    listener=listener_uri,
                    order=int(order[j]),
                    walls=walls,
                    delay=float(dist[j]) / SPEED_OF_SOUND,
                    gain=float(strength[j]),
                )
            )
        if reflected:
            d = float(dist[reflected[0]]) - r0
            events.append(
                AcousticInterference(
                    source=uri,
                    listener=listener_uri,
                    path_difference=max(d, 0.0),
                    notch_frequencies=comb_notches(d),
                )
            )
        c = int(rows.contact[i])
        if contacts.kind[c] == IMPACT and c not in seen_contacts:
            seen_contacts.add(c)
            a, b = int(contacts.body_a[c]), int(contacts.body_b[c])
            uri_a = uri_of(a)
            if uri_a is None:
                continue
            uri_b = uri_of(b) if b >= 0 else None
            events.append(
                AcousticCollision(
                    body_a=uri_a,
                    body_b=uri_b,
                    material_a=MATERIAL_NAMES[int(bodies.material[a])],
                    material_b=MATERIAL_NAMES[int(bodies.material[b])] if b >= 0 else static_material,
                    impulse=float(contacts.normal_impulse[c]),
                    contact_duration=float(rows.duration[i]),
                    time=time,
                )
            )
    return events


def comb_notches(path_difference: float) -> tuple[float, ...]:
    """Frequencies cancelled when two in-phase paths differ by ``path_difference`` metres."""
    if not (path_difference > 1e-6 and math.isfinite(path_difference)):
        return ()
    first = SPEED_OF_SOUND / (2.0 * path_difference)
    out = []
    k = 0
    while len(out) < MAX_NOTCHES:
        f = (2 * k + 1) * first
        if f > NOTCH_LIMIT_HZ:
            break
        out.append(f)
        k += 1
    return tuple(out)
