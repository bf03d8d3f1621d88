"""TV-L1 optical flow in torch, on batches of frame pairs, on CPU or CUDA with the same code.

The duality-based TV-L1 of Zach, Pock and Bischof (2007) as OpenCV's CUDA
``cv::cuda::OpticalFlowDual_TVL1`` computes it (the flow dense_flow used for the
published Thumos14 features), followed step by step:

- pyramid: each level is the previous one resized by ``scale_step`` with CUDA's
  bilinear ``cuda::resize`` (source coordinate ``dst * step``, top-left aligned, not
  OpenCV CPU's half-pixel centres; edge pixels repeated), size ``round(n * step)``;
  levels stop before a side falls under 16 px; the flow is upsampled the same way
  and multiplied by ``1 / scale_step``;
- per level, the dual variables start at zero and persist across the warps;
- warping: bicubic with the Keys kernel a = -0.5 and edge-clamped reads, as CUDA's
  ``warpBackward`` (OpenCV CPU's ``remap`` uses a = -0.75 and a zero border); the
  gradient of I1 is the centred difference with replicated edges, warped with I1;
- each iteration: thresholding step, ``u = v + theta div p``, then the dual step
  ``p = (p + tau/theta grad u) / (1 + tau/theta |grad u|)`` (forward differences,
  zero at the last row/column; backward-difference divergence);
- stopping: CUDA's rule, per pair: the squared change of u summed over the level is
  computed on odd iterations while the previous error is under ``epsilon^2 * area``,
  and the level's warp stops once it is. A pair that has stopped is left alone while
  the others of its batch go on, so a pair gets the same flow in any batch.

No median filtering (the CUDA implementation has none). ``TVL1Params.border="zero"``
reads zeros outside the image in the warp as OpenCV's CPU does: a diagnostic (see
benchmarks/compare_tvl1.py); the edge-clamped default is CUDA's. Frames are uint8 grey
(B, H, W) or float in the same 0-255 range; the flow is float32 (B, H, W, 2) in px,
``flow[..., 0]`` horizontal, from frame 0 to frame 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nemi.errors import NemiInputError

FLT_EPSILON = float(np.finfo(np.float32).eps)
MIN_LEVEL_PX = 16


@dataclass(frozen=True)
class TVL1Params:
    """The parameters of ``cv::cuda::OpticalFlowDual_TVL1::create``, with its defaults."""

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    num_scales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    iterations: int = 300
    scale_step: float = 0.8
    gamma: float = 0.0
    # Reads of the warp outside the image: "replicate" as CUDA's texture (clamp), or "zero"
    # as OpenCV CPU's remap (BORDER_CONSTANT); a diagnostic that isolates the border.
    border: str = "replicate"

    def __post_init__(self) -> None:
        if not (self.tau > 0 and self.lambda_ > 0 and self.theta > 0 and self.gamma >= 0 and self.epsilon >= 0):
            raise ValueError(f"TV-L1: tau, lambda, theta must be > 0, gamma and epsilon >= 0: {self}")
        if self.num_scales < 1 or self.warps < 1 or self.iterations < 1:
            raise ValueError(f"TV-L1: num_scales, warps, iterations must be >= 1: {self}")
        if self.border not in ("replicate", "zero"):
            raise ValueError(f"TV-L1: border must be replicate or zero, not {self.border!r}")
        if not 0 < self.scale_step < 1:
            raise ValueError(f"TV-L1: scale_step must be in (0, 1), not {self.scale_step}")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["lambda"] = d.pop("lambda_")
        return d


def resolve_device(name: str | torch.device | None) -> torch.device:
    """``auto``/None: CUDA when available, else CPU; a CUDA device asked for without one is an error."""
    if name is None or str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise NemiInputError(f"tvl1-torch: device {str(name)!r} is not a torch device ({e})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise NemiInputError(f"tvl1-torch: device {str(name)!r} asked for, but no CUDA device is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise NemiInputError(f"tvl1-torch: device {str(name)!r} asked for, but only "
                                 f"{torch.cuda.device_count()} CUDA device(s) exist")
    return device


def _resize_linear(x: torch.Tensor, out_h: int, out_w: int, step_y: float, step_x: float) -> torch.Tensor:
    """CUDA ``cuda::resize`` INTER_LINEAR: source coordinate ``dst * step``, edge reads clamped; (..., H, W)."""
    h, w = x.shape[-2:]

    def taps(n_out: int, step: float, n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s = torch.arange(n_out, device=x.device, dtype=torch.float32) * np.float32(step)
        i0 = torch.floor(s)
        frac = s - i0
        i0 = i0.long().clamp(0, n_in - 1)
        return i0, (i0 + 1).clamp(max=n_in - 1), frac

    x0, x1, fx = taps(out_w, step_x, w)
    x = x.index_select(-1, x0) * (1 - fx) + x.index_select(-1, x1) * fx
    y0, y1, fy = taps(out_h, step_y, h)
    fy = fy[:, None]
    return x.index_select(-2, y0) * (1 - fy) + x.index_select(-2, y1) * fy


def _keys_cubic(t: torch.Tensor) -> torch.Tensor:
    """Keys' cubic kernel with a = -0.5 (CUDA ``bicubicCoeff``)."""
    t = t.abs()
    near = (1.5 * t - 2.5) * t * t + 1.0
    far = ((-0.5 * t + 2.5) * t - 4.0) * t + 2.0
    return torch.where(t <= 1.0, near, torch.where(t < 2.0, far, torch.zeros_like(t)))


def _warp_bicubic(imgs: torch.Tensor, u: torch.Tensor, border: str = "replicate") -> torch.Tensor:
    """``imgs`` (B, C, H, W) sampled at ``(x + u1, y + u2)``: 4x4 taps, reads outside the image clamped
    to its edge (``replicate``) or zero (``zero``)."""
    b, c, h, w = imgs.shape
    ys = torch.arange(h, device=imgs.device, dtype=torch.float32)[:, None]
    xs = torch.arange(w, device=imgs.device, dtype=torch.float32)[None, :]
    wx = xs + u[:, 0]
    wy = ys + u[:, 1]
    x0 = torch.floor(wx)
    y0 = torch.floor(wy)
    kx = [_keys_cubic(wx - (x0 + k)) for k in (-1, 0, 1, 2)]
    ky = [_keys_cubic(wy - (y0 + k)) for k in (-1, 0, 1, 2)]
    wsum = (sum(kx) * sum(ky)).reshape(b, 1, h * w)
    if border == "zero":
        kx = [k * ((x0 + d >= 0) & (x0 + d <= w - 1)) for k, d in zip(kx, (-1, 0, 1, 2))]
        ky = [k * ((y0 + d >= 0) & (y0 + d <= h - 1)) for k, d in zip(ky, (-1, 0, 1, 2))]
    xi = [(x0 + k).clamp(0, w - 1).long() for k in (-1, 0, 1, 2)]
    yi = [(y0 + k).clamp(0, h - 1).long() * w for k in (-1, 0, 1, 2)]
    flat = imgs.reshape(b, c, h * w)
    out = torch.zeros_like(flat)
    for j in range(4):
        for i in range(4):
            idx = (yi[j] + xi[i]).reshape(b, 1, h * w).expand(b, c, h * w)
            out += (ky[j] * kx[i]).reshape(b, 1, h * w) * flat.gather(2, idx)
    return (out / wsum).reshape(b, c, h, w)


def _centred_gradient(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Half the difference of the neighbours, edges replicated; (B, H, W) -> two (B, H, W)."""
    px = F.pad(img[:, None], (1, 1, 0, 0), mode="replicate")[:, 0]
    py = F.pad(img[:, None], (0, 0, 1, 1), mode="replicate")[:, 0]
    return 0.5 * (px[..., 2:] - px[..., :-2]), 0.5 * (py[..., 2:, :] - py[..., :-2, :])


class _Level:
    """The per-warp constants of a batch of pairs at one level."""

    def __init__(self, i0: torch.Tensor, i1: torch.Tensor, i1x: torch.Tensor, i1y: torch.Tensor, u: torch.Tensor,
                 gamma: float, border: str):
        w = _warp_bicubic(torch.stack((i1, i1x, i1y), dim=1), u[:, :2], border)
        i1w, i1wx, i1wy = w[:, 0], w[:, 1], w[:, 2]
        grad = i1wx * i1wx + i1wy * i1wy
        self.rho_c = i1w - i1wx * u[:, 0] - i1wy * u[:, 1] - i0
        # u3 (gamma > 0) models illumination: its "image gradient" is the constant gamma
        channels = (i1wx, i1wy, torch.full_like(i1wx, gamma)) if gamma else (i1wx, i1wy)
        self.wgrad = torch.stack(channels, dim=1)
        # -1/|grad I1|^2, kept finite where the gradient vanishes: the thresholding step then
        # saturates at +-lambda*theta as CUDA's branches do (within FLT_EPSILON of its result).
        self.neg_inv_grad = -1.0 / grad.clamp_min(FLT_EPSILON)

    def select(self, idx: torch.Tensor) -> None:
        self.rho_c, self.wgrad, self.neg_inv_grad = self.rho_c[idx], self.wgrad[idx], self.neg_inv_grad[idx]


class _Buffers:
    """Work arrays of one iteration, reused: each step writes into them in place (eager torch is memory-bound)."""

    def __init__(self, u: torch.Tensor):
        # forward differences of u: zero on the last column (x) and last row (y), never written there
        self.gx = torch.zeros_like(u)
        self.gy = torch.zeros_like(u)
        self.norm = torch.empty_like(u)
        self.div = torch.empty_like(u)
        self.rho = torch.empty_like(u[:, 0])


def _step(level: _Level, u: torch.Tensor, px: torch.Tensor, py: torch.Tensor, buf: _Buffers,
          params: TVL1Params) -> None:
    """One iteration, in place: thresholding, ``u = v + theta div p``, then the dual step on p = (px, py)."""
    l_t = params.lambda_ * params.theta
    taut = params.tau / params.theta
    # rho = rho_c + grad I1 . u (+ gamma u3)
    rho = buf.rho
    torch.mul(level.wgrad[:, 0], u[:, 0], out=rho).add_(level.rho_c)
    for k in range(1, u.shape[1]):
        rho.addcmul_(level.wgrad[:, k], u[:, k])
    # v = u + clamp(-rho / |grad I1|^2, -l_t, l_t) grad I1 (the three branches of TH in one)
    rho.mul_(level.neg_inv_grad).clamp_(-l_t, l_t)
    u.addcmul_(rho[:, None], level.wgrad)
    # div p: backward differences, p = 0 before the first column / row
    div = torch.add(px, py, out=buf.div)
    div[..., 1:].sub_(px[..., :-1])
    div[..., 1:, :].sub_(py[..., :-1, :])
    u.add_(div, alpha=params.theta)
    # p = (p + taut grad u) / (1 + taut |grad u|), per flow component
    gx, gy = buf.gx, buf.gy
    torch.sub(u[..., 1:], u[..., :-1], out=gx[..., :-1])
    torch.sub(u[..., 1:, :], u[..., :-1, :], out=gy[..., :-1, :])
    norm = torch.mul(gx, gx, out=buf.norm).addcmul_(gy, gy).sqrt_().mul_(taut).add_(1.0)
    px.add_(gx, alpha=taut).div_(norm)
    py.add_(gy, alpha=taut).div_(norm)


def _iterate(level: _Level, u: torch.Tensor, p: tuple[torch.Tensor, torch.Tensor], params: TVL1Params,
             scaled_eps: float) -> None:
    """One warp's iterations on all pairs, in place, each pair stopping by CUDA's rule.

    Pairs that have stopped are written back and dropped from the work arrays, so the
    others go on without them and no pair's result depends on its batch.
    """
    b = u.shape[0]
    error = np.full(b, np.inf)
    prev_error = np.zeros(b)
    active = np.arange(b)  # pairs (indices into u, p) still iterating
    ua, pa = u, p  # u and p themselves while every pair is active (pa: the tensors px, py)
    buf = _Buffers(u)
    for n in range(params.iterations):
        calc = (params.epsilon > 0 and n % 2 == 1) & (prev_error[active] < scaled_eps)
        u_old = ua[:, :2].clone() if calc.any() else None
        _step(level, ua, *pa, buf, params)
        if u_old is not None:
            u_old.sub_(ua[:, :2]).square_()
            err = u_old.sum((1, 2, 3), dtype=torch.float64).cpu().numpy()
            error[active] = np.where(calc, err, np.inf)
            prev_error[active] = np.where(calc, err, prev_error[active] - scaled_eps)
        else:
            prev_error[active] -= scaled_eps
        done = error[active] <= scaled_eps
        last = n == params.iterations - 1
        if done.any() or last:
            if ua is not u:
                idx = torch.from_numpy(active).to(u.device)
                u[idx] = ua
                p[0][idx], p[1][idx] = pa
            if done.all() or last:
                return
            keep = ~done
            active = active[keep]
            sel = torch.from_numpy(np.flatnonzero(keep)).to(u.device)
            level.select(sel)
            ua, pa = ua[sel], (pa[0][sel], pa[1][sel])
            buf = _Buffers(ua)


def _scale_level(i0: torch.Tensor, i1: torch.Tensor, u: torch.Tensor, params: TVL1Params) -> None:
    i1x, i1y = _centred_gradient(i1)
    h, w = u.shape[-2:]
    p = (torch.zeros_like(u), torch.zeros_like(u))
    scaled_eps = params.epsilon * params.epsilon * h * w
    for _ in range(params.warps):
        level = _Level(i0, i1, i1x, i1y, u, params.gamma, params.border)
        _iterate(level, u, p, params, scaled_eps)


Frames = np.ndarray | torch.Tensor | Sequence[np.ndarray]


def _as_batch(frames: Frames, device: torch.device, name: str) -> torch.Tensor:
    if isinstance(frames, (list, tuple)):
        shapes = sorted({tuple(f.shape) for f in frames})
        if len(shapes) > 1:
            raise NemiInputError(f"tvl1-torch: the {name} of a batch must have one size, not {shapes}")
        frames = np.stack(frames) if frames else np.zeros((0, 0, 0), np.uint8)
    t = torch.as_tensor(np.ascontiguousarray(frames) if isinstance(frames, np.ndarray) else frames)
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3:
        raise NemiInputError(f"tvl1-torch: {name} must be grey frames (B, H, W), not shape {tuple(t.shape)}")
    return t.to(device=device, dtype=torch.float32)


@torch.no_grad()
def tvl1_flow(frames0: Frames, frames1: Frames, params: TVL1Params = TVL1Params(),
              device: str | torch.device | None = "auto") -> np.ndarray:
    """Flow from ``frames0[i]`` to ``frames1[i]`` for each pair: (B, H, W) grey -> float32 (B, H, W, 2) px."""
    dev = resolve_device(device)
    i0 = _as_batch(frames0, dev, "first frames")
    i1 = _as_batch(frames1, dev, "second frames")
    if i0.shape != i1.shape:
        raise NemiInputError(f"tvl1-torch: the frames of a batch must have one size: first frames "
                             f"{tuple(i0.shape)}, second frames {tuple(i1.shape)}")
    b, h, w = i0.shape
    if b == 0:
        return np.zeros((0, h, w, 2), np.float32)
    if h < 2 or w < 2:
        raise NemiInputError(f"tvl1-torch: frames of {h}x{w} px are too small (at least 2x2)")
    pyramid = [(i0, i1)]
    for _ in range(1, params.num_scales):
        ph, pw = pyramid[-1][0].shape[-2:]
        nh, nw = round(ph * params.scale_step), round(pw * params.scale_step)
        if nh < MIN_LEVEL_PX or nw < MIN_LEVEL_PX:
            break
        step = 1.0 / params.scale_step
        pyramid.append(tuple(_resize_linear(x, nh, nw, step, step) for x in pyramid[-1]))
    c = 3 if params.gamma else 2
    u = torch.zeros((b, c, *pyramid[-1][0].shape[-2:]), device=dev, dtype=torch.float32)
    for s in range(len(pyramid) - 1, -1, -1):
        _scale_level(*pyramid[s], u, params)
        if s == 0:
            break
        nh, nw = pyramid[s - 1][0].shape[-2:]
        ph, pw = u.shape[-2:]
        u = _resize_linear(u, nh, nw, ph / nh, pw / nw)
        u[:, :2] *= 1.0 / params.scale_step  # u3 (illumination) is not a displacement
    return u[:, :2].permute(0, 2, 3, 1).contiguous().cpu().numpy()
