"""The shell text a session sends: wrapper scripts that carry the environment, and file placement.

Values never go on a command line. sudo logs its whole command line to authpriv/the journal (which is
baked into the image) and anyone on the instance can read /proc/*/cmdline while a step runs, so the
environment is written as ``export`` lines into a script file that travels over SFTP instead.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import PurePosixPath

from goldsmith.errors import SshError

ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SCRIPT_NAME = "run.sh"


def export_lines(env: Mapping[str, str]) -> list[str]:
    """``export K='v'`` for each variable; a name the shell cannot export is refused, not mangled."""
    lines = []
    for key, value in env.items():
        if not ENV_NAME_RE.fullmatch(key):
            raise SshError(
                f"environment variable name {key!r} cannot be exported by a shell: use letters, digits and _ "
                "(not starting with a digit)"
            )
        lines.append(f"export {key}={shlex.quote(value)}")
    return lines


def wrapper(body: str, env: Mapping[str, str] | None, *, alone: bool = True) -> str:
    """The script file: unlink itself, export ``env``, then ``body``.

    The first line removes the file at once (its whole folder when it is ``alone`` there): sh keeps
    reading it through its open descriptor, so the values are off the disk even if the connection
    drops (or the step times out) before the cleanup that follows the run.
    """
    first = 'rm -rf "${0%/*}"' if alone else 'rm -f "$0"'
    return "\n".join([first, *export_lines(env or {}), body]) + "\n"


def run_file(folder: str) -> str:
    """Run the folder's script with stdin from /dev/null (a command reading stdin gets EOF instead
    of hanging), then remove the folder, keeping the script's exit status."""
    dir_q = shlex.quote(folder)
    script_q = shlex.quote(f"{folder}/{SCRIPT_NAME}")
    return f"sh {script_q} </dev/null; rc=$?; rm -rf {dir_q}; exit $rc"


def place(remote: str, *, name: str | None, mode: int | None, owner: str | None) -> str:
    """Commands that move ``$TMP`` to ``remote`` with its mode and owner set before it appears there.

    A ``remote`` ending in ``/`` (created if missing) or naming an existing directory receives the file
    under ``name`` (the source's base name); without a name that is an error, never a file inside the
    directory under a temporary name or a chmod of the directory.
    """
    steps = [f"D={shlex.quote(remote)}"]
    if remote.endswith("/"):
        steps.append('mkdir -p "$D"')
    inside = (
        f'D="${{D%/}}"/{shlex.quote(PurePosixPath(name).name)}'
        if name
        else f"echo {shlex.quote(f'{remote} is a directory: give the file name in the destination')} >&2; exit 1"
    )
    steps.append(f'if [ -d "$D" ]; then {inside}; fi')
    steps.append('mkdir -p "$(dirname "$D")"')
    if owner:
        steps.append(f'chown {shlex.quote(owner)} "$TMP"')
    if mode is not None:
        steps.append(f'chmod {mode:o} "$TMP"')
    steps.append('mv -fT "$TMP" "$D"')
    return " && ".join(steps)
