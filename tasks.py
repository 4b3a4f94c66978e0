"""This repository's tasks: Goldsmith's own collection (goldsmith/tasks.py), imported as any user's tasks.py does.

`invoke --list` shows them; defaults are in goldsmith.tasks.DEFAULTS, overridden by invoke.yaml beside this file
and INVOKE_GOLDSMITH_<KEY> variables.
"""

from goldsmith.tasks import ns

__all__ = ["ns"]
