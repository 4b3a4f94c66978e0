"""The table printed at the end of a pipeline run: each recipe's status, image, time and why."""

from __future__ import annotations

from goldsmith.pipeline.record import RunRecord


def summary_table(record: RunRecord) -> str:
    rows = [("recipe", "status", "image", "time", "")]
    for name, run in record.recipes.items():
        images = ", ".join(f"{region}:{ami}" for region, ami in run.images.items()) or "-"
        seconds = f"{run.seconds:.1f} s" if run.seconds else "-"
        rows.append((name, run.status, images, seconds, run.reason))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + f"  {row[4]}" for row in rows]
    lines.append(f"run {record.run_id}: {record.outcome}")
    return "\n".join(line.rstrip() for line in lines)
