"""Small numba helpers on 3-vectors and (w, x, y, z) quaternions, inlined into the kernels.

Everything works on scalars or on rows of preallocated arrays so the hot loops allocate nothing.
"""

from __future__ import annotations

import math

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# error_model="numpy": no zero-division checks (branches) in the hot loops; still no fastmath, so
# results stay bit-identical run to run
JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
#: for kernels that allocate nothing: without the NRT, numba emits no reference counting at all.
#: With it, every inlined helper that takes an array adds atomic incref/decref pairs to the loop
#: body, which cost more than the arithmetic (the contact solve ran 1.8x slower with them).
HOT = {**JIT, "_nrt": False}


@njit(**JIT, inline="always")
def rotate(w, x, y, z, vx, vy, vz) -> tuple[float, float, float]:
    """Rotates (vx, vy, vz) by the unit quaternion (w, x, y, z) given as scalars (``quat_rotate``'s
    operations)."""
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    return (vx + w * tx + (y * tz - z * ty), vy + w * ty + (z * tx - x * tz), vz + w * tz + (x * ty - y * tx))


@njit(**JIT, inline="always")
def quat_rotate(q, vx: float, vy: float, vz: float) -> tuple[float, float, float]:
    """Rotates (vx, vy, vz) by the unit quaternion q = (w, x, y, z)."""
    w, x, y, z = q[0], q[1], q[2], q[3]
    # t = 2 * cross(q.xyz, v); v' = v + w t + cross(q.xyz, t)
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    return (vx + w * tx + (y * tz - z * ty), vy + w * ty + (z * tx - x * tz), vz + w * tz + (x * ty - y * tx))


@njit(**JIT, inline="always")
def quat_rotate_inv(q, vx: float, vy: float, vz: float) -> tuple[float, float, float]:
    """Rotates by the conjugate of q (world to body frame)."""
    w, x, y, z = q[0], -q[1], -q[2], -q[3]
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    return (vx + w * tx + (y * tz - z * ty), vy + w * ty + (z * tx - x * tz), vz + w * tz + (x * ty - y * tx))


@njit(**JIT)
def quat_to_matrix(q, out) -> None:
    """Writes the 3x3 rotation matrix of q into out (columns are the body axes in world space)."""
    w, x, y, z = q[0], q[1], q[2], q[3]
    out[0, 0] = 1.0 - 2.0 * (y * y + z * z)
    out[0, 1] = 2.0 * (x * y - w * z)
    out[0, 2] = 2.0 * (x * z + w * y)
    out[1, 0] = 2.0 * (x * y + w * z)
    out[1, 1] = 1.0 - 2.0 * (x * x + z * z)
    out[1, 2] = 2.0 * (y * z - w * x)
    out[2, 0] = 2.0 * (x * z - w * y)
    out[2, 1] = 2.0 * (y * z + w * x)
    out[2, 2] = 1.0 - 2.0 * (x * x + y * y)


@njit(**JIT, inline="always")
def quat_mul(a0, a1, a2, a3, b0, b1, b2, b3) -> tuple[float, float, float, float]:
    return (
        a0 * b0 - a1 * b1 - a2 * b2 - a3 * b3,
        a0 * b1 + a1 * b0 + a2 * b3 - a3 * b2,
        a0 * b2 - a1 * b3 + a2 * b0 + a3 * b1,
        a0 * b3 + a1 * b2 - a2 * b1 + a3 * b0,
    )


@njit(**JIT, inline="always")
def cross(ax, ay, az, bx, by, bz) -> tuple[float, float, float]:
    return (ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx)


@njit(**JIT, inline="always")
def mat_vec(m, x: float, y: float, z: float) -> tuple[float, float, float]:
    return (
        m[0, 0] * x + m[0, 1] * y + m[0, 2] * z,
        m[1, 0] * x + m[1, 1] * y + m[1, 2] * z,
        m[2, 0] * x + m[2, 1] * y + m[2, 2] * z,
    )


@njit(**JIT, inline="always")
def tangent_basis(nx, ny, nz) -> tuple[float, float, float, float, float, float]:
    """Two unit tangents orthogonal to n, chosen only from n so they persist between frames
    (warm-started friction impulses keep their meaning)."""
    if abs(nx) >= 0.57735:
        tx, ty, tz = ny, -nx, 0.0
    else:
        tx, ty, tz = 0.0, nz, -ny
    inv = 1.0 / math.sqrt(tx * tx + ty * ty + tz * tz)
    tx *= inv
    ty *= inv
    tz *= inv
    bx, by, bz = ny * tz - nz * ty, nz * tx - nx * tz, nx * ty - ny * tx
    return tx, ty, tz, bx, by, bz


@njit(**JIT, inline="always")
def make_soft(hertz: float, zeta: float, h: float) -> tuple[float, float, float]:
    """Soft-constraint coefficients (bias rate, mass scale, impulse scale), as in Box2D v3."""
    if hertz == 0.0:
        return 0.0, 1.0, 0.0
    omega = 2.0 * math.pi * hertz
    a1 = 2.0 * zeta + h * omega
    a2 = h * omega * a1
    a3 = 1.0 / (1.0 + a2)
    return omega / a1, a2 * a3, a3


@njit(**JIT)
def invert3(k, out) -> None:
    """out = inverse of the symmetric 3x3 k (zero if singular)."""
    a, b, c = k[0, 0], k[0, 1], k[0, 2]
    d, e, f = k[1, 0], k[1, 1], k[1, 2]
    g, hh, i = k[2, 0], k[2, 1], k[2, 2]
    c00 = e * i - f * hh
    c01 = f * g - d * i
    c02 = d * hh - e * g
    det = a * c00 + b * c01 + c * c02
    if det == 0.0:
        for r in range(3):
            for s in range(3):
                out[r, s] = 0.0
        return
    inv = 1.0 / det
    out[0, 0] = c00 * inv
    out[0, 1] = (c * hh - b * i) * inv
    out[0, 2] = (b * f - c * e) * inv
    out[1, 0] = c01 * inv
    out[1, 1] = (a * i - c * g) * inv
    out[1, 2] = (c * d - a * f) * inv
    out[2, 0] = c02 * inv
    out[2, 1] = (b * g - a * hh) * inv
    out[2, 2] = (a * e - b * d) * inv


# Row variants: take the whole array and a row index. Slicing a row (``q[i]``) inside a numba loop
# builds an array view with reference counting each time; reading ``q[i, k]`` directly does not.
@njit(**JIT, inline="always")
def quat_rotate_row(q, i, vx: float, vy: float, vz: float) -> tuple[float, float, float]:
    w, x, y, z = q[i, 0], q[i, 1], q[i, 2], q[i, 3]
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    return (vx + w * tx + (y * tz - z * ty), vy + w * ty + (z * tx - x * tz), vz + w * tz + (x * ty - y * tx))


@njit(**JIT, inline="always")
def mat_vec_row(m, i, x: float, y: float, z: float) -> tuple[float, float, float]:
    return (
        m[i, 0, 0] * x + m[i, 0, 1] * y + m[i, 0, 2] * z,
        m[i, 1, 0] * x + m[i, 1, 1] * y + m[i, 1, 2] * z,
        m[i, 2, 0] * x + m[i, 2, 1] * y + m[i, 2, 2] * z,
    )


@njit(**JIT, inline="always")
def relative_velocity(vax, vay, vaz, wax, way, waz, vbx, vby, vbz, wbx, wby, wbz, rax, ray, raz, rbx, rby,
                      rbz):
    """Velocity of b's contact point relative to a's, in the scalar solver's operation order."""
    vx = -(vax + way * raz - waz * ray) + (vbx + wby * rbz - wbz * rby)
    vy = -(vay + waz * rax - wax * raz) + (vby + wbz * rbx - wbx * rbz)
    vz = -(vaz + wax * ray - way * rax) + (vbz + wbx * rby - wby * rbx)
    return vx, vy, vz


@intrinsic
def prefetch(typingctx, arr, index):
    """Asks the CPU to bring the cache line of ``arr[index]`` (``index``: an int, or a tuple for an
    n-d array) into its caches ahead of use (LLVM's prefetch: read, high locality). For data read
    as dozens of interleaved streams, or rows in an order no hardware prefetcher can guess."""
    sig = types.void(arr, index)
    n_indices = len(index) if isinstance(index, types.BaseTuple) else 1

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        array = context.make_array(array_type)(context, builder, args[0])
        indices = cgutils.unpack_tuple(builder, args[1], n_indices) if n_indices > 1 else [args[1]]
        pointer = cgutils.get_item_pointer(context, builder, array_type, array, indices, wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), "llvm.prefetch.p0")
        # read (0), high temporal locality (3), data cache (1)
        builder.call(function, [builder.bitcast(pointer, byte_pointer), ir.Constant(i32, 0),
                                ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen
