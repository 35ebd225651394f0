"""Frames of the sample drive, rendered through the sample camera.

The camera is fixed to the vehicle, so the patch of road every pixel sees, in the vehicle frame,
never changes: it is computed once with `pixel_to_ground`. Per frame each pixel's (forward, right) is
turned into a map position by the pose, and the ground is looked up there: the cross-section profile
by lateral offset, noise textures by map position, defects by their own rasters. How coarse a
texture a pixel may read is chosen from the size of its footprint on the road (a mip-map choice
fixed per pixel), so far pixels show averages, not aliasing sparkle.
"""

from __future__ import annotations

import numpy as np

from roadscan.geo.camera import CameraProfile
from roadscan.sample import world
from roadscan.sample.scene import CELL_M as DEFECT_CELL_M, LEVELS, Defect

MAX_GROUND_M = 400.0  # pixels seeing ground further than this show haze only
HAZE_M = 250.0  # distance at which haze covers 63 % of the ground colour
HORIZON = np.array([0.80, 0.85, 0.90], dtype=np.float32)
ZENITH = np.array([0.40, 0.58, 0.84], dtype=np.float32)
DEFECT_VIEW_M = 60.0  # defects further than this are not drawn


class FrameRenderer:
    """Renders RGB frames (uint8, height x width x 3) for vehicle poses along one drive.

    Per-pixel arrays are flat (ground rows x width, row-major) so that every step is one numpy pass.
    """

    def __init__(self, camera: CameraProfile, corridor: world.Corridor, surface: world.Surface,
                 defects: list[Defect]):
        self.camera, self.corridor, self.surface, self.defects = camera, corridor, surface, defects
        w, h = camera.width, camera.height
        u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
        f, r = camera.pixel_to_ground(u, v)
        seen = np.isfinite(f) & (f > 0) & (np.hypot(f, r) < MAX_GROUND_M)
        rows = np.flatnonzero(seen.any(axis=1))
        self.top = int(rows[0]) if len(rows) else h  # first image row that shows ground
        self.shape = (h - self.top, w)
        sl = slice(self.top, h)
        f, r, seen = f[sl].ravel(), r[sl].ravel(), seen[sl].ravel()
        # Footprint of each pixel on the road: distance to its neighbours' ground points.
        f_u, r_u = camera.pixel_to_ground(u[sl].ravel() + 1, v[sl].ravel())
        f_v, r_v = camera.pixel_to_ground(u[sl].ravel(), v[sl].ravel() + 1)
        across = np.where(seen, np.hypot(f_u - f, r_u - r), MAX_GROUND_M)
        along = np.where(seen, np.hypot(f_v - f, r_v - r), MAX_GROUND_M)
        self.f = np.where(seen, f, 0).astype(np.float32)
        self.r = np.where(seen, r, 0).astype(np.float32)
        self.along = along.astype(np.float32)
        largest = np.maximum(across, along)
        blur = np.clip(np.round(np.log2(np.maximum(across, 1e-4) / world.PROFILE_STEP_M)), 0, world.PROFILE_BLURS - 1)
        self.profile_base = (blur * surface.profile.shape[1]).astype(np.int32)
        self.profile = surface.columns
        # Defects are aligned with the road, which runs roughly along the camera's forward axis.
        level_along, level_across = (np.clip(np.floor(np.log2(np.maximum(size, 1e-4) / DEFECT_CELL_M)), 0,
                                             LEVELS - 1).astype(np.int16) for size in (along, across))
        self.defect_level = (level_along * LEVELS + level_across).reshape(self.shape)
        # Texture octaves fade out where a pixel covers more than a few of their cells; each is only
        # evaluated from the first flat index where it has any weight (rows are near-to-far upwards).
        self.octaves = []
        for texture, amount in ((surface.grain, 0.07), (surface.patches, 0.05), (surface.stains, 0.07)):
            weight = np.clip((3 * texture.cell_m - largest) / (2 * texture.cell_m), 0, 1) * amount
            live = np.flatnonzero(weight > 0)
            start = int(live[0]) if len(live) else len(weight)
            self.octaves.append((texture, start, weight[start:].astype(np.float32)))
        haze = np.where(seen, 1 - np.exp(-np.hypot(f, r) / HAZE_M), 1.0)
        self.keep255 = ((1 - haze) * 255).astype(np.float32)
        self.haze255 = [(haze * c * 255 + 0.5).astype(np.float32) for c in HORIZON]  # +0.5 rounds
        self.marking = np.asarray(world.MARKING, dtype=np.float32)
        # Sky: a vertical gradient above the horizon, the same in every frame.
        height = np.clip((camera.horizon_row - (np.arange(h) + 0.5)) / max(camera.horizon_row, 1), 0, 1)
        sky = HORIZON + (ZENITH - HORIZON) * np.sqrt(height)[:, None]
        self.background = np.broadcast_to((sky * 255).astype(np.uint8)[:, None, :], (h, w, 3)).copy()

    def ground_xy(self, x: float, y: float, heading_deg: float) -> tuple[np.ndarray, np.ndarray]:
        """Local map coordinates of every ground pixel for a vehicle pose (position in the map CRS)."""
        h = np.radians(heading_deg)
        sin_h, cos_h = np.float32(np.sin(h)), np.float32(np.cos(h))
        ox, oy = (np.float32(c) for c in (x - self.corridor.origin[0], y - self.corridor.origin[1]))
        return ox + self.f * sin_h + self.r * cos_h, oy + self.f * cos_h - self.r * sin_h

    def render(self, x: float, y: float, heading_deg: float) -> np.ndarray:
        gx, gy = self.ground_xy(x, y, heading_deg)
        s, d = self.corridor.chainage_offset(gx, gy)
        k = self.profile_base + np.minimum(np.abs(d) * np.float32(1 / world.PROFILE_STEP_M),
                                           self.surface.profile.shape[1] - 1).astype(np.int32)
        red, green, blue, strength, centre_line = self.profile
        noise = np.zeros(gx.shape, dtype=np.float32)
        for texture, start, weight in self.octaves:
            noise[start:] += texture.sample(gx[start:], gy[start:]) * weight
        bright = strength[k]
        bright *= noise
        bright += 1
        shade = self._defect_shade(gx, gy, x, y, heading_deg)
        bright *= shade
        # The dashed centre line covers few pixels: blend it in only there.
        on_line = np.flatnonzero(centre_line[k] > 0)
        cover = centre_line[k[on_line]] * world.dash_coverage(s[on_line], self.along[on_line])
        paint = (1 + 0.3 * noise[on_line]) * shade[on_line]
        out = np.empty(gx.shape + (3,), dtype=np.uint8)
        for c, colour in enumerate((red, green, blue)):
            ch = colour[k]
            ch *= bright
            ch[on_line] += cover * (self.marking[c] * paint - ch[on_line])
            ch *= self.keep255
            ch += self.haze255[c]
            np.clip(ch, 0, 255, out=ch)
            out[:, c] = ch
        frame = self.background.copy()
        frame[self.top:] = out.reshape(self.shape + (3,))
        return frame

    def _defect_shade(self, gx, gy, x, y, heading_deg) -> np.ndarray:
        """Brightness multipliers of nearby defects over the pixels of their on-screen windows."""
        shade = np.ones(self.shape, dtype=np.float32)
        gx, gy = gx.reshape(self.shape), gy.reshape(self.shape)
        h = np.radians(heading_deg)
        for defect in self.defects:
            dx, dy = defect.x - x, defect.y - y
            forward = dx * np.sin(h) + dy * np.cos(h)
            if not (-5.0 < forward < DEFECT_VIEW_M):
                continue
            window = self._window(defect, x, y, h)
            if window is None:
                continue
            a, b = defect.to_local(gx[window], gy[window], origin=self.corridor.origin)
            level = self.defect_level[window]
            patch = shade[window]
            for lv in np.unique(level):
                la, lb = divmod(int(lv), LEVELS)
                cells = defect.ripmap[la, lb]
                ia = np.floor((a - defect.a0) * np.float32(1 / (DEFECT_CELL_M * 2 ** la))).astype(np.int32)
                ib = np.floor((b - defect.b0) * np.float32(1 / (DEFECT_CELL_M * 2 ** lb))).astype(np.int32)
                hit = (level == lv) & (ia >= 0) & (ib >= 0) & (ia < cells.shape[0]) & (ib < cells.shape[1])
                patch[hit] *= cells[ia[hit], ib[hit]]
        return shade.reshape(-1)

    def _window(self, defect: Defect, x: float, y: float, h: float):
        """Image rows (relative to `top`) and columns that can show the defect, or None."""
        corners = np.asarray(defect.footprint.exterior.coords)
        dx, dy = corners[:, 0] - x, corners[:, 1] - y
        forward = dx * np.sin(h) + dy * np.cos(h)
        right = dx * np.cos(h) - dy * np.sin(h)
        forward = np.maximum(forward, 0.5)  # parts behind the camera: clamp to just below the image
        u, v = self.camera.ground_to_pixel(forward, right)
        u0, u1 = int(max(np.floor(u.min()) - 1, 0)), int(min(np.ceil(u.max()) + 1, self.camera.width))
        v0, v1 = int(max(np.floor(v.min()) - 1, self.top)), int(min(np.ceil(v.max()) + 1, self.camera.height))
        if u0 >= u1 or v0 >= v1:
            return None
        return slice(v0 - self.top, v1 - self.top), slice(u0, u1)
