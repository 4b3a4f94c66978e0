"""Bad input through the real CLI: exit 2, a message that says where and what, and no AWS request at all.

The corpus is tests/fixtures/bad/: the malformed recipes (*.yaml, with their expected "line:col: field:
message" in tests/unit/test_recipe_bad_fixtures.py) and tests/fixtures/bad/cli/*.json (variables, flags,
files, targets, regions: {"args": [...], "expect": [...], "make": optional generated file}). The loader's
property test, that any text gives a RecipeError and never another exception, is
tests/unit/test_recipe_property.py (hypothesis).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.helpers import REPO, run_invoke
from tests.unit.test_recipe_bad_fixtures import EXPECTED

pytestmark = pytest.mark.sandbox

BAD = REPO / "tests" / "fixtures" / "bad"
CLI_CASES = sorted((BAD / "cli").glob("*.json"))


def _materialize(case: dict[str, Any], tmp: Path) -> list[str]:
    """The case's arguments, with a generated file (huge, binary) written to tmp when it asks for one."""
    make = case.get("make")
    if make:
        path = tmp / make["file"]
        if "hex" in make:
            path.write_bytes(bytes.fromhex(make["hex"]))
        else:
            path.write_text(make["repeat"] * int(make["times"]))
    return [arg.replace("{tmp}", str(tmp)) for arg in case["args"]]


def _cases(tmp: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """(name, invoke arguments, substrings the error must contain) for the whole corpus."""
    for name in sorted(EXPECTED):
        path = f"tests/fixtures/bad/{name}"
        yield name, ["bake", path], [f"{path}:", EXPECTED[name].strip()]
    for file in CLI_CASES:
        case = json.loads(file.read_text())
        yield f"cli/{file.stem}", _materialize(case, tmp), list(case["expect"])


def test_the_corpus_has_at_least_40_inputs_of_several_kinds(tmp_path: Path) -> None:
    cases = list(_cases(tmp_path))
    assert len(cases) >= 40
    assert len(EXPECTED) >= 30 and len(CLI_CASES) >= 20


def test_every_bad_input_exits_2_with_a_located_message_and_no_aws_request(
    sandbox: Any, sandbox_dir: Path, sandbox_client: Any, tmp_path: Path
) -> None:
    cases = list(_cases(tmp_path))
    env = {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)}
    sandbox_client.reset_counts()

    def run(case: tuple[str, list[str], list[str]]) -> subprocess.CompletedProcess[str]:
        return run_invoke(case[1], work_dir=tmp_path / "work" / case[0].replace("/", "-"), env=env, timeout=120)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, cases))
    requests = sandbox_client.counts()
    wrong = []
    for (name, args, expect), proc in zip(cases, results, strict=True):
        output = proc.stdout + proc.stderr
        missing = [text for text in expect if text not in output]
        if proc.returncode != 2 or missing or "Traceback" in output:
            command = " ".join(args)
            wrong.append(f"{name}: invoke {command} -> exit {proc.returncode}, missing {missing}:\n{output[-800:]}")
    print(f"\n{len(cases)} bad inputs, {len(wrong)} wrong, {sum(requests.values())} AWS requests")
    assert wrong == [], "\n".join(wrong)
    assert requests == {}, f"bad input reached AWS: {requests}"
