"""The build cache's per-project key: it keys the hash of secret variable values in fingerprints.

A fingerprint is a tag anyone who may describe the AMI can read; a plain hash of a short password in it
could be brute-forced. Keyed (HMAC) with a secret that never leaves the project, it cannot. The key is
GOLDSMITH_CACHE_KEY when set (a CI secret, so every runner computes the same fingerprints), else the
file `cache-key` in the work directory, made on first use with 32 random bytes, readable by its owner
only. Two machines with different keys compute different fingerprints for recipes with secrets (and
the same ones for recipes without): share the key to share the cache.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from goldsmith.errors import InputError

__all__ = ["CACHE_KEY_ENV", "KEY_FILE", "cache_key"]

CACHE_KEY_ENV = "GOLDSMITH_CACHE_KEY"
KEY_FILE = "cache-key"


def cache_key(work_dir: Path, environ: Mapping[str, str] = os.environ) -> bytes:
    """The project's key: GOLDSMITH_CACHE_KEY, else WORK_DIR/cache-key (created 0600 when missing)."""
    given = environ.get(CACHE_KEY_ENV, "")
    if given:
        return given.encode()
    path = work_dir / KEY_FILE
    if not path.exists():
        _create(path)
    return _read(path)


def _create(path: Path) -> None:
    """Write a new key beside `path`, then link it into place: a concurrent bake never reads half a key,
    and of two bakes creating it at once, one key wins and both use it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        with contextlib.suppress(FileExistsError):  # another bake made it first: use theirs
            os.link(tmp, path)
    except OSError as exc:
        raise InputError(f"cannot create the build cache key {path}: {exc.strerror or exc}; "
                         f"set {CACHE_KEY_ENV} instead") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        key = path.read_bytes().strip()
    except OSError as exc:
        raise InputError(f"cannot read the build cache key {path}: {exc.strerror or exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(f"the build cache key {path} may be read by other users: `chmod 600 {path}`")
    if not key:
        raise InputError(f"the build cache key {path} is empty: delete it (a new one is made) or set {CACHE_KEY_ENV}")
    return key
