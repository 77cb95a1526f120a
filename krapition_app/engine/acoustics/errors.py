"""Precise errors of the acoustic engine; every one is a KrapitionError.

Bad input is rejected in the thread that submitted it; the audio stream and the synthesis thread
never see it, so a rejected batch never stops the sound.
"""

from __future__ import annotations

from ...model.errors import KrapitionError, ModelValidationError


class AcousticInputError(ModelValidationError):
    """Contacts, bodies or settings handed to the acoustic engine break a rule.

    ``field`` names the offending array or setting and ``rows`` the offending rows (may be empty).
    """

    def __init__(self, field: str, reason: str, rows: tuple[int, ...] = ()) -> None:
        where = f" (rows {', '.join(map(str, rows[:8]))}{', ...' if len(rows) > 8 else ''})" if rows else ""
        super().__init__(f"{field}: {reason}{where}")
        self.field = field
        self.reason = reason
        self.rows = rows


class AudioDeviceError(KrapitionError):
    """An output device cannot be found or opened (the engine then runs silently)."""
