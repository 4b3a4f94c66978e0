"""Pipeline files: loading, overrides, the dependency graph, and every mistake at once with file:line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from goldsmith.errors import InputError, RecipeError
from goldsmith.pipeline.plan import plan, plan_table
from goldsmith.pipeline.record import RecipeRun, RunRecord
from goldsmith.pipeline.run import PipelineOptions, new_record, selection
from goldsmith.recipe.pipeline_loader import load_pipeline
from tests.sandbox.pipeline_project import make_project

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def test_release_pipeline_loads_in_dependency_order_with_its_overrides() -> None:
    loaded = load_pipeline(REPO / "pipelines" / "release.yaml", environ={})
    assert loaded.names == ["base", "hardened", "web"]
    assert loaded.members["hardened"].needs == ("base",) and loaded.members["web"].source == "hardened"
    assert loaded.members["web"].loaded.recipe.image.regions == ["us-west-2"]
    assert loaded.members["base"].loaded.recipe.image.regions == []
    assert loaded.dependents("base") == {"hardened", "web"}


def test_order_follows_dependencies_not_the_file(project: Path) -> None:
    path = project / "pipelines" / "family.yaml"
    path.write_text("name: family\nrecipes:\n  - recipe: leaf\n  - recipe: side\n    after: [mid]\n"
                    "  - recipe: mid\n  - recipe: recipes/root.yaml\n")
    loaded = load_pipeline(path, environ={})
    order = loaded.names
    assert order.index("root") < order.index("mid") < order.index("leaf")
    assert order.index("mid") < order.index("side")
    assert loaded.members["side"].needs == ("mid",) and loaded.members["side"].source is None


def test_every_mistake_at_once_with_file_line_and_field(project: Path) -> None:
    path = project / "pipelines" / "bad.yaml"
    path.write_text(
        "name: bad\n"                                # 1
        "recipes:\n"                                 # 2
        "  - recipe: mid\n"                          # 3  its source (root) is not in the pipeline
        "  - recipe: nosuch\n"                       # 4
        "  - recipe: side\n"                         # 5
        "    regions: [us-east-1, mars-north-1]\n"   # 6
        "  - recipe: leaf\n"                         # 7
        "    variables: {colour: blue}\n"            # 8
        "    after: [sied]\n"                        # 9
    )
    with pytest.raises(RecipeError) as caught:
        load_pipeline(path, environ={})
    text = str(caught.value)
    assert f"{path}:4:13: recipes[1].recipe: no recipe 'nosuch'" in text
    assert f"{path}:8:17: recipes[3].variables.colour: recipe leaf declares no variable 'colour'" in text
    assert f"{path}:6:26: recipes[2].regions[1]: unknown region 'mars-north-1'" in text
    # The graph is checked once the recipes load: fix the above and the rest shows.
    path.write_text("name: bad\nrecipes:\n  - recipe: mid\n  - recipe: leaf\n    after: [sied]\n")
    with pytest.raises(RecipeError) as caught:
        load_pipeline(path, environ={})
    text = str(caught.value)
    assert f"{path}:3:13: recipes[0].recipe: recipe 'mid' builds on recipe 'root'" in text
    assert "not in this pipeline" in text
    assert f"{path}:5:13: recipes[1].after[0]: no recipe 'sied' in this pipeline" in text


def test_a_cycle_is_named(project: Path) -> None:
    path = project / "pipelines" / "cycle.yaml"
    path.write_text("name: cycle\nrecipes:\n  - recipe: root\n    after: [leaf]\n  - recipe: mid\n  - recipe: leaf\n")
    with pytest.raises(RecipeError, match=r"cycle.yaml:3:13: recipes\[0\].recipe: dependency cycle: "
                                          r"root -> leaf -> mid -> root \(each waits for the next"):
        load_pipeline(path, environ={})


def test_a_recipe_appears_once_and_schema_mistakes_are_located(project: Path) -> None:
    path = project / "pipelines" / "twice.yaml"
    path.write_text("name: twice\nrecipes:\n  - recipe: root\n  - recipe: recipes/root.yaml\n")
    with pytest.raises(RecipeError, match=r"twice.yaml:4:13: recipes\[1\].recipe: recipe 'root' is already"):
        load_pipeline(path, environ={})
    path.write_text("name: Twice\nconcurency: 2\nrecipes: []\n")
    with pytest.raises(RecipeError) as caught:
        load_pipeline(path, environ={})
    text = str(caught.value)
    assert "twice.yaml:1:7: name:" in text and "twice.yaml:2:1: concurency:" in text and "twice.yaml:3:10" in text


def test_variables_reach_the_recipes_that_declare_them(project: Path) -> None:
    path = project / "pipelines" / "vars.yaml"
    path.write_text("name: vars\nvariables: {note: everyone}\nrecipes:\n  - recipe: root\n"
                    "  - recipe: side\n    variables: {note: just-side}\n")
    loaded = load_pipeline(path, environ={})
    assert loaded.members["root"].loaded.variables["note"] == "everyone"
    assert loaded.members["side"].loaded.variables["note"] == "just-side"
    loaded = load_pipeline(path, {"note": "cli"}, environ={})
    assert {m.loaded.variables["note"] for m in loaded.members.values()} == {"cli"}
    with pytest.raises(RecipeError, match=r"--var: nope: no recipe of the pipeline declares this variable"):
        load_pipeline(path, {"nope": "1"}, environ={})


def test_only_takes_what_the_recipe_builds_on_and_plan_says_why(project: Path, tmp_path: Path) -> None:
    path = project / "pipelines" / "family.yaml"
    path.write_text(path.read_text() + "  - recipe: side\n")
    loaded = load_pipeline(path, environ={})
    assert selection(loaded, ("mid",)) == {"root", "mid"}
    with pytest.raises(InputError, match=r"--only lef: no recipe 'lef' in pipeline .*did you mean 'leaf'"):
        selection(loaded, ("lef",))
    record = new_record(loaded, PipelineOptions(work_dir=tmp_path / "work", only=("mid",)))
    table = plan_table(plan(loaded, record))
    assert table.splitlines() == [
        "root  BAKE   the build cache is off",
        "mid   BAKE   builds on root, which is baked in this run (after root)",
        "leaf  SKIP   not selected (--only)",
        "side  SKIP   not selected (--only)",
    ]
    assert not (tmp_path / "work").exists()  # a plan writes nothing


def test_resume_reuses_what_the_run_baked(project: Path, tmp_path: Path) -> None:
    loaded = load_pipeline(project / "pipelines" / "family.yaml", environ={})
    work = tmp_path / "work"
    done = RecipeRun("root", status="baked", build_id="root-1", region="us-east-1", images={"us-east-1": "ami-1"})
    RunRecord("family-1", "family", "x", {"root": done, "mid": RecipeRun("mid", status="failed")}).save(work)
    record = new_record(loaded, PipelineOptions(work_dir=work, resume="family-1"))
    assert record.run_id == "family-1"
    assert {n: r.status for n, r in record.recipes.items()} == {"root": "reused", "mid": "pending", "leaf": "pending"}
    lines = plan(loaded, record)
    assert [(line.action, line.image_id) for line in lines] == [("reuse", "ami-1"), ("bake", ""), ("bake", "")]
    assert "baked by this run (root-1)" in lines[0].reason
    with pytest.raises(InputError, match=r"--resume family-2: no such pipeline run .* runs recorded here: family-1"):
        new_record(loaded, PipelineOptions(work_dir=work, resume="family-2"))


def test_invoke_pipeline_with_a_bad_file_exits_2_before_any_aws_call(project: Path, tmp_path: Path) -> None:
    path = project / "pipelines" / "bad.yaml"
    path.write_text("name: bad\nrecipes:\n  - recipe: nosuch\n")
    env = {"INVOKE_GOLDSMITH_WORK_DIR": str(tmp_path / "work"), "INVOKE_GOLDSMITH_TARGET": "aws",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "PATH": "/usr/bin:/bin"}
    for args in (["pipeline", str(path)], ["pipeline", str(path), "--plan"], ["check", str(path)],
                 ["pipeline", str(project / "pipelines" / "family.yaml"), "--concurrency", "0"]):
        proc = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        assert proc.returncode == 2, (args, proc.stdout + proc.stderr)
    assert f"{path}:3:13: recipes[0].recipe: no recipe 'nosuch'" in proc.stderr or "concurrency" in proc.stderr
    assert not (tmp_path / "work").exists()


def test_a_source_channel_is_no_dependency(project: Path) -> None:
    """`source: {recipe: root, channel: stable}` builds on what the channel names: root need not be baked first,
    nor be in the pipeline at all."""
    leaf = project / "recipes" / "leaf.yaml"
    leaf.write_text(leaf.read_text().replace("  recipe: mid\n", "  recipe: root\n  channel: stable\n"))
    path = project / "pipelines" / "channel.yaml"
    path.write_text("name: channel\nrecipes:\n  - recipe: leaf\n  - recipe: side\n")
    loaded = load_pipeline(path, environ={})
    assert loaded.members["leaf"].needs == () and loaded.members["leaf"].source is None


def test_channels_need_validated_recipes(project: Path) -> None:
    root = project / "recipes" / "root.yaml"
    root.write_text(root.read_text().replace("validate:\n  suites: [tests/images/layers.py]\n", "validate:\n"))
    path = project / "pipelines" / "family.yaml"
    path.write_text(path.read_text() + "channels: [candidate, 'no way']\n")
    with pytest.raises(RecipeError, match=r"family.yaml:7:23: channels\[1\]: channel 'no way'"):
        load_pipeline(path, environ={})
    path.write_text(path.read_text().replace(", 'no way'", ""))
    with pytest.raises(RecipeError, match=r"family.yaml:7:11: channels: recipe 'root' \(recipes\[0\]\) has no "
                                          r"validate.suites"):
        load_pipeline(path, environ={})


def test_a_pipeline_or_member_recipe_that_is_not_a_mapping_is_located(project: Path) -> None:
    path = project / "pipelines" / "listed.yaml"
    path.write_text("- recipe: root\n")
    with pytest.raises(RecipeError, match=r"listed.yaml:1:1: a pipeline must be a mapping of fields \(name, "
                                          r"recipes, ...\), got a list"):
        load_pipeline(path, environ={})
    (project / "recipes" / "flat.yaml").write_text("just text\n")
    path.write_text("name: flat\nrecipes:\n  - recipe: flat\n  - recipe: missing\n")
    with pytest.raises(RecipeError) as caught:
        load_pipeline(path, environ={})
    text = str(caught.value)
    assert "flat.yaml:1:1: a recipe must be a mapping of fields (name, source, image, ...)" in text
    assert "listed.yaml:4:13: recipes[1].recipe:" in text, "each member's mistake, all at once"
