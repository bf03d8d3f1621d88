"""Write artifacts under a temporary name and rename them when complete.

A job that dies half-way leaves at most a ``.<name>.tmp-*`` file beside the target, never
a truncated file under the final name, so Snakemake (and any reader) only ever sees
complete artifacts. The next write of the same output removes such leftovers: a writer
holds an open-file-description lock (Linux ``F_OFD_SETLK``) on its temporary while it
lives; the kernel drops it when the process dies, however it dies, so a temporary nobody
holds is stale. Unlike classic POSIX locks it survives the writer (HDF5, say) opening and
closing the file itself, and it does not clash with HDF5's own ``flock``. Only temporaries
of that exact output name are looked at, never those of another output. Where such locks
do not exist, leftovers are left alone.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import struct
import tempfile
import threading
from pathlib import Path
from collections.abc import Iterator

try:
    import fcntl

    _OFD_SETLK: int | None = fcntl.F_OFD_SETLK
except (ImportError, AttributeError):  # not Linux: no such locks, so leftovers are never judged stale
    _OFD_SETLK = None

log = logging.getLogger("nemi.io.atomic")

# Temporaries this process is writing: POSIX locks do not exclude their own process.
_LIVE: set[str] = set()
_LIVE_LOCK = threading.Lock()


def _temp_pattern(final: Path) -> re.Pattern[str]:
    # mkstemp's random part is 8 characters of [a-z0-9_]: ".a.h5.tmp-x.tmp-abcdefgh" (a temporary of
    # the output "a.h5.tmp-x") is not one of "a.h5".
    return re.compile(rf"\.{re.escape(final.name)}\.tmp-[a-z0-9_]{{8}}")


def _try_lock(fd: int) -> bool:
    """Write-lock the whole file on this open file description; False if another one holds it."""
    # struct flock: l_type, l_whence, l_start, l_len, l_pid (0, as OFD locks require).
    arg = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    try:
        fcntl.fcntl(fd, _OFD_SETLK, arg)
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the leftover temporaries of ``path`` that no live writer holds; return them."""
    final = Path(path)
    if _OFD_SETLK is None or not final.parent.is_dir():
        return []
    pattern = _temp_pattern(final)
    removed = []
    for cand in final.parent.iterdir():
        if not pattern.fullmatch(cand.name):
            continue
        with _LIVE_LOCK:
            if str(cand) in _LIVE:
                continue
        try:
            fd = os.open(cand, os.O_RDWR)
        except OSError:
            continue  # gone meanwhile, or not ours to open
        try:
            if not _try_lock(fd):
                continue  # a running writer holds it
            with contextlib.suppress(FileNotFoundError):
                cand.unlink()
            removed.append(cand)
        except OSError as err:  # e.g. a file system without locks: leave the file
            log.debug("cannot tell whether %s is stale: %s", cand, err)
        finally:
            os.close(fd)
    if removed:
        log.info("removed %d stale temporar%s of %s left by an interrupted write: %s", len(removed),
                 "y" if len(removed) == 1 else "ies", final, ", ".join(p.name for p in removed))
    return removed


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched
    (an older complete version stays as it was).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    tmp = Path(tmp_name)
    with _LIVE_LOCK:
        _LIVE.add(tmp_name)
    try:
        if _OFD_SETLK is not None:
            # Held on this descriptor until the rename: another writer of the same output sees it as live.
            with contextlib.suppress(OSError):  # no locks on this file system: it just cannot be judged
                _try_lock(fd)
        yield tmp
        # mkstemp makes 0600 files; artifacts get the permissions a plain open() would give.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    finally:
        os.close(fd)
        with _LIVE_LOCK:
            _LIVE.discard(tmp_name)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text)
