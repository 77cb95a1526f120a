"""Instanced rendering of many bodies of one shape in a single draw call.

One :class:`InstancedMeshItem` holds a unit mesh (a sphere of radius 1, a cube of half-size 1) and
per-instance arrays: centre, rotation quaternion (w, x, y, z), scale and colour. The vertex shader
places each instance, so the frame cost does not grow with Python objects per body (a GLMeshItem
per body runs at 4 fps with 1,000 bodies here).
"""

from __future__ import annotations

import ctypes

import numpy as np
import pyqtgraph.opengl as gl
from OpenGL import GL
from OpenGL.GL import shaders

VERTEX_SHADER = """
#version 120
uniform mat4 u_mvp;
attribute vec3 a_position;
attribute vec3 a_normal;
attribute vec3 i_center;
attribute vec4 i_rotation;  // unit quaternion w, x, y, z
attribute vec3 i_scale;
attribute vec4 i_color;
varying vec3 v_normal;
varying vec3 v_world;
varying vec4 v_color;
varying vec3 v_local;

vec3 rotate(vec4 q, vec3 v) {
    // v' = v + 2 u x (u x v + w v), with q = (w, u)
    return v + 2.0 * cross(q.yzw, cross(q.yzw, v) + q.x * v);
}

void main() {
    vec3 world = i_center + rotate(i_rotation, a_position * i_scale);
    // normals transform by the inverse scale (non-uniform scale of boxes)
    v_normal = rotate(i_rotation, a_normal / i_scale);
    v_world = world;
    v_color = i_color;
    v_local = a_position;
    gl_Position = u_mvp * vec4(world, 1.0);
}
"""

FRAGMENT_SHADER = """
#version 120
uniform vec3 u_eye;
varying vec3 v_normal;
varying vec3 v_world;
varying vec4 v_color;
varying vec3 v_local;

void main() {
    vec3 n = normalize(v_normal);
    vec3 view = normalize(u_eye - v_world);
    vec3 key = normalize(vec3(0.45, 0.35, 1.0));
    vec3 fill = normalize(vec3(-0.6, -0.4, 0.3));
    float diffuse = max(dot(n, key), 0.0) * 0.75 + max(dot(n, fill), 0.0) * 0.2;
    float spec = pow(max(dot(n, normalize(key + view)), 0.0), 40.0) * 0.35;
    // a soft rim keeps silhouettes readable against the dark background
    float rim = pow(1.0 - max(dot(n, view), 0.0), 3.0) * 0.15;
    // darken the edges of boxes (two local coordinates near +-1) so stacked boxes read apart;
    // on a unit sphere the second-largest coordinate never gets there, so spheres are untouched
    vec3 a = abs(v_local);
    float second = max(min(a.x, a.y), min(max(a.x, a.y), a.z));
    float edge = 1.0 - 0.45 * smoothstep(0.90, 0.985, second);
    vec3 rgb = v_color.rgb * (0.28 + diffuse) * edge + vec3(spec + rim);
    gl_FragColor = vec4(rgb, v_color.a);
}
"""

#: floats per instance: centre (3), rotation (4), scale (3), colour (4)
INSTANCE_FLOATS = 14
_ATTRIBUTES = (("i_center", 3, 0), ("i_rotation", 4, 3), ("i_scale", 3, 7), ("i_color", 4, 10))


def unit_sphere(rows: int = 16, cols: int = 24) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices, normals and triangle indices of a sphere of radius 1."""
    md = gl.MeshData.sphere(rows=rows, cols=cols, radius=1.0)
    vertices = md.vertexes().astype(np.float32)
    normals = vertices / np.linalg.norm(vertices, axis=1, keepdims=True)
    return vertices, normals.astype(np.float32), md.faces().astype(np.uint32)


def unit_cube() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A cube from -1 to 1 with flat faces: four vertices per face, so edges stay sharp."""
    vertices, normals, faces = [], [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            n = np.zeros(3)
            n[axis] = sign
            u, v = np.roll(np.eye(3), 1, axis=0)[axis], np.roll(np.eye(3), 2, axis=0)[axis]
            if sign < 0:
                u, v = v, u  # keep the winding counter-clockwise seen from outside
            base = len(vertices)
            for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                vertices.append(n + a * u + b * v)
                normals.append(n)
            faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return (np.array(vertices, np.float32), np.array(normals, np.float32), np.array(faces, np.uint32))


class InstancedMeshItem(gl.GLGraphicsItem.GLGraphicsItem):
    """Draws ``n`` instances of one unit mesh with a single ``glDrawElementsInstanced``."""

    def __init__(self, vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray) -> None:
        super().__init__()
        self.setGLOptions("opaque")
        self._mesh = np.hstack([vertices, normals]).astype(np.float32)
        self._faces = np.ascontiguousarray(faces, dtype=np.uint32)
        self._instances = np.zeros((0, INSTANCE_FLOATS), np.float32)
        self._dirty = True
        self._program = None
        self._buffers: tuple[int, int, int] | None = None

    @property
    def count(self) -> int:
        return len(self._instances)

    def set_instances(self, centers: np.ndarray, rotations: np.ndarray, scales: np.ndarray,
                      colors: np.ndarray) -> None:
        """Replaces all instances (arrays of shape (n, 3), (n, 4), (n, 3), (n, 4))."""
        n = len(centers)
        data = np.empty((n, INSTANCE_FLOATS), np.float32)
        data[:, 0:3] = centers
        data[:, 3:7] = rotations
        data[:, 7:10] = scales
        data[:, 10:14] = colors
        self._instances = data
        self._dirty = True
        self.update()

    def initializeGL(self) -> None:
        self._program = shaders.compileProgram(
            shaders.compileShader(VERTEX_SHADER, GL.GL_VERTEX_SHADER),
            shaders.compileShader(FRAGMENT_SHADER, GL.GL_FRAGMENT_SHADER),
            validate=False,  # validation needs a bound VAO on some drivers; the draw checks itself
        )
        mesh_vbo, index_vbo, instance_vbo = (int(b) for b in GL.glGenBuffers(3))
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, mesh_vbo)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, self._mesh.nbytes, self._mesh, GL.GL_STATIC_DRAW)
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, index_vbo)
        GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, self._faces.nbytes, self._faces, GL.GL_STATIC_DRAW)
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, 0)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, 0)
        self._buffers = (mesh_vbo, index_vbo, instance_vbo)
        self._dirty = True

    def paint(self) -> None:
        if self._program is None or self._buffers is None or not len(self._instances):
            return
        self.setupGLState()
        mesh_vbo, index_vbo, instance_vbo = self._buffers
        program = self._program
        if self._dirty:
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, instance_vbo)
            GL.glBufferData(GL.GL_ARRAY_BUFFER, self._instances.nbytes, self._instances, GL.GL_DYNAMIC_DRAW)
            self._dirty = False
        GL.glUseProgram(program)
        mvp = np.array(self.mvpMatrix().data(), dtype=np.float32)
        GL.glUniformMatrix4fv(GL.glGetUniformLocation(program, "u_mvp"), 1, False, mvp)
        eye = self.view().cameraPosition()
        GL.glUniform3f(GL.glGetUniformLocation(program, "u_eye"), eye.x(), eye.y(), eye.z())

        enabled: list[int] = []
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, mesh_vbo)
        stride = 6 * 4
        for name, offset in (("a_position", 0), ("a_normal", 3)):
            loc = GL.glGetAttribLocation(program, name)
            if loc >= 0:
                GL.glEnableVertexAttribArray(loc)
                GL.glVertexAttribPointer(loc, 3, GL.GL_FLOAT, False, stride, ctypes.c_void_p(offset * 4))
                GL.glVertexAttribDivisor(loc, 0)
                enabled.append(loc)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, instance_vbo)
        stride = INSTANCE_FLOATS * 4
        for name, size, offset in _ATTRIBUTES:
            loc = GL.glGetAttribLocation(program, name)
            if loc >= 0:
                GL.glEnableVertexAttribArray(loc)
                GL.glVertexAttribPointer(loc, size, GL.GL_FLOAT, False, stride, ctypes.c_void_p(offset * 4))
                GL.glVertexAttribDivisor(loc, 1)
                enabled.append(loc)
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, index_vbo)
        try:
            GL.glDrawElementsInstanced(
                GL.GL_TRIANGLES, self._faces.size, GL.GL_UNSIGNED_INT, None, len(self._instances)
            )
        finally:
            for loc in enabled:
                GL.glVertexAttribDivisor(loc, 0)
                GL.glDisableVertexAttribArray(loc)
            GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, 0)
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, 0)
            GL.glUseProgram(0)
