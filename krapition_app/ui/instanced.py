"""Rendering many bodies of one shape in a single draw call.

Spheres are impostors: a camera-facing quad per sphere, ray-traced against the exact sphere in the
fragment shader (which also writes the depth), so a sphere costs two triangles at any size.

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

SPHERE_VERTEX_SHADER = """
#version 120
uniform mat4 u_view;
uniform mat4 u_proj;
attribute vec3 a_position;  // corner of the unit quad, (+-1, +-1, 0)
attribute vec3 a_normal;    // unused: the quad's normal is computed per sphere
attribute vec3 i_center;
attribute vec4 i_rotation;
attribute vec3 i_scale;     // the radius, three times
attribute vec4 i_color;
varying vec3 v_pos;         // view-space point on the billboard
varying vec3 v_center;      // view-space centre of the sphere
varying float v_radius;
varying vec4 v_color;
varying vec4 v_rotation;

void main() {
    vec3 c = (u_view * vec4(i_center, 1.0)).xyz;
    float r = i_scale.x;
    float d = length(c);
    // a billboard through the centre, facing the eye, just big enough to hold the silhouette:
    // the tangent cone from the eye has radius r*d/sqrt(d^2 - r^2) in that plane
    float half_size = r * d / sqrt(max(d * d - r * r, 1e-8)) * 1.02;
    vec3 w = c / max(d, 1e-8);
    vec3 up = abs(w.y) < 0.99 ? vec3(0.0, 1.0, 0.0) : vec3(1.0, 0.0, 0.0);
    vec3 u = normalize(cross(w, up));  // right on screen
    vec3 v = cross(u, w);              // up on screen: (u, v) wind counter-clockwise
    vec3 p = c + (a_position.x * u + a_position.y * v) * half_size;
    v_pos = p;
    v_center = c;
    v_radius = r;
    v_color = i_color;
    v_rotation = i_rotation;
    gl_Position = d > r ? u_proj * vec4(p, 1.0) : vec4(2.0, 2.0, 2.0, 1.0);  // eye inside: skip
}
"""

SPHERE_FRAGMENT_SHADER = """
#version 120
uniform mat4 u_view;
uniform mat4 u_proj;
varying vec3 v_pos;
varying vec3 v_center;
varying float v_radius;
varying vec4 v_color;
varying vec4 v_rotation;

vec3 rotate(vec4 q, vec3 v) {
    return v + 2.0 * cross(q.yzw, cross(q.yzw, v) + q.x * v);
}

void main() {
    // ray from the eye (the origin of view space) through this fragment, against the sphere
    vec3 dir = normalize(v_pos);
    float b = dot(dir, v_center);
    float disc = b * b - dot(v_center, v_center) + v_radius * v_radius;
    if (disc < 0.0) discard;
    vec3 hit = (b - sqrt(disc)) * dir;
    vec3 n = (hit - v_center) / v_radius;
    vec4 clip = u_proj * vec4(hit, 1.0);
    gl_FragDepth = 0.5 * clip.z / clip.w + 0.5;

    mat3 rot = mat3(u_view);  // world -> view rotation (the view matrix has no scale)
    vec3 key = rot * normalize(vec3(0.45, 0.35, 1.0));
    vec3 fill = rot * normalize(vec3(-0.6, -0.4, 0.3));
    vec3 view = -dir;
    float diffuse = max(dot(n, key), 0.0) * 0.75 + max(dot(n, fill), 0.0) * 0.2;
    float spec = pow(max(dot(n, normalize(key + view)), 0.0), 40.0) * 0.35;
    float rim = pow(1.0 - max(dot(n, view), 0.0), 3.0) * 0.15;
    // a band around the body's own equator shows it spin and roll
    vec3 world_n = n * rot;  // view -> world (transpose of the rotation)
    vec4 inverse_q = vec4(v_rotation.x, -v_rotation.yzw);
    vec3 local_n = rotate(inverse_q, world_n);
    float band = 1.0 - 0.35 * (1.0 - smoothstep(0.10, 0.16, abs(local_n.z)));
    vec3 rgb = v_color.rgb * (0.28 + diffuse) * band + vec3(spec + rim);
    gl_FragColor = vec4(rgb, v_color.a);
}
"""

#: floats per instance: centre (3), rotation (4), scale (3), colour (4)
INSTANCE_FLOATS = 14
_MESH_LAYOUT = (("a_position", 3, 0), ("a_normal", 3, 3))
_INSTANCE_LAYOUT = (("i_center", 3, 0), ("i_rotation", 4, 3), ("i_scale", 3, 7), ("i_color", 4, 10))


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
            if sign > 0:
                u, v = v, u  # u x v must point inwards for this corner order to wind outwards CCW
            base = len(vertices)
            for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                vertices.append(n + a * u + b * v)
                normals.append(n)
            faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return (np.array(vertices, np.float32), np.array(normals, np.float32), np.array(faces, np.uint32))


def unit_quad() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The billboard of a sphere impostor: corners (+-1, +-1, 0)."""
    vertices = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], np.float32)
    return vertices, np.zeros_like(vertices), np.array([[0, 1, 2], [0, 2, 3]], np.uint32)


class InstancedMeshItem(gl.GLGraphicsItem.GLGraphicsItem):
    """Draws ``n`` copies of one unit mesh, each placed by its instance data, in one draw call.

    The instance data is repeated per vertex on the CPU (one ``np.repeat``) and drawn with a single
    ``glDrawElements``, instead of ``glDrawElementsInstanced``: Mesa's llvmpipe runs its vertex
    pipeline once per instance, which made 2,000 instanced boxes three times slower than the
    same boxes expanded (measured here). The shaders do the placing either way.
    """

    def __init__(self, vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray,
                 vertex_shader: str = VERTEX_SHADER, fragment_shader: str = FRAGMENT_SHADER) -> None:
        super().__init__()
        self._sources = (vertex_shader, fragment_shader)
        # closed meshes, wound counter-clockwise from outside: the back faces need no rasterising
        self.setGLOptions({GL.GL_DEPTH_TEST: True, GL.GL_BLEND: False, GL.GL_CULL_FACE: True})
        self._mesh = np.hstack([vertices, normals]).astype(np.float32)
        self._faces = np.ascontiguousarray(faces, dtype=np.uint32)
        self._instances = np.zeros((0, INSTANCE_FLOATS), np.float32)
        self._dirty = True
        self._indexed_count = -1  # the instance count the index buffer was built for
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
            shaders.compileShader(self._sources[0], GL.GL_VERTEX_SHADER),
            shaders.compileShader(self._sources[1], GL.GL_FRAGMENT_SHADER),
            validate=False,  # validation needs a bound VAO on some drivers; the draw checks itself
        )
        mesh_vbo, instance_vbo, index_vbo = (int(b) for b in GL.glGenBuffers(3))
        self._buffers = (mesh_vbo, instance_vbo, index_vbo)
        self._dirty = True
        self._indexed_count = -1

    def _upload(self) -> None:
        """Per vertex: the mesh's position and normal (rebuilt only when n changes) and its
        instance's data (every time the instances change)."""
        mesh_vbo, instance_vbo, index_vbo = self._buffers  # type: ignore[misc]
        n, per_mesh = len(self._instances), len(self._mesh)
        if n != self._indexed_count:
            tiled = np.ascontiguousarray(np.tile(self._mesh, (n, 1)))
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, mesh_vbo)
            GL.glBufferData(GL.GL_ARRAY_BUFFER, tiled.nbytes, tiled, GL.GL_STATIC_DRAW)
            offsets = (np.arange(n, dtype=np.uint32) * per_mesh)[:, None, None]
            indices = np.ascontiguousarray((self._faces[None] + offsets).reshape(-1))
            GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, index_vbo)
            GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, indices.nbytes, indices, GL.GL_STATIC_DRAW)
            GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, 0)
            self._indexed_count = n
        repeated = np.repeat(self._instances, per_mesh, axis=0)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, instance_vbo)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, repeated.nbytes, repeated, GL.GL_DYNAMIC_DRAW)
        self._dirty = False

    def paint(self) -> None:
        if self._program is None or self._buffers is None or not len(self._instances):
            return
        self.setupGLState()
        if self._dirty:
            self._upload()
        mesh_vbo, instance_vbo, index_vbo = self._buffers
        program = self._program
        GL.glUseProgram(program)
        for name, matrix in (("u_mvp", self.mvpMatrix()), ("u_view", self.modelViewMatrix()),
                             ("u_proj", self.projectionMatrix())):
            loc = GL.glGetUniformLocation(program, name)
            if loc >= 0:
                GL.glUniformMatrix4fv(loc, 1, False, np.array(matrix.data(), dtype=np.float32))
        eye_loc = GL.glGetUniformLocation(program, "u_eye")
        if eye_loc >= 0:
            eye = self.view().cameraPosition()
            GL.glUniform3f(eye_loc, eye.x(), eye.y(), eye.z())

        enabled: list[int] = []
        streams = ((mesh_vbo, 6, _MESH_LAYOUT), (instance_vbo, INSTANCE_FLOATS, _INSTANCE_LAYOUT))
        for vbo, floats, layout in streams:
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, vbo)
            for name, size, offset in layout:
                loc = GL.glGetAttribLocation(program, name)
                if loc >= 0:
                    GL.glEnableVertexAttribArray(loc)
                    GL.glVertexAttribPointer(loc, size, GL.GL_FLOAT, False, floats * 4,
                                             ctypes.c_void_p(offset * 4))
                    enabled.append(loc)
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, index_vbo)
        try:
            count = self._faces.size * len(self._instances)
            GL.glDrawElements(GL.GL_TRIANGLES, count, GL.GL_UNSIGNED_INT, None)
        finally:
            for loc in enabled:
                GL.glDisableVertexAttribArray(loc)
            GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, 0)
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, 0)
            GL.glUseProgram(0)


def sphere_impostors() -> InstancedMeshItem:
    """Spheres as ray-traced billboards: two triangles each, exact silhouettes and depth."""
    return InstancedMeshItem(*unit_quad(), SPHERE_VERTEX_SHADER, SPHERE_FRAGMENT_SHADER)
