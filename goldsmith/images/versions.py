"""Comparing package versions as the package manager does: dpkg's order (python-debian's
debian_support.version_compare, which implements dpkg's algorithm: epoch, upstream, revision; `~` sorts
before everything, even the end) and rpm's (epoch:version-release, each part by rpmvercmp, written here
from rpm's lib/rpmvercmp.c: no maintained Python package offers it).

A plain string comparison gets both wrong: `1.0~rc1` is older than `1.0`, `1.10` newer than `1.9`,
`1:0.9` newer than `2.0`.
"""

from __future__ import annotations

from typing import Literal

from debian.debian_support import version_compare

__all__ = ["Manager", "compare", "compare_dpkg", "compare_rpm", "rpmvercmp"]

Manager = Literal["dpkg", "rpm", "none"]


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def compare(manager: Manager, old: str, new: str) -> int:
    """-1, 0 or 1 as `old` sorts before, equal to or after `new` for this package manager."""
    if manager == "rpm":
        return compare_rpm(old, new)
    return compare_dpkg(old, new)


def compare_dpkg(a: str, b: str) -> int:
    """dpkg --compare-versions, as -1/0/1. A string dpkg would refuse (it never installs one) is compared
    as text, so a damaged record still gives an answer rather than an error."""
    try:
        return _sign(version_compare(a, b))
    except ValueError:
        return _sign((a > b) - (a < b))


def _split_evr(evr: str) -> tuple[int, str, str]:
    """'1:2.3-4.el9' -> (1, '2.3', '4.el9'); no epoch is 0, no release is ''."""
    epoch, colon, rest = evr.partition(":")
    if not colon or not epoch.isdigit():
        epoch, rest = "0", evr
    version, _, release = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return int(epoch), version, release


def compare_rpm(a: str, b: str) -> int:
    """rpm's order of two EPOCH:VERSION-RELEASE strings (rpmvercmp on version, then on release; a release
    missing on either side is not compared, as rpm does for a dependency without one)."""
    ea, va, ra = _split_evr(a)
    eb, vb, rb = _split_evr(b)
    if ea != eb:
        return 1 if ea > eb else -1
    by_version = rpmvercmp(va, vb)
    if by_version or not (ra and rb):
        return by_version
    return rpmvercmp(ra, rb)


def _alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _skip_separators(s: str, i: int) -> int:
    while i < len(s) and not _alnum(s[i]) and s[i] not in "~^":
        i += 1
    return i


def _segment(s: str, i: int, digits: bool) -> int:
    """The end of the run of digits (or of ASCII letters) starting at i."""
    while i < len(s) and (s[i].isdigit() if digits else (s[i].isascii() and s[i].isalpha())):
        i += 1
    return i


def _marker(a: str, i: int, b: str, j: int, mark: str) -> int | None:
    """rpmvercmp's `~` (sorts before anything, the end too) and `^` (after the end, before anything
    else): the result when one side has the marker and the other not, 0 when both have it, None when
    neither has."""
    at_a, at_b = i < len(a) and a[i] == mark, j < len(b) and b[j] == mark
    if not (at_a or at_b):
        return None
    if at_a and at_b:
        return 0
    if mark == "^":
        if i >= len(a):
            return -1
        if j >= len(b):
            return 1
    return -1 if at_a else 1


def rpmvercmp(a: str, b: str) -> int:
    """rpm's rpmvercmp(): alternating runs of digits (numeric order) and letters (ASCII order), other
    characters separate them; digits sort after letters, and the longer string wins a tie."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        i, j = _skip_separators(a, i), _skip_separators(b, j)
        for mark in "~^":
            result = _marker(a, i, b, j, mark)
            if result is not None:
                break
        if result is not None:
            if result:
                return result
            i, j = i + 1, j + 1
            continue
        if i >= len(a) or j >= len(b):
            break
        digits = a[i].isdigit()
        end_a, end_b = _segment(a, i, digits), _segment(b, j, digits)
        if end_b == j:  # b has the other kind of segment here: a number beats letters
            return 1 if digits else -1
        one, two = a[i:end_a], b[j:end_b]
        if digits:
            one, two = one.lstrip("0"), two.lstrip("0")
            if len(one) != len(two):
                return 1 if len(one) > len(two) else -1
        if one != two:
            return 1 if one > two else -1
        i, j = end_a, end_b
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1
