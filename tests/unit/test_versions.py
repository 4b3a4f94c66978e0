"""Package versions compared as dpkg and rpm do (goldsmith.images.versions).

The Debian pairs are also checked against this machine's own `dpkg --compare-versions` when it has dpkg;
the rpm pairs are the cases of rpm's own test suite (tests/rpmvercmp.at)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from goldsmith.images.versions import compare, compare_dpkg, compare_rpm, rpmvercmp

DPKG = [
    ("1.0", "1.0", 0), ("1.0", "1.1", -1), ("1.9", "1.10", -1), ("1.0~rc1", "1.0", -1), ("1.0~rc1-1", "1.0-1", -1),
    ("1.0~~", "1.0~", -1), ("1.0", "1.0+deb12u1", -1), ("2.36-9+deb12u3", "2.36-9+deb12u10", -1),
    ("1:0.9", "2.0", 1), ("0:1.0", "1.0", 0), ("1.0-1", "1.0-1.1", -1), ("1.0a", "1.0", 1), ("1.0", "1.0-0", 0),
    ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1), ("2.0-1", "10.0-1", -1), ("1.2.3", "1.2.3.0", -1),
    ("1:1.0", "1.0", 1), ("a", "b", -1), ("1.0+b1", "1.0", 1), ("1.0-1~bpo12+1", "1.0-1", -1),
]

RPMVERCMP = [
    ("1.0", "1.0", 0), ("1.0", "2.0", -1), ("2.0", "1.0", 1), ("2.0.1", "2.0.1", 0), ("2.0", "2.0.1", -1),
    ("2.0.1", "2.0", 1), ("2.0.1a", "2.0.1a", 0), ("2.0.1a", "2.0.1", 1), ("2.0.1", "2.0.1a", -1),
    ("5.5p1", "5.5p1", 0), ("5.5p1", "5.5p2", -1), ("5.5p2", "5.5p1", 1), ("5.5p10", "5.5p10", 0),
    ("5.5p1", "5.5p10", -1), ("5.5p10", "5.5p1", 1), ("10xyz", "10.1xyz", -1), ("10.1xyz", "10xyz", 1),
    ("xyz10", "xyz10", 0), ("xyz10", "xyz10.1", -1), ("xyz10.1", "xyz10", 1), ("xyz.4", "xyz.4", 0),
    ("xyz.4", "8", -1), ("8", "xyz.4", 1), ("xyz.4", "2", -1), ("2", "xyz.4", 1), ("5.5p2", "5.6p1", -1),
    ("5.6p1", "5.5p2", 1), ("5.6p1", "6.5p1", -1), ("6.5p1", "5.6p1", 1), ("6.0.rc1", "6.0", 1),
    ("6.0", "6.0.rc1", -1), ("10b2", "10a1", 1), ("10a2", "10b2", -1), ("1.0aa", "1.0aa", 0), ("1.0a", "1.0aa", -1),
    ("1.0aa", "1.0a", 1), ("10.0001", "10.0001", 0), ("10.0001", "10.1", 0), ("10.1", "10.0001", 0),
    ("10.0001", "10.0039", -1), ("10.0039", "10.0001", 1), ("4.999.9", "5.0", -1), ("5.0", "4.999.9", 1),
    ("20101121", "20101121", 0), ("20101121", "20101122", -1), ("20101122", "20101121", 1), ("2_0", "2_0", 0),
    ("2.0", "2_0", 0), ("2_0", "2.0", 0), ("a", "a", 0), ("a+", "a+", 0), ("a+", "a_", 0), ("a_", "a+", 0),
    ("+a", "+a", 0), ("+a", "_a", 0), ("_a", "+a", 0), ("+_", "+_", 0), ("_+", "+_", 0), ("_+", "_+", 0),
    ("+", "_", 0), ("_", "+", 0), ("1.0~rc1", "1.0~rc1", 0), ("1.0~rc1", "1.0", -1), ("1.0", "1.0~rc1", 1),
    ("1.0~rc1", "1.0~rc2", -1), ("1.0~rc2", "1.0~rc1", 1), ("1.0~rc1~git123", "1.0~rc1~git123", 0),
    ("1.0~rc1~git123", "1.0~rc1", -1), ("1.0~rc1", "1.0~rc1~git123", 1), ("1.0^", "1.0^", 0), ("1.0^", "1.0", 1),
    ("1.0", "1.0^", -1), ("1.0^git1", "1.0^git1", 0), ("1.0^git1", "1.0", 1), ("1.0", "1.0^git1", -1),
    ("1.0^git1", "1.0^git2", -1), ("1.0^git2", "1.0^git1", 1), ("1.0^git1", "1.01", -1), ("1.01", "1.0^git1", 1),
    ("1.0^20160101", "1.0^20160101", 0), ("1.0^20160101", "1.0.1", -1), ("1.0.1", "1.0^20160101", 1),
    ("1.0^20160101^git1", "1.0^20160101^git1", 0), ("1.0^20160102", "1.0^20160101^git1", 1),
    ("1.0^20160101^git1", "1.0^20160102", -1), ("1.0~rc1^git1", "1.0~rc1^git1", 0), ("1.0~rc1^git1", "1.0~rc1", 1),
    ("1.0~rc1", "1.0~rc1^git1", -1), ("1.0^git1~pre", "1.0^git1~pre", 0), ("1.0^git1", "1.0^git1~pre", 1),
    ("1.0^git1~pre", "1.0^git1", -1),
]


@pytest.mark.parametrize(("a", "b", "expected"), DPKG)
def test_debian_versions_compare_as_dpkg_does(a: str, b: str, expected: int) -> None:
    assert compare_dpkg(a, b) == expected
    assert compare_dpkg(b, a) == -expected
    assert compare("dpkg", a, b) == expected


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="no dpkg on this machine")
@pytest.mark.parametrize(("a", "b", "expected"), DPKG)
def test_the_debian_pairs_agree_with_this_machines_dpkg(a: str, b: str, expected: int) -> None:
    op = {-1: "lt", 0: "eq", 1: "gt"}[expected]
    assert subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0


def test_a_string_dpkg_refuses_is_compared_as_text_not_an_error() -> None:
    assert compare_dpkg("abc!", "abd!") == -1
    assert compare_dpkg("", "") == 0


@pytest.mark.parametrize(("a", "b", "expected"), RPMVERCMP)
def test_rpmvercmp_passes_rpms_own_cases(a: str, b: str, expected: int) -> None:
    assert rpmvercmp(a, b) == expected


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("1.0-1.el9", "1.0-2.el9", -1), ("1:1.0-1", "2.0-1", 1), ("0:2.0-1", "2.0-1", 0), ("2.0-10", "2.0-9", 1),
    ("5.14.0-362.8.1.el9_3", "5.14.0-427.13.1.el9_4", -1), ("1.0", "1.0-5", 0), ("3.2-1.fc39", "3.10-1.fc39", -1),
])
def test_rpm_epoch_version_release(a: str, b: str, expected: int) -> None:
    assert compare_rpm(a, b) == expected
    assert compare("rpm", a, b) == expected
