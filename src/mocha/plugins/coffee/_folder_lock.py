"""A lock file that keeps two runs out of one snapshot folder.

`FolderLock(folder).acquire()` creates `folder/.mocha.lock` exclusively (`O_CREAT|O_EXCL`)
holding a JSON object with the owner's `pid`, `host` and start time. When the file exists:

* its owner is this process: the lock is shared (a count; released by the last holder);
* its owner is a dead process of this host, or the file is empty or unreadable (a process
  killed between creating and writing it): the lock is stale and taken over, with a warning;
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

logger = logging.getLogger("mocha")

LOCK_NAME = ".mocha.lock"
_held: dict[str, int] = {}  # lock path -> holders in this process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


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
        if owner is not None and (owner.get("host") != host or _alive(owner["pid"])):
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
