"""Redaction keeps secrets and private keys out of every log and manifest."""

from __future__ import annotations

import json
from pathlib import Path

from goldsmith.report.events import Events
from goldsmith.report.redact import Redactor

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"


def test_secret_values_and_private_keys_are_masked() -> None:
    redact = Redactor(["hunter2-secret", "s3cr3t-token"])
    text = f"password=hunter2-secret token=s3cr3t-token key:\n{KEY}\nafter"
    out = redact(text)
    assert "hunter2-secret" not in out and "s3cr3t-token" not in out
    assert "PRIVATE KEY" not in out and "b3BlbnNzaC1rZXktdjEAAAAA" not in out
    assert out.endswith("after")


def test_truncated_private_key_is_still_masked() -> None:
    assert "b3Blbn" not in Redactor()("-----BEGIN RSA PRIVATE KEY-----\nb3BlbnNz")


def test_events_log_is_redacted(tmp_path: Path) -> None:
    events = Events(tmp_path / "b.jsonl", None, Redactor(["topsecretvalue"]), "b-1")
    events.info("connecting with topsecretvalue")
    events.output("provision", "echo topsecretvalue")
    events.close()
    lines = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    assert "topsecretvalue" not in (tmp_path / "b.jsonl").read_text()
    assert lines[1]["line"] == "echo ***"


def test_a_loaded_recipe_redacts_by_the_same_rules(tmp_path: Path) -> None:
    from goldsmith.recipe.loader import load_recipe

    (tmp_path / "tasks.py").write_text("")
    recipe = tmp_path / "r.yaml"
    recipe.write_text('name: r\nvariables: {token: {secret: true}, pin: {secret: true}}\n'
                      'source: {id: ami-0123456789abcdef0}\nimage: {name: "r-{{ timestamp }}"}\n')
    loaded = load_recipe(recipe, {"token": "topsecretvalue", "pin": "123"}, environ={})
    text = f"token topsecretvalue pin 123\n{KEY}"
    assert loaded.redact(text) == Redactor(loaded.secrets)(text) == "token *** pin 123\n[private key redacted]"
