"""What EBS accepts for a volume of each type (EC2 API reference, EbsBlockDevice), checked without AWS.

RunInstances refuses a mapping that breaks these only after the key pair and the security group exist,
and RegisterImage only after the whole bake; the recipe model checks them at load time instead, so
`invoke check` reports them located. The rule that needs the source image (a volume at least as large as
the snapshot it is made from) is the bake's preflight's (goldsmith/bake/steps/preflight.py).
"""

from __future__ import annotations

from goldsmith.recipe.formats import FieldProblem

# GiB, per type; io2 Block Express goes to 65536 on some instances, not assumed here.
SIZE_GIB: dict[str, tuple[int, int]] = {
    "gp2": (1, 16384), "gp3": (1, 16384), "io1": (4, 16384), "io2": (4, 16384),
    "st1": (125, 16384), "sc1": (125, 16384), "standard": (1, 1024),
}
IOPS: dict[str, tuple[int, int]] = {"gp3": (3000, 16000), "io1": (100, 64000), "io2": (100, 256000)}
IOPS_REQUIRED = ("io1", "io2")
THROUGHPUT_MIB_S: dict[str, tuple[int, int]] = {"gp3": (125, 1000)}
NOT_BOOTABLE = ("st1", "sc1")  # HDD volumes cannot be boot volumes


def _a(volume_type: str) -> str:
    return f"an {volume_type}" if volume_type in ("io1", "io2", "st1", "sc1") else f"a {volume_type}"


def volume_problem(volume_type: str, size: int, iops: int | None, throughput: int | None,
                   *, root: bool = False) -> FieldProblem | None:
    """The first EBS rule the volume breaks, located at its field (None when it breaks none)."""
    if root and volume_type in NOT_BOOTABLE:
        return FieldProblem(f"{_a(volume_type)} volume cannot be a root (boot) volume; use gp3, gp2, io1, io2 or "
                            "standard", "type")
    low, high = SIZE_GIB.get(volume_type, (1, 16384))
    if not low <= size <= high:
        return FieldProblem(f"{_a(volume_type)} volume is {low}..{high} GiB, got {size}", "size")
    if iops is None and volume_type in IOPS_REQUIRED:
        low, high = IOPS[volume_type]
        return FieldProblem(f"{_a(volume_type)} volume needs iops ({low}..{high}): AWS requires it for io1 and io2",
                            "iops")
    if iops is not None:
        if volume_type not in IOPS:
            return FieldProblem(f"iops is not supported for {volume_type} volumes (only gp3, io1 and io2)", "iops")
        low, high = IOPS[volume_type]
        if not low <= iops <= high:
            return FieldProblem(f"{_a(volume_type)} volume takes {low}..{high} IOPS, got {iops}", "iops")
    if throughput is not None:
        if volume_type not in THROUGHPUT_MIB_S:
            return FieldProblem(f"throughput is only for gp3 volumes, not {volume_type}", "throughput")
        low, high = THROUGHPUT_MIB_S[volume_type]
        if not low <= throughput <= high:
            return FieldProblem(f"{_a(volume_type)} volume takes a throughput of {low}..{high} MiB/s, got {throughput}",
                                "throughput")
    return None
