"""The snapshot folder of a `Snapshot` break, its one owner outside the engine:
`OwnedSnapshotFolder` adds to the engine's `SnapshotFolder` (naming, listing, the newest
intact snapshot) the creation and write check (`prepare`), the lock (`lock()`), `keep_last`
(`prune`) and `--fresh` (`move_aside`). `mocha run` reaches it as the break's
`snapshot_folder`.

The lock: `FolderLock(folder).acquire()` creates `folder/.mocha.lock` exclusively (`O_CREAT|O_EXCL`)
holding a JSON object with the owner's `pid`, `host` and start time. When the file exists:

* its owner is this process: the lock is shared (a count; released by the last holder);
* its owner is a dead process of this host (a zombie counts as dead; a live one is given
  `LINGER_S` seconds to exit, as the ranks of an aborted MPI job linger), or the file is empty
  or unreadable (a process killed between creating and writing it): the lock is stale and
  taken over, with a warning;
* otherwise `SnapshotError` names the owner and the lock file (a lock of another host
  cannot be checked: delete the file when that run is known to be gone).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from typing import Any

from mocha.core.errors import SnapshotError
from mocha.core.io.model import remove_stale_temporaries
from mocha.core.io.snapshot import SnapshotFolder

logger = logging.getLogger("mocha")

LOCK_NAME = ".mocha.lock"
_held: dict[str, int] = {}  # lock path -> holders in this process


LINGER_S = 5.0  # how long a live owner may take to exit before the lock counts as in use


def _alive(pid: int) -> bool:
    """Whether process `pid` of this host runs (a zombie, exited but not yet reaped, does
    not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[:1] != ["Z"]
    except OSError:
        return True


def _exits_soon(pid: int) -> bool:
    """Whether `pid` exits within `LINGER_S` (a rank of an aborted MPI job lingers a few
    seconds while the launcher tears the job down)."""
    deadline = time.monotonic() + LINGER_S
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            owner = json.load(f)
        return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None
    except (OSError, ValueError):
        return None


class FolderLock:
    """The lock of one snapshot folder (see the module docstring)."""

    def __init__(self, folder: str) -> None:
        self.path = os.path.join(os.path.abspath(folder), LOCK_NAME)
        self.held = False

    def acquire(self) -> None:
        """Take the lock (creating the folder), or raise `SnapshotError`."""
        if self.held:
            return
        if _held.get(self.path):
            _held[self.path] += 1
            self.held = True
            return
        folder = os.path.dirname(self.path)
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise SnapshotError(
                f"Snapshot: cannot create the snapshot folder {folder!r}: {exc.strerror or exc}"
            ) from None
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale(me["host"])
                continue
            except OSError as exc:
                raise SnapshotError(f"cannot create the lock file {self.path!r}: {exc}") from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(me, f)
            _held[self.path] = 1
            self.held = True
            return
        raise SnapshotError(f"cannot take the lock file {self.path!r} (it keeps coming back)")

    def _take_over_if_stale(self, host: str) -> None:
        owner = _read(self.path)
        if owner is None:
            if time.time() - _mtime(self.path) < 2.0:  # being written right now
                time.sleep(0.5)
                owner = _read(self.path)
        if owner is not None and owner["pid"] == os.getpid() and owner.get("host") == host:
            return  # ours, from a FolderLock whose release was skipped: retake it
        here = owner is not None and owner.get("host") == host
        if here and _alive(owner["pid"]):
            logger.debug("waiting for pid %d, which holds %s, to exit", owner["pid"], self.path)
        if owner is not None and (not here or not _exits_soon(owner["pid"])):
            raise SnapshotError(
                f"snapshot folder {os.path.dirname(self.path)!r} is in use by another run "
                f"(pid {owner['pid']} on {owner.get('host')!r}, lock file {self.path!r}); two "
                f"runs in one folder would interleave their snapshots. Use another folder, or "
                f"delete the lock file if that run is gone"
            )
        logger.warning(
            "taking over the stale lock %s (%s)",
            self.path,
            f"pid {owner['pid']} is gone" if owner else "unreadable",
        )
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        _held[self.path] -= 1
        if _held[self.path] > 0:
            return
        del _held[self.path]
        owner = _read(self.path)
        if owner is not None and owner["pid"] == os.getpid():
            with contextlib.suppress(OSError):
                os.remove(self.path)


def _mtime(path: str) -> float:
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0


class OwnedSnapshotFolder(SnapshotFolder):
    """A snapshot folder with its lock, creation, pruning and moving aside."""

    def lock(self) -> FolderLock:
        """A new handle on the folder's lock (`acquire()` / `release()`; shared within a
        process, so the runner can hold it around the whole solve)."""
        return FolderLock(self.path)

    def prepare(self, lock: FolderLock) -> None:
        """Create the folder, check it is writable, take `lock`, remove the temporary files
        of writes that were killed; `SnapshotError` when one of these fails."""
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as exc:
            raise SnapshotError(
                f"Snapshot: cannot create the snapshot folder {self.path!r}: {exc.strerror or exc}"
            ) from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise SnapshotError(f"Snapshot: the snapshot folder {self.path!r} is not writable")
        lock.acquire()
        remove_stale_temporaries(self.path)

    def prune(self, keep_last: int, just_written: str) -> None:
        """Delete all but the `keep_last` newest snapshots (never `just_written`)."""
        for _, old in self.snapshots()[:-keep_last]:
            if os.path.abspath(old) == os.path.abspath(just_written):
                continue
            try:
                os.remove(old)
                logger.debug("Snapshot: removed %s (keep_last=%d)", old, keep_last)
            except OSError as exc:
                logger.warning("Snapshot: cannot remove %s: %s", old, exc)

    def move_aside(self, others: list[SnapshotFolder], statistics_file: str | None) -> str | None:
        """Move the snapshots of this folder and of `others` and the statistics file into a
        new subfolder `previous-<UTC time>/` of this one (nothing is deleted; the folders
        must be locked by the caller). Returns that subfolder, or None when there was
        nothing."""
        files = [path for f in (self, *others) for _, path in f.snapshots()]
        if statistics_file and os.path.isfile(statistics_file):
            files.append(statistics_file)
        if not files:
            return None
        target = os.path.join(
            self.path, "previous-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        )
        n = 1
        while os.path.exists(target + (f"-{n}" if n > 1 else "")):
            n += 1
        target += f"-{n}" if n > 1 else ""
        os.makedirs(target)
        for path in files:
            name = os.path.basename(path)
            if os.path.exists(os.path.join(target, name)):  # same name from two folders
                name = f"{os.path.basename(os.path.dirname(path))}-{name}"
            os.replace(path, os.path.join(target, name))
        logger.warning("--fresh: moved the previous run's %d file(s) to %s", len(files), target)
        return target
