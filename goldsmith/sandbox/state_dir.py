"""The sandbox's state directory belongs to the user who started the sandbox, and to nobody else.

It holds the sandbox's key (credentials.json), moto's socket, logs, instance consoles, volumes and snapshots:
the directory is 0700 and the files the sandbox writes there are 0600. A directory another user owns is
refused rather than used: whoever owns it could read the key written into it, or swap the files under it
(a state dir in /tmp made in advance by someone else). Files inside volume layers keep the modes their guest
gave them (an image's /etc/passwd stays 0644); the 0700 directories above them keep them out of reach.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from goldsmith.errors import EnvironmentProblem

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private(state_dir: Path) -> None:
    """Create `state_dir` (0700) or check it is this user's own; take group and other bits off it and off
    what lies directly in it (a state dir from before this rule, or made with a loose umask)."""
    state_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    info = state_dir.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise EnvironmentProblem(f"the sandbox state directory {state_dir} is not a directory (a symbolic link "
                                 "or a file); give one that is")
    if info.st_uid != os.geteuid():
        raise EnvironmentProblem(f"the sandbox state directory {state_dir} belongs to uid {info.st_uid}, not to "
                                 f"this user (uid {os.geteuid()}): only the user who started a sandbox can drive "
                                 "it; use a directory of your own (GOLDSMITH_SANDBOX_DIR)")
    if info.st_mode & 0o077:
        os.chmod(state_dir, PRIVATE_DIR)
    for entry in os.scandir(state_dir):
        mode = entry.stat(follow_symlinks=False).st_mode
        if mode & 0o077 and (entry.is_file(follow_symlinks=False) or entry.is_dir(follow_symlinks=False)):
            os.chmod(entry.path, stat.S_IMODE(mode) & ~0o077)


def private_file(path: Path, mode: str = "a") -> int:
    """Open (creating if needed) a file of the state dir as 0600 and return its descriptor: `mode` "a" appends,
    "w" truncates."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    return fd
