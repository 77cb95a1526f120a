"""The materials catalogue: what a body is made of decides how it moves and how it sounds.

Each value is a textbook figure for a typical member of the family (the material a user would
picture), with its source or reasoning beside it. Physics uses density, restitution and friction;
the acoustic model uses the elastic constants (through the wave speed sqrt(E/rho), which sets how
modal frequencies scale), the loss factor (per-mode damping) and the brightness.

Sources: Engineering ToolBox tables of density, Young's modulus and friction coefficients;
Ashby, "Materials Selection in Mechanical Design" (4th ed.) for loss factors; Cremer & Heckl,
"Structure-Borne Sound" (loss factors of steel, glass, wood, rubber).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

from .errors import ModelValidationError, UnknownMaterialError


@dataclass(frozen=True, slots=True)
class Material:
    name: str
    #: kg/m^3
    density: float
    #: Young's modulus, Pa
    youngs_modulus: float
    #: Poisson's ratio (dimensionless)
    poisson_ratio: float
    #: coefficient of restitution against the same material, 0..1
    restitution: float
    #: Coulomb friction coefficients against the same material
    static_friction: float
    dynamic_friction: float
    #: structural loss factor eta: a mode at f Hz decays as exp(-pi * f * eta * t)
    loss_factor: float
    #: 0..1: how much of an impact's energy reaches the high modes (spectral tilt of excitation)
    brightness: float
    #: display colour, linear RGB 0..1
    colour: tuple[float, float, float]

    def __post_init__(self) -> None:
        checks = {
            "density": self.density > 0,
            "youngs_modulus": self.youngs_modulus > 0,
            "poisson_ratio": 0 <= self.poisson_ratio < 0.5,
            "restitution": 0 <= self.restitution <= 1,
            "static_friction": self.static_friction >= 0,
            "dynamic_friction": 0 <= self.dynamic_friction <= self.static_friction,
            "loss_factor": 0 < self.loss_factor < 1,
            "brightness": 0 <= self.brightness <= 1,
            "colour": len(self.colour) == 3 and all(0 <= c <= 1 for c in self.colour),
        }
        for field, ok in checks.items():
            if not ok:
                raise ModelValidationError(f"material {self.name!r}: {field} is out of range")

    @property
    def wave_speed(self) -> float:
        """Longitudinal bar wave speed sqrt(E/rho) in m/s: modal frequencies scale with it."""
        return math.sqrt(self.youngs_modulus / self.density)

    @property
    def modal_frequency_scale(self) -> float:
        """The wave speed relative to steel's, so steel is 1.0 (same shape and size)."""
        return self.wave_speed / _STEEL_WAVE_SPEED


_STEEL_WAVE_SPEED = math.sqrt(200e9 / 7850.0)

_CATALOGUE = (
    Material(
        name="metal",  # structural steel
        density=7850.0,  # Engineering ToolBox, carbon steel
        youngs_modulus=200e9,  # Engineering ToolBox, structural steel 200 GPa
        poisson_ratio=0.30,  # steel 0.27-0.30
        restitution=0.60,  # steel on steel, measured 0.55-0.65 at a few m/s (Goldsmith, "Impact")
        static_friction=0.74,  # Engineering ToolBox, mild steel on mild steel, dry
        dynamic_friction=0.57,
        loss_factor=2e-4,  # Cremer & Heckl: steel 1e-4 .. 6e-4; long ringing is what "metal" sounds like
        brightness=0.85,  # stiff and light in damping: impacts excite many high modes
        colour=(0.72, 0.74, 0.78),
    ),
    Material(
        name="wood",  # oak
        density=700.0,  # Engineering ToolBox, oak 600-900
        youngs_modulus=11e9,  # along the grain, oak ~11 GPa
        poisson_ratio=0.35,  # across species 0.3-0.45 (Wood Handbook, FPL-GTR-190)
        restitution=0.50,  # wood on wood, hardwood balls ~0.5
        static_friction=0.50,  # Engineering ToolBox, wood on wood, clean 0.25-0.5
        dynamic_friction=0.30,
        loss_factor=1e-2,  # Ashby: wood 0.005-0.02
        brightness=0.45,  # fibres damp the high modes first: a warm "tock"
        colour=(0.62, 0.42, 0.22),
    ),
    Material(
        name="glass",  # soda-lime glass
        density=2500.0,  # Engineering ToolBox, 2400-2800
        youngs_modulus=70e9,  # soda-lime 70 GPa
        poisson_ratio=0.22,
        restitution=0.70,  # glass marbles on glass ~0.7 (Goldsmith)
        static_friction=0.90,  # clean glass on glass 0.9-1.0 (Engineering ToolBox)
        dynamic_friction=0.40,
        loss_factor=1e-3,  # Cremer & Heckl: 0.6e-3 .. 2e-3
        brightness=0.95,  # the brightest, clearest ring in the catalogue
        colour=(0.55, 0.78, 0.85),
    ),
    Material(
        name="rubber",  # natural rubber
        density=1100.0,  # 920-1200
        youngs_modulus=0.05e9,  # 0.01-0.1 GPa
        poisson_ratio=0.49,  # nearly incompressible
        restitution=0.80,  # a rubber ball: 0.75-0.9
        static_friction=1.00,  # rubber on dry surfaces ~1 (Engineering ToolBox)
        dynamic_friction=0.80,
        loss_factor=1e-1,  # Ashby: elastomers 0.05-0.3
        brightness=0.10,  # soft and lossy: a dull thud
        colour=(0.85, 0.25, 0.20),
    ),
    Material(
        name="stone",  # granite
        density=2700.0,  # Engineering ToolBox, granite 2600-2800
        youngs_modulus=50e9,  # granite 40-70 GPa
        poisson_ratio=0.25,
        restitution=0.45,  # rock on rock drops, ~0.4-0.5 (rockfall literature)
        static_friction=0.70,  # granite on granite ~0.6-0.8 (Byerlee's law regime)
        dynamic_friction=0.55,
        loss_factor=5e-3,  # granite 1e-3 .. 1e-2
        brightness=0.65,  # hard but grainy: a sharp click without the long ring
        colour=(0.52, 0.52, 0.50),
    ),
    Material(
        name="plastic",  # ABS
        density=1050.0,  # Engineering ToolBox, ABS 1020-1080
        youngs_modulus=2.3e9,  # ABS 1.4-3.1 GPa
        poisson_ratio=0.35,
        restitution=0.60,  # hard plastic balls ~0.6
        static_friction=0.40,  # plastic on plastic 0.3-0.5
        dynamic_friction=0.30,
        loss_factor=2e-2,  # Ashby: polymers 0.01-0.05 below the glass transition
        brightness=0.40,  # light and lossy: a short "tick"
        colour=(0.25, 0.45, 0.85),
    ),
)

#: name -> Material, in a fixed order: the index of a material is its position in MATERIAL_NAMES.
MATERIALS: MappingProxyType[str, Material] = MappingProxyType({m.name: m for m in _CATALOGUE})
MATERIAL_NAMES: tuple[str, ...] = tuple(MATERIALS)
DEFAULT_MATERIAL = "wood"


def get_material(name: str) -> Material:
    try:
        return MATERIALS[name]
    except (KeyError, TypeError):
        raise UnknownMaterialError(str(name), MATERIAL_NAMES) from None


def material_index(name: str) -> int:
    """The stable small integer the engine stores per body instead of the name."""
    get_material(name)
    return MATERIAL_NAMES.index(name)


def pair_restitution(a: Material, b: Material) -> float:
    """Restitution of a contact between two materials: the geometric mean.

    The geometric mean is symmetric, keeps a perfectly inelastic partner (0) inelastic, and gives
    each material its own value against itself.
    """
    return math.sqrt(a.restitution * b.restitution)


def pair_friction(a: Material, b: Material) -> float:
    """Dynamic friction of a contact between two materials: the geometric mean (as Box2D and Bullet)."""
    return math.sqrt(a.dynamic_friction * b.dynamic_friction)
