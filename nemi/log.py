"""One logger, ``nemi``, and progress reporting for long stages."""

from __future__ import annotations

import logging
import sys
import time

logger = logging.getLogger("nemi")


def setup_logging(verbose: bool = False) -> None:
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    if logger.handlers:
        # Called again in one process (tests, notebooks): follow the current stderr.
        for h in logger.handlers:
            if isinstance(h, logging.StreamHandler):
                h.stream = sys.stderr  # not setStream(): it flushes the old stream, which may be closed
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)


class Progress:
    """Logs videos done and frames per second, at most every ``every_s`` seconds.

    Snakemake captures stderr into the rule's ``log:`` file, so this is what a user
    tails to see how far a long job has come.
    """

    def __init__(self, what: str, n_videos: int, every_s: float = 10.0) -> None:
        self.what, self.n_videos, self.every_s = what, n_videos, every_s
        self.videos_done = 0
        self.frames_done = 0
        self.t0 = self._last = time.perf_counter()

    def frames(self, n: int) -> None:
        self.frames_done += n
        now = time.perf_counter()
        if now - self._last >= self.every_s:
            self._last = now
            self._report(now)

    def video_done(self, video_id: str) -> None:
        self.videos_done += 1
        logger.info("%s: %s done (%d/%d videos)", self.what, video_id, self.videos_done, self.n_videos)

    def close(self) -> None:
        self._report(time.perf_counter(), final=True)

    def _report(self, now: float, final: bool = False) -> None:
        dt = max(now - self.t0, 1e-9)
        logger.info(
            "%s%s: %d/%d videos, %d frames in %.1f s (%.1f frames/s, %.2f videos/s)",
            self.what, " finished" if final else "", self.videos_done, self.n_videos,
            self.frames_done, dt, self.frames_done / dt, self.videos_done / dt,
        )
