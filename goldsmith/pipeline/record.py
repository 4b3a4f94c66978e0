"""A pipeline run's record: each recipe's status, build and images, written as they change.

`.goldsmith/pipelines/<run id>.json`, rewritten atomically after every change, so `--resume RUN_ID` knows
what succeeded (and reuses those images) even after the process was killed.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from goldsmith.engine.files import write_json_atomic
from goldsmith.errors import InputError

Status = Literal["pending", "running", "baked", "reused", "failed", "cancelled", "skipped"]
DONE: frozenset[str] = frozenset({"baked", "reused"})


@dataclass
class RecipeRun:
    """One recipe in a run."""

    name: str
    status: Status = "pending"
    reason: str = ""  # why it was reused, skipped, failed or cancelled
    build_id: str = ""
    region: str = ""
    images: dict[str, str] = field(default_factory=dict)  # region -> AMI id
    started_at: float = 0.0
    seconds: float = 0.0
    step: str = ""  # the step running now (for the progress view)
    entry: dict[str, Any] = field(default_factory=dict)  # the bake's manifest entry
    channels: list[str] = field(default_factory=list)  # the pipeline's channels now pointing at its images

    @property
    def image_id(self) -> str:
        """The image in the build region (what the recipes built on it use)."""
        return self.images.get(self.region, "")


@dataclass
class RunRecord:
    run_id: str
    pipeline: str
    path: str
    recipes: dict[str, RecipeRun]
    started_at: float = field(default_factory=time.time)
    finished_at: float = 0.0
    outcome: str = "running"  # running | succeeded | failed | interrupted
    resumed: list[float] = field(default_factory=list)  # when --resume continued it

    def save(self, work_dir: Path) -> Path:
        path = record_path(work_dir, self.run_id)
        write_json_atomic(path, asdict(self))
        return path


def record_path(work_dir: Path, run_id: str) -> Path:
    return work_dir / "pipelines" / f"{run_id}.json"


def load_record(work_dir: Path, run_id: str) -> RunRecord:
    """The record of an earlier run; a missing or unreadable one is bad input (exit 2)."""
    path = record_path(work_dir, run_id)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        recipes = {name: RecipeRun(**value) for name, value in data.pop("recipes").items()}
        return RunRecord(recipes=recipes, **data)
    except FileNotFoundError:
        known = sorted(p.stem for p in path.parent.glob("*.json")) if path.parent.is_dir() else []
        listed = f"; runs recorded here: {', '.join(known[-5:])}" if known else ""
        raise InputError(f"--resume {run_id}: no such pipeline run in {path.parent}{listed}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"--resume {run_id}: {path} is not a pipeline run record ({exc})") from exc
