"""Install a small plugin distribution into a fresh folder for one test, the way pip does.

`install_wheel` writes a wheel by hand (a zip holding the modules and a `.dist-info` with
METADATA, WHEEL, entry_points.txt and RECORD: no build backend, so it works offline and without
hatchling) and has pip install it (`--no-deps --no-index --target`) into a new site folder. A
command run with that folder on PYTHONPATH sees the distribution exactly as an installed one:
`importlib.metadata` finds its entry points, and this process's plugin manager is untouched.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(
    out: Path, dist: str, version: str, files: dict[str, str], entry_points: dict[str, str]
) -> Path:
    """A pure-Python wheel of `dist` holding `files` (path in the wheel -> text) and declaring
    `entry_points` (key -> module) in the `mocha` group."""
    stem = f"{dist.replace('-', '_')}-{version}"
    info = f"{stem}.dist-info"
    lines = "".join(f"{key} = {module}\n" for key, module in entry_points.items())
    contents = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: wheel_kit\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[mocha]\n{lines}",
    }
    record = "".join(
        f"{name},{_record_hash(text.encode())},{len(text.encode())}\n"
        for name, text in contents.items()
    )
    contents[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    wheel = out / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, text in contents.items():
            z.writestr(name, text)
    return wheel


def install_wheel(wheel: Path, site: Path) -> None:
    """`pip install --no-deps --no-index --target site wheel`."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
        + ["--disable-pip-version-check", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"pip install {wheel.name} failed:\n{result.stderr[-3000:]}"


def env_with(site: Path, **extra: str) -> dict[str, str]:
    """This process's environment with `site` first on PYTHONPATH (and MOCHA_* cleared)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCHA_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return {**env, **extra}


def mocha_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """`python -m mocha ARGS` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "mocha", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )
