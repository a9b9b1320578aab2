"""The HDF5 model format of Mocha and Caffe (semantics §8.1): reading and writing parameters.
Notes: docs/core.md."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from mocha.core.components import NullInitializer
from mocha.core.errors import SnapshotError
from mocha.core.version import __version__

if TYPE_CHECKING:
    from mocha.core.backend import Backend
    from mocha.core.net import Net

logger = logging.getLogger("mocha")

SEPARATOR = "___"
CHECKSUM_ATTR = "checksum"
WEIGHTS_CHECKSUM_ATTR = "weights_checksum"
VERSION_ATTR = "mocha_version"
STAMP_ATTRS = (CHECKSUM_ATTR, WEIGHTS_CHECKSUM_ATTR, VERSION_ATTR)
TEMPORARY_PATTERN = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$")


def dataset_name(layer_name: str, param_name: str) -> str:
    """`"<layer>___<param>"`, the dataset name of one parameter."""
    return f"{layer_name}{SEPARATOR}{param_name}"


def strip_unit_axes(shape: tuple[int, ...]) -> tuple[int, ...]:
    """`shape` without its leading and trailing size-1 axes: `(1, 1, 10, 1) -> (10,)`."""
    dims = list(shape)
    while dims and dims[0] == 1:
        dims.pop(0)
    while dims and dims[-1] == 1:
        dims.pop()
    return tuple(dims)


def similar_shape(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Mocha's `is_similar_shape`: equal after stripping leading/trailing size-1 axes."""
    return strip_unit_axes(tuple(a)) == strip_unit_axes(tuple(b))


def _h5py() -> Any:
    import h5py

    return h5py


@contextlib.contextmanager
def open_model(source: Any) -> Iterator[Any]:
    """An open HDF5 group for `source` (a path, or an already open `h5py.File`/`Group`)."""
    h5py = _h5py()
    if isinstance(source, h5py.Group):
        yield source
        return
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise SnapshotError(f"model file {path!r} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise SnapshotError(f"cannot open {path!r} as an HDF5 model file: {exc}") from exc
    with f:
        yield f


def copy_into_parameter(backend: Backend, param: Any, host: np.ndarray, where: str) -> None:
    """Copy `host` into `param.blob` in place (shape-similar, dtype converted)."""
    if not similar_shape(host.shape, param.shape):
        raise SnapshotError(
            f"{where}: dataset has shape {tuple(host.shape)} but parameter {param.name!r} of "
            f"layer {param.owner!r} has shape {tuple(param.shape)} (size-1 leading/trailing "
            f"axes are ignored; the net does not match the file)"
        )
    if host.dtype != backend.dtype:
        logger.warning("%s: dataset dtype %s converted to %s", where, host.dtype, backend.dtype)
    values = np.ascontiguousarray(host, dtype=backend.dtype).reshape(param.shape)
    param.blob.data[...] = backend.asarray(values)


def load_network(source: Any, net: Net, die_if_not_found: bool = True) -> list[str]:
    """Load the parameters of `net` from an HDF5 model file (path or open h5py group).

    Returns the dataset names that were loaded. See the module docstring for the rules.
    """
    loaded: list[str] = []
    verified = False  # the weights checksum is checked once the first parameter is read
    with open_model(source) as f:
        where_file = getattr(getattr(f, "file", None), "filename", str(source))
        for state in net.states:
            if not state.layer.has_param:
                continue
            for param in state.parameters:
                name = dataset_name(state.layer.name, param.name)
                if name not in f:
                    if param.name != "bias" and die_if_not_found:
                        raise SnapshotError(
                            f"{where_file}: no dataset {name!r} for parameter {param.name!r} of "
                            f"layer {state.layer.name!r} (pass die_if_not_found=False to "
                            f"initialize missing parameters with their initializers)"
                        )
                    logger.warning(
                        "%s: no dataset %r; parameter %r of layer %r keeps its initializer",
                        where_file,
                        name,
                        param.name,
                        state.layer.name,
                    )
                    continue
                if not verified:
                    verify_weights(f, where_file)
                    verified = True
                try:
                    host = np.asarray(f[name][()])
                except (OSError, KeyError, RuntimeError) as exc:  # a corrupt chunk, a bad link
                    raise SnapshotError(
                        f"{where_file}: cannot read dataset {name!r}: {exc} (the file is damaged)"
                    ) from None
                copy_into_parameter(net.backend, param, host, f"{where_file}:{name}")
                param.initializer = NullInitializer()
                loaded.append(name)
    return loaded


def write_parameters(group: Any, net: Net) -> None:
    """Write every parameter of `net` as `<layer>___<param>` datasets into an HDF5 group."""
    backend = net.backend
    for state in net.states:
        if not state.layer.has_param:
            continue
        for param in state.parameters:
            name = dataset_name(state.layer.name, param.name)
            if name in group:
                raise SnapshotError(
                    f"cannot save net {net.name!r}: two layers write the dataset {name!r} "
                    f"(layer names must be unique)"
                )
            group.create_dataset(name, data=backend.to_host(param.blob.data))


def fsync_path(path: str) -> None:
    """fsync a folder (or file) by path; best effort (not every platform can)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- checksums ---------------------------------------------------------------------------------
def _attr_bytes(value: Any) -> bytes:
    if isinstance(value, np.ndarray):
        return repr((value.dtype.str, value.shape, value.tolist())).encode()
    if isinstance(value, np.generic):
        return repr(value.item()).encode()
    return repr(value).encode()


def _add_attrs(h: Any, obj: Any, skip: tuple[str, ...] = ()) -> None:
    for key in sorted(obj.attrs):
        if key not in skip:
            h.update(b"@" + key.encode() + b"=" + _attr_bytes(obj.attrs[key]))


def _add_dataset(h: Any, name: str, obj: Any) -> None:
    value = obj[()]
    h.update(b"#" + name.encode())
    if isinstance(value, np.ndarray):
        h.update(repr((value.dtype.str, value.shape)).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    else:
        h.update(_attr_bytes(value))
    _add_attrs(h, obj)


def content_digest(f: Any, weights_only: bool = False) -> str:
    """SHA-256 (hex) of an open HDF5 file's contents: every dataset (name, dtype, shape,
    bytes) and attribute, in name order, except the checksum attributes themselves; with
    `weights_only`, only the root datasets (the parameters)."""
    h5py = _h5py()
    h = hashlib.sha256()
    if weights_only:
        for name in sorted(f):
            if isinstance(f[name], h5py.Dataset):
                _add_dataset(h, name, f[name])
        return h.hexdigest()
    _add_attrs(h, f, skip=STAMP_ATTRS)
    names: list[str] = []
    f.visit(names.append)
    for name in sorted(names):
        obj = f[name]
        if isinstance(obj, h5py.Dataset):
            _add_dataset(h, name, obj)
        else:
            h.update(b"/" + name.encode())
            _add_attrs(h, obj)
    return h.hexdigest()


def stamp(f: Any) -> None:
    """Store the checksums and Mocha's version in the root attributes of an open file."""
    f.attrs[VERSION_ATTR] = __version__
    f.attrs[WEIGHTS_CHECKSUM_ATTR] = content_digest(f, weights_only=True)
    f.attrs[CHECKSUM_ATTR] = content_digest(f)


def _mismatch(f: Any, attr: str, weights_only: bool) -> bool:
    if attr not in f.attrs:
        return False
    try:
        return str(f.attrs[attr]) != content_digest(f, weights_only=weights_only)
    except (OSError, KeyError, ValueError, RuntimeError) as exc:  # unreadable chunks
        logger.debug("checksum of %s: %s", getattr(f, "filename", f), exc)
        return True


def verify_weights(f: Any, where: str) -> None:
    """Raise `SnapshotError` when the parameters of `f` do not match `weights_checksum`."""
    if _mismatch(f, WEIGHTS_CHECKSUM_ATTR, weights_only=True):
        raise SnapshotError(
            f"{where}: the parameters do not match the file's checksum (the file is damaged)"
        )


def contents_intact(f: Any) -> bool | None:
    """Whether the whole file matches its `checksum` (None: the file has none)."""
    if CHECKSUM_ATTR not in f.attrs:
        return None
    return not _mismatch(f, CHECKSUM_ATTR, weights_only=False)


# -- atomic writes ------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: someone else's live process
        return True
    return True


def remove_stale_temporaries(folder: str, name: str | None = None) -> list[str]:
    """Delete the temporary files (`.<name>.tmp-<pid>`) that writes killed before their
    `os.replace` left in `folder` (only `name`'s, when given), when their process is gone.
    Returns the removed paths."""
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        match = TEMPORARY_PATTERN.match(entry)
        if match is None or (name is not None and match.group("name") != name):
            continue
        if _pid_alive(int(match.group("pid"))):
            continue
        path = os.path.join(folder, entry)
        with contextlib.suppress(OSError):
            os.remove(path)
            removed.append(path)
            logger.info("removed %s, left behind by a write that was killed", path)
    return removed


def write_file(path: str, data: Any, where: str) -> None:
    """Write `data` (bytes) to a new file at `path` and fsync it; a failure (the disk is
    full, ...) is an `OSError` naming `where`, the file being saved."""
    try:
        with open(path, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {where}: {exc.strerror or exc}") from None


def atomic_h5_write(path: str, write: Any, checksum: bool = False) -> str:
    """Write an HDF5 file atomically: `write(h5file)` into an HDF5 image in memory (with
    `checksum`, stamped, see `stamp`), then its bytes into a temporary file in the same
    folder (a name no loader matches), fsync, `os.replace` onto `path`. The HDF5 library never
    meets a failing disk (it crashed on one); a full disk is one `OSError` naming `path`, the
    temporary file is removed and the previous file stays intact. Temporary files of `path`
    left by killed writers are removed first."""
    h5py = _h5py()
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(folder, os.path.basename(path))
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        write(f)
        if checksum:
            stamp(f)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        write_file(tmp, image.getbuffer(), path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    fsync_path(folder)
    return path


def save_network(path: str, net: Net) -> str:
    """Write `net`'s parameters as an HDF5 model file (readable by `load_network`)."""
    return atomic_h5_write(path, lambda f: write_parameters(f, net), checksum=True)
