"""Fetching and verifying the files of a public data set.

`fetch_file(official, raw_dir, mirror=..., default_urls=...)` finds one official file:

* `mirror=None`: downloaded from the official URL prefixes, in order, into `raw_dir`;
* `mirror` an existing folder: read in place, under its official name or the same name
  without `.gz` (an uncompressed copy);
* `mirror` a URL prefix (`http://`, `https://`, `file://`): downloaded from there.

`verify(found, official)` then decides what can be said about the file:

* its name and size are the official ones: the official checksum must match (refused if not);
* otherwise, if the mirror publishes `SHA256SUMS` (or `MD5SUMS`) listing the file, that
  checksum must match (refused if not);
* otherwise the checksum is unknown (e.g. a subset of the data set in the official format);
  the caller then relies on its structural checks (magic numbers, sizes), which run anyway.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mocha.core.errors import DataError

Progress = Callable[[str, int, "int | None"], None]
"""`progress(description, completed, total)`; `total` is None when unknown."""


def no_progress(description: str, completed: int, total: int | None) -> None:
    """The default progress callback: silent."""


@dataclass(frozen=True)
class OfficialFile:
    """A file of the official distribution: its name, size in bytes and checksums."""

    name: str
    size: int
    md5: str = ""
    sha256: str = ""


@dataclass
class FoundFile:
    """A located file: its path, where it came from, and what the mirror says about it."""

    path: Path
    origin: str
    listed_sums: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (algo, hex)


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://", "file://", "ftp://"))


def _stripped(name: str) -> str:
    return name[:-3] if name.endswith(".gz") else name


def read_sums(text: str, algo: str) -> dict[str, tuple[str, str]]:
    """Parse a `SHA256SUMS`/`MD5SUMS` text: `<hex>  <name>` per line."""
    sums = {}
    for line in text.splitlines():
        parts = line.strip().split()
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = (algo, parts[0].lower())
    return sums


def _mirror_sums_folder(folder: Path) -> dict[str, tuple[str, str]]:
    sums: dict[str, tuple[str, str]] = {}
    for fname, algo in (("MD5SUMS", "md5"), ("SHA256SUMS", "sha256")):
        p = folder / fname
        if p.is_file():
            sums.update(read_sums(p.read_text(encoding="utf-8", errors="replace"), algo))
    return sums


def _mirror_sums_url(prefix: str) -> dict[str, tuple[str, str]]:
    sums: dict[str, tuple[str, str]] = {}
    for fname, algo in (("MD5SUMS", "md5"), ("SHA256SUMS", "sha256")):
        try:
            with urllib.request.urlopen(_join(prefix, fname), timeout=30) as r:
                sums.update(read_sums(r.read().decode("utf-8", "replace"), algo))
        except (OSError, ValueError):
            continue
    return sums


def _join(prefix: str, name: str) -> str:
    return prefix if prefix.endswith(name) else prefix.rstrip("/") + "/" + name


class DownloadError(DataError):
    """No source gave an official file (offline, a proxy, a server down)."""


def download(url: str, dest: Path, progress: Progress = no_progress) -> None:
    """Download `url` to `dest` atomically (temporary file, then rename)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as r:
            total = r.headers.get("Content-Length")
            total_n = int(total) if total and total.isdigit() else None
            done = 0
            progress(f"download {dest.name}", 0, total_n)
            while True:
                block = r.read(1 << 20)
                if not block:
                    break
                out.write(block)
                done += len(block)
                progress(f"download {dest.name}", done, total_n)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fetch_file(
    official: OfficialFile,
    raw_dir: Path,
    mirror: str | os.PathLike | None = None,
    default_urls: Sequence[str] = (),
    progress: Progress = no_progress,
) -> FoundFile:
    """Locate (and if needed download) one official file; see the module docstring."""
    raw_dir = Path(raw_dir)
    names = [official.name] + ([_stripped(official.name)] if official.name.endswith(".gz") else [])
    if mirror is not None and not _is_url(str(mirror)):
        folder = Path(mirror).expanduser()
        if not folder.is_dir():
            raise DataError(
                f"mirror {str(mirror)!r} is neither an existing folder nor a URL "
                f"(http://, https://, file://)"
            )
        for name in names:
            if (folder / name).is_file():
                return FoundFile(folder / name, f"folder {folder}", _mirror_sums_folder(folder))
        raise DataError(
            f"mirror folder {str(folder)!r} holds neither {' nor '.join(repr(n) for n in names)}"
        )
    prefixes = [str(mirror)] if mirror is not None else list(default_urls)
    cached = raw_dir / official.name
    if mirror is None and cached.is_file() and cached.stat().st_size == official.size:
        return FoundFile(cached, f"cache {raw_dir}")
    errors = []
    for prefix in prefixes:
        for name in names:
            url = _join(prefix, name)
            try:
                download(url, raw_dir / name, progress)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                errors.append(f"{url}: {exc}")
                continue
            size = (raw_dir / name).stat().st_size
            if mirror is None and size != official.size:  # e.g. an error page: next source
                errors.append(f"{url}: got {size} bytes, the official file has {official.size}")
                (raw_dir / name).unlink()
                continue
            return FoundFile(
                raw_dir / name, url, _mirror_sums_url(prefix) if mirror is not None else {}
            )
    raise DownloadError(f"could not download {official.name!r}; tried:\n  " + "\n  ".join(errors))


def file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(found: FoundFile, official: OfficialFile) -> str:
    """Check `found` against what is known (module docstring); return a one-line verdict or
    raise `DataError` on a checksum mismatch."""
    path = found.path
    size = path.stat().st_size
    if path.name == official.name and size == official.size and (official.md5 or official.sha256):
        algo, want = ("sha256", official.sha256) if official.sha256 else ("md5", official.md5)
        got = file_digest(path, algo)
        if got != want:
            raise DataError(
                f"{path}: {algo} checksum {got} does not match the official {want} of "
                f"{official.name!r} (same name and size); the file is corrupt or altered; "
                f"refusing it"
            )
        return f"{path.name}: official {algo} checksum verified"
    listed = found.listed_sums.get(path.name)
    if listed is not None:
        algo, want = listed
        got = file_digest(path, algo)
        if got != want:
            raise DataError(
                f"{path}: {algo} checksum {got} does not match {want} listed by the mirror "
                f"({found.origin}); refusing it"
            )
        return f"{path.name}: {algo} checksum listed by the mirror verified"
    return (
        f"{path.name}: not the official file ({size} bytes, official {official.size}) and "
        f"no checksum known; structure checked only"
    )


def read_maybe_gzip(path: Path) -> bytes:
    """The bytes of `path`, decompressed when it is gzip data (detected by magic bytes)."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head != b"\x1f\x8b":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt gzip archive ({exc}); refusing it") from None
