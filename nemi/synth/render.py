"""Rendering a planned demo video: textured shots, camera drift, sensor noise, moving objects.

Each shot is a procedural texture (colour gradient + multi-scale noise + random
shapes) on a canvas larger than the frame, seen through a camera that drifts and
zooms slowly; a cut switches to another texture (a cut inside an action changes only the
background: the object goes on as it was). Most actions are filmed in a
close-up (the camera switches to a narrower view while they last). An action is a coloured object
whose shape, colour and motion depend on its class (see ``_draw_object``), present
from its start to its end. Every frame gets Gaussian sensor noise. Frames are
encoded as H.264 (libx264, yuv420p) with PyAV.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from collections.abc import Iterator

import cv2
import numpy as np

from nemi.synth.plan import Action, Scene, VideoPlan

CANVAS_MARGIN = 1.35        # canvas side / frame side: room for the camera to drift and zoom
NOISE_SIGMA = 2.5           # sensor noise, grey levels
NOISE_POOL = 8              # noise images reused in random order (drawing fresh noise per frame is slow)
CLASS_STYLE = {             # colour (RGB), size as a fraction of the frame height
    "Swing": ((220, 40, 40), 0.16),
    "Bounce": ((240, 210, 30), 0.20),
    "Spin": ((40, 90, 230), 0.55),
    "Slide": ((30, 190, 70), 0.34),
    "Pulse": ((200, 50, 200), 0.30),
}


def scene_texture(seed: int, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8 procedural texture: gradient + noise octaves + shapes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    a = rng.uniform(0, 2 * math.pi)
    g = (np.cos(a) * xx / width + np.sin(a) * yy / height)[..., None]
    c0, c1 = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    img = c0 * (1 - g) + c1 * g
    for cell, amp in ((48, 40.0), (16, 28.0), (6, 18.0), (3, 10.0)):
        small = rng.normal(0, 1, (height // cell + 2, width // cell + 2, 3)).astype(np.float32)
        img += amp * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(12, 30))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(width)), int(rng.integers(height))
        r = int(rng.integers(max(3, height // 30), max(4, height // 6)))
        kind = int(rng.integers(4))
        if kind == 0:
            cv2.rectangle(img, (x - r, y - r // 2), (x + r, y + r // 2), colour, -1)
        elif kind == 1:
            cv2.circle(img, (x, y), r, colour, -1, cv2.LINE_AA)
        elif kind == 2:
            x2, y2 = x + int(rng.integers(-3 * r, 3 * r)), y + int(rng.integers(-3 * r, 3 * r))
            cv2.line(img, (x, y), (x2, y2), colour, int(rng.integers(1, 4)), cv2.LINE_AA)
        else:
            pts = rng.integers(-r, r, (3, 2)) + (x, y)
            cv2.fillPoly(img, [pts.astype(np.int32)], colour, cv2.LINE_AA)
    return img


class _Shot:
    """A scene texture and the camera path over it."""

    def __init__(self, scene: Scene, width: int, height: int) -> None:
        self.scene, self.width, self.height = scene, width, height
        self.cw, self.ch = int(width * CANVAS_MARGIN), int(height * CANVAS_MARGIN)
        self.canvas = scene_texture(scene.texture_seed, self.cw, self.ch)

    def view(self, t: float, zoom: float = 1.0) -> np.ndarray:
        """The camera's view at time ``t`` (s); ``zoom`` > 1 narrows the field of view (a close-up)."""
        dt = t - self.scene.t_start
        span = max(self.scene.t_end - self.scene.t_start, 1e-6)
        # Drift bounded to the canvas margin: the camera turns round half-way if needed.
        room_x, room_y = (self.cw - self.width) * 0.4, (self.ch - self.height) * 0.4
        vx, vy = self.scene.pan_px_s
        vx = math.copysign(min(abs(vx), 2 * room_x / span), vx)
        vy = math.copysign(min(abs(vy), 2 * room_y / span), vy)
        cx = self.cw / 2 + vx * (dt - span / 2)
        cy = self.ch / 2 + vy * (dt - span / 2)
        s = (1.0 + self.scene.zoom_per_s * (dt - span / 2)) / zoom
        m = np.array([[s, 0, cx - s * self.width / 2], [0, s, cy - s * self.height / 2]], dtype=np.float32)
        return cv2.warpAffine(self.canvas, m, (self.width, self.height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REFLECT)


def _draw_object(img: np.ndarray, action: Action, t: float) -> None:
    """Draw ``action``'s object at time ``t`` (s) into ``img`` (in place)."""
    h, w = img.shape[:2]
    rng = np.random.default_rng(action.seed)
    colour, rel = CLASS_STYLE[action.label]
    r = rel * h
    u = t - action.t_start
    phase = rng.uniform(0, 2 * math.pi)
    x0, y0 = rng.uniform(0.3, 0.7) * w, rng.uniform(0.35, 0.65) * h
    dark = tuple(int(c * 0.4) for c in colour)
    aa = cv2.LINE_AA
    if action.label == "Swing":      # pendulum: rod from a pivot, disc at its end
        ang = 0.9 * math.sin(2 * math.pi * 0.7 * u + phase)
        px, py = x0, 0.08 * h
        length = 0.6 * h
        bx, by = px + length * math.sin(ang), py + length * math.cos(ang)
        cv2.line(img, (int(px), int(py)), (int(bx), int(by)), dark, max(2, h // 60), aa)
        cv2.circle(img, (int(bx), int(by)), int(r), colour, -1, aa)
    elif action.label == "Bounce":   # ball bouncing on a floor line
        hop = abs(math.sin(2 * math.pi * 0.9 * u + phase))
        by = 0.9 * h - r - hop * 0.5 * h
        bx = x0 + 0.15 * w * math.sin(2 * math.pi * 0.2 * u)
        cv2.line(img, (int(0.1 * w), int(0.9 * h)), (int(0.9 * w), int(0.9 * h)), dark, max(2, h // 50), aa)
        cv2.circle(img, (int(bx), int(by)), int(r), colour, -1, aa)
    elif action.label == "Spin":     # four-armed cross rotating about its centre
        ang = 2 * math.pi * 0.35 * u + phase
        for k in range(4):
            a = ang + k * math.pi / 2
            cv2.line(img, (int(x0), int(y0)), (int(x0 + r * math.cos(a)), int(y0 + r * math.sin(a))),
                     colour, max(3, h // 18), aa)
        cv2.circle(img, (int(x0), int(y0)), max(3, h // 20), dark, -1, aa)
    elif action.label == "Slide":    # box sliding left and right (triangle wave)
        s = 2 * abs(((0.25 * u + phase / (2 * math.pi)) % 1.0) - 0.5)
        bx = (0.2 + 0.6 * s) * w
        cv2.rectangle(img, (int(bx - r / 2), int(y0 - r / 2)), (int(bx + r / 2), int(y0 + r / 2)), colour, -1)
        cv2.rectangle(img, (int(bx - r / 2), int(y0 - r / 2)), (int(bx + r / 2), int(y0 + r / 2)), dark,
                      max(2, h // 60))
    else:                            # Pulse: diamond growing and shrinking
        k = r * (0.7 + 0.3 * math.sin(2 * math.pi * 0.6 * u + phase))
        pts = np.array([[x0, y0 - k], [x0 + k, y0], [x0, y0 + k], [x0 - k, y0]], dtype=np.int32)
        cv2.fillPoly(img, [pts], colour, aa)
        cv2.polylines(img, [pts], True, dark, max(2, h // 60), aa)


def render_frames(p: VideoPlan) -> Iterator[np.ndarray]:
    """Yield the (height, width, 3) uint8 RGB frames of ``p``, frame k at time k / fps."""
    rng = np.random.default_rng(p.noise_seed)
    noise = [rng.normal(0, NOISE_SIGMA, (p.height, p.width, 3)).astype(np.int16) for _ in range(NOISE_POOL)]
    fps = Fraction(p.fps_num, p.fps_den)
    shot, shot_index = None, -1
    for k in range(p.n_frames):
        t = float(Fraction(k) / fps)
        idx = next(i for i, s in enumerate(p.scenes) if t < s.t_end or i == len(p.scenes) - 1)
        if idx != shot_index:
            shot, shot_index = _Shot(p.scenes[idx], p.width, p.height), idx
        active = [a for a in p.actions if a.t_start <= t < a.t_end]
        img = shot.view(t, max((a.close_up for a in active), default=1.0))
        for a in active:
            _draw_object(img, a, t)
        n = noise[int(rng.integers(NOISE_POOL))]
        yield np.clip(img.astype(np.int16) + n, 0, 255).astype(np.uint8)


def encode_video(frames: Iterator[np.ndarray], path: str | os.PathLike, fps: Fraction, width: int, height: int,
                 crf: int = 20) -> None:
    """Encode RGB frames as H.264 (libx264 ultrafast, yuv420p) into ``path`` (mp4)."""
    import av

    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": str(crf), "threads": "1"}
        for frame in frames:
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
