"""The demo dataset's timeline plan: a pure, fast function of (n_videos, seed, test_fraction, cut_inside_share).

Nothing is rendered here, so the workflow can list the demo's video ids (and tests can
know every true change) at parse time. All times are snapped to the video's own frame
grid (t = k / fps), so a cut or an action boundary falls exactly on a source frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import ClassVar

import numpy as np

# Five classes that differ in shape, colour and motion (rendered in nemi.synth.render).
CLASSES = ("Swing", "Bounce", "Spin", "Slide", "Pulse")
FRAME_RATES = (Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30))
# H.264 yuv420p needs even sizes; 170x128 and 178x134 are the "odd-ish" ones (not multiples of 16).
SIZES = ((160, 120), (176, 144), (192, 144), (240, 180), (170, 128), (178, 134))
SPLITS = ("train", "test")
VERSION = 1  # bump when the same parameters make other videos; rule synth reruns on it

MIN_DURATION_S, MAX_DURATION_S = 12.0, 40.0
MIN_SCENE_S = 5.0           # shortest shot between two cuts
MIN_ACTION_S, MAX_ACTION_S = 2.0, 6.0
MIN_BACKGROUND_S = 1.2      # background before, between and after actions within a shot
# Share of actions filmed as a broadcast would: the camera switches to a closer view
# when the action begins and back to the wide view when it ends (a visible HOG change);
# the others only show the object appear and vanish in the wide view.
CLOSE_UP_SHARE = 0.75
CLOSE_UP_ZOOM = (1.6, 2.2)
# A cut inside an action (synth.cut_inside_share) falls in this part of it (fractions of its length):
# the object goes on across the cut, only the background changes (another view of the same action).
CUT_INSIDE_AT = (0.3, 0.7)


@dataclass(frozen=True)
class SynthParams:
    """A generated dataset (config section ``synth``): it is a pure function of these."""

    SECTION: ClassVar[str] = "synth"
    n_videos: int  # untrimmed videos
    seed: int
    test_fraction: float  # share of videos in the test split
    cut_inside_share: float  # share of actions the camera cuts inside (to another view of the same action)

    def __post_init__(self) -> None:
        if self.n_videos < 1:
            raise ValueError(f"synth.n_videos must be >= 1, not {self.n_videos}")
        if not 0.0 <= self.test_fraction <= 1.0:
            raise ValueError(f"synth.test_fraction must be in [0, 1], not {self.test_fraction}")
        if not 0.0 <= self.cut_inside_share <= 1.0:
            raise ValueError(f"synth.cut_inside_share must be in [0, 1], not {self.cut_inside_share}")


@dataclass(frozen=True)
class Scene:
    """One shot: a textured scene seen by a slowly panning and zooming camera."""

    t_start: float
    t_end: float
    texture_seed: int
    pan_px_s: tuple[float, float]   # camera drift, working pixels per second (x, y)
    zoom_per_s: float               # relative change of the field of view per second


@dataclass(frozen=True)
class Action:
    label: str
    t_start: float
    t_end: float
    scene: int                      # index of the shot it begins in (a cut inside it starts the next one)
    seed: int                       # position, size, phase of the moving object
    close_up: float = 1.0           # camera zoom while the action lasts (1: no camera change)


@dataclass(frozen=True)
class VideoPlan:
    video_id: str
    split: str
    fps_num: int
    fps_den: int
    width: int
    height: int
    n_frames: int
    scenes: tuple[Scene, ...]
    actions: tuple[Action, ...]
    noise_seed: int

    @property
    def fps(self) -> float:
        return self.fps_num / self.fps_den

    @property
    def duration_s(self) -> float:
        return self.n_frames * self.fps_den / self.fps_num

    @property
    def cuts(self) -> tuple[float, ...]:
        """Times (s) of the camera cuts: where each shot but the first begins."""
        return tuple(s.t_start for s in self.scenes[1:])

    def changes(self) -> list[tuple[float, str]]:
        """All true scene changes as (t_s, kind), kind in cut/action_start/action_end, sorted."""
        ev = [(t, "cut") for t in self.cuts]
        for a in self.actions:
            ev += [(a.t_start, "action_start"), (a.t_end, "action_end")]
        return sorted(ev)


def plan(n_videos: int = 24, seed: int = 0, test_fraction: float = 0.5,
         cut_inside_share: float = 0.0) -> list[VideoPlan]:
    """Plan every demo video: ids ``demo000``..., split, fps, size, shots, actions.

    ``cut_inside_share`` of the actions (drawn per action) get a camera cut strictly inside them,
    to a new shot of another background; the action's span is unchanged. The draws come from a
    stream of their own, so every other part of the plan is the same for any share (0: no such cut).
    """
    if n_videos < 1:
        raise ValueError(f"n_videos must be >= 1, not {n_videos}")
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must be in [0, 1], not {test_fraction}")
    if not 0.0 <= cut_inside_share <= 1.0:
        raise ValueError(f"cut_inside_share must be in [0, 1], not {cut_inside_share}")
    rng = np.random.default_rng([seed, 0x5EED])
    n_test = int(round(n_videos * test_fraction))
    splits = np.array(["test"] * n_test + ["train"] * (n_videos - n_test))
    rng.shuffle(splits)
    # Labels are dealt from shuffled decks of all classes, so every class appears
    # about equally often in each split.
    decks = {s: _Deck(rng) for s in SPLITS}
    plans = [_plan_video(i, str(splits[i]), rng, decks[str(splits[i])]) for i in range(n_videos)]
    if cut_inside_share > 0:
        cut_rng = np.random.default_rng([seed, 0xC07])
        plans = [_cut_inside(p, cut_inside_share, cut_rng) for p in plans]
    return plans


class _Deck:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng, self.cards = rng, []

    def draw(self) -> str:
        if not self.cards:
            self.cards = list(self.rng.permutation(CLASSES))
        return str(self.cards.pop())


def _plan_video(index: int, split: str, rng: np.random.Generator, deck: _Deck) -> VideoPlan:
    fps = FRAME_RATES[int(rng.integers(len(FRAME_RATES)))]
    width, height = SIZES[int(rng.integers(len(SIZES)))]
    n_frames = int(round(rng.uniform(MIN_DURATION_S, MAX_DURATION_S) * fps))

    def snap(t: float) -> float:
        return float(Fraction(round(t * fps)) / fps)

    duration = float(Fraction(n_frames) / fps)
    n_scenes = max(1, min(4, int(duration // 9.0) + int(rng.integers(0, 2))))
    # Cut positions: equal shares jittered, every shot at least MIN_SCENE_S long.
    bounds = [0.0]
    for k in range(1, n_scenes):
        lo = max(bounds[-1] + MIN_SCENE_S, duration * k / n_scenes - 2.0)
        hi = min(duration - MIN_SCENE_S * (n_scenes - k), duration * k / n_scenes + 2.0)
        bounds.append(snap(rng.uniform(lo, max(lo, hi))))
    bounds.append(duration)

    scenes, actions = [], []
    for k in range(n_scenes):
        t0, t1 = bounds[k], bounds[k + 1]
        scenes.append(_new_scene(t0, t1, rng))
        actions += _plan_actions(k, t0, t1, rng, deck, snap)
    if not actions:  # every video holds at least one action: put it in the longest shot
        k = int(np.argmax([s.t_end - s.t_start for s in scenes]))
        mid = (scenes[k].t_start + scenes[k].t_end) / 2
        actions.append(Action(deck.draw(), snap(mid - 1.5), snap(mid + 1.5), k, int(rng.integers(2**31)),
                              float(rng.uniform(*CLOSE_UP_ZOOM))))
    return VideoPlan(f"demo{index:03d}", split, fps.numerator, fps.denominator, width, height, n_frames,
                     tuple(scenes), tuple(actions), int(rng.integers(2**31)))


def _plan_actions(k: int, t0: float, t1: float, rng: np.random.Generator, deck: _Deck, snap) -> list[Action]:
    out: list[Action] = []
    t = t0 + MIN_BACKGROUND_S + rng.uniform(0.0, 1.5)
    for _ in range(int(rng.integers(1, 4))):
        length = rng.uniform(MIN_ACTION_S, MAX_ACTION_S)
        if t + length + MIN_BACKGROUND_S > t1:
            break
        zoom = float(rng.uniform(*CLOSE_UP_ZOOM)) if rng.random() < CLOSE_UP_SHARE else 1.0
        out.append(Action(deck.draw(), snap(t), snap(t + length), k, int(rng.integers(2**31)), zoom))
        t += length + MIN_BACKGROUND_S + rng.uniform(0.0, 2.0)
    return out


def _cut_inside(p: VideoPlan, share: float, rng: np.random.Generator) -> VideoPlan:
    """``p`` with a cut inside each of ``share`` of its actions (drawn per action): the shot the action
    begins in is split there, and the part after the cut gets a new texture and camera path."""
    fps = Fraction(p.fps_num, p.fps_den)
    cuts = []
    for a in p.actions:
        if rng.random() >= share:
            continue
        lo, hi = (math.ceil(float(t * fps) - 1e-9) for t in (a.t_start, a.t_end))   # frames of the action
        k = int(round(lo + rng.uniform(*CUT_INSIDE_AT) * (hi - lo)))
        if lo < k < hi:                                        # strictly inside, on the frame grid
            cuts.append(float(Fraction(k) / fps))
    if not cuts:
        return p
    scenes: list[Scene] = []
    for s in p.scenes:
        t0 = s.t_start
        for c in sorted(c for c in cuts if s.t_start < c < s.t_end):
            scenes.append(replace(s, t_start=t0, t_end=c) if t0 == s.t_start else _new_scene(t0, c, rng))
            t0 = c
        scenes.append(replace(s, t_start=t0) if t0 == s.t_start else _new_scene(t0, s.t_end, rng))
    actions = tuple(replace(a, scene=max(i for i, s in enumerate(scenes) if s.t_start <= a.t_start))
                    for a in p.actions)
    return replace(p, scenes=tuple(scenes), actions=actions)


def _new_scene(t0: float, t1: float, rng: np.random.Generator) -> Scene:
    """A shot from ``t0`` to ``t1`` (s): a new texture, camera drift and zoom."""
    angle, speed = rng.uniform(0, 2 * math.pi), rng.uniform(1.0, 4.0)
    return Scene(t0, t1, int(rng.integers(2**31)), (speed * math.cos(angle), speed * math.sin(angle)),
                 float(rng.uniform(-0.012, 0.012)))
