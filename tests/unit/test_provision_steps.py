"""Provisioners run from a real recipe against the host's OpenSSH server (root; skipped otherwise)."""

from __future__ import annotations

import os
import re
import stat
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest

from goldsmith.errors import ProvisionError
from goldsmith.provision import registry
from goldsmith.provision.base import ProvisionContext, Provisioner, StepFailed, run_provisioners
from goldsmith.provision.registry import REGISTRY, provisioner_class
from goldsmith.recipe.loader import LoadedRecipe, load_recipe
from goldsmith.recipe.model import ShellStep
from goldsmith.ssh.localsshd import LocalSshd
from goldsmith.ssh.session import SshSession

needs_sshd = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/usr/sbin/sshd"), reason="needs root and /usr/sbin/sshd"
)
FACTS = {"build_id": "gs-test", "timestamp": "20250101T000000Z"}


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_every_registry_entry_imports_as_a_provisioner(kind: str) -> None:
    cls = provisioner_class(kind)
    assert issubclass(cls, Provisioner)
    assert cls.kind == kind


def test_an_unknown_kind_is_a_sentence() -> None:
    with pytest.raises(ProvisionError, match=r"unknown provisioner type 'shel' \(known: file, reboot"):
        provisioner_class("shel")


def test_a_class_registered_under_another_kind_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.REGISTRY, "file", "goldsmith.provision.shell:ShellProvisioner")
    with pytest.raises(TypeError, match="registered as 'file' but its kind is 'shell'"):
        provisioner_class("file")


# The provision phase's limit (build.timeouts.provision), with a fake shell provisioner: no SSH needed ------

class SleepingShell(Provisioner[ShellStep]):
    """Sleeps for the seconds its first inline line names, within the step's timeout (which it records)."""

    kind = "shell"
    timeouts: list[int] = []
    ran: list[str] = []

    def run(self, ctx: ProvisionContext) -> None:
        assert self.step.inline is not None
        wanted = float(self.step.inline[0])
        SleepingShell.timeouts.append(self.step.timeout)
        SleepingShell.ran.append(self.step.name)
        if wanted > self.step.timeout:
            time.sleep(self.step.timeout)
            raise StepFailed(f"did not finish within its timeout of {self.step.timeout} s")
        time.sleep(wanted)


class _NoSession:
    def close(self) -> None:
        return None


@pytest.fixture
def sleeping_shell(monkeypatch: pytest.MonkeyPatch) -> type[SleepingShell]:
    monkeypatch.setitem(registry.REGISTRY, "shell", f"{__name__}:SleepingShell")
    monkeypatch.setattr(SleepingShell, "timeouts", [])
    monkeypatch.setattr(SleepingShell, "ran", [])
    return SleepingShell


def limited(tmp_path: Path, provision_limit: int, *seconds: float) -> tuple[LoadedRecipe, ProvisionContext]:
    """A recipe of shell steps named s0, s1... sleeping that long, and a context without a session."""
    (tmp_path / "tasks.py").write_text("")
    steps = "".join(f"  - {{type: shell, name: s{i}, inline: ['{s}']}}\n" for i, s in enumerate(seconds))
    recipe = tmp_path / "limited.yaml"
    recipe.write_text(
        "name: limited\nsource: {id: ami-0123456789abcdef0}\n"
        f"build: {{timeouts: {{provision: {provision_limit}}}}}\n"
        'image: {name: "limited-{{ timestamp }}"}\nprovision:\n' + steps
    )
    loaded = load_recipe(recipe, environ={})
    session = cast(SshSession, _NoSession())
    return loaded, ProvisionContext(session, lambda: session, loaded, dict(FACTS), lambda line: None)


def test_the_step_that_reaches_the_provision_limit_fails_naming_it_and_the_limit(
    tmp_path: Path, sleeping_shell: type[SleepingShell]
) -> None:
    loaded, ctx = limited(tmp_path, 1, 0.4, 5, 0)
    started = time.monotonic()
    with pytest.raises(ProvisionError) as info:
        run_provisioners(loaded.recipe.provision, ctx)
    assert time.monotonic() - started < 3  # not the second step's own 1800 s
    message = str(info.value)
    assert message.startswith("provision[1] shell 's1' was stopped at the limit of 1 s for all provision steps "
                              "together (build.timeouts.provision; "), message
    assert "did not finish within its timeout of 1 s" in message
    assert sleeping_shell.ran == ["s0", "s1"]
    assert sleeping_shell.timeouts == [1, 1]  # each cut from 1800 s to the time left, rounded up


def test_no_step_starts_after_the_provision_limit(tmp_path: Path, sleeping_shell: type[SleepingShell]) -> None:
    loaded, ctx = limited(tmp_path, 3600, 0.3, 0)
    with pytest.raises(ProvisionError, match=r"^provision\[1\] shell 's1' was not started: the provision steps "
                                             r"reached their limit of 0.2 s \(build.timeouts.provision\)"):
        run_provisioners(loaded.recipe.provision, ctx, limit=0.2)
    assert sleeping_shell.ran == ["s0"]


def test_steps_within_the_provision_limit_keep_their_own_timeouts(
    tmp_path: Path, sleeping_shell: type[SleepingShell]
) -> None:
    loaded, ctx = limited(tmp_path, 3600, 0, 0)
    run_provisioners(loaded.recipe.provision, ctx)
    assert sleeping_shell.timeouts == [1800, 1800]


@dataclass
class Run:
    """A project on disk, a live session to the local sshd, and what the steps logged."""

    project: Path
    sshd: LocalSshd
    lines: list[str] = field(default_factory=list)
    reconnects: int = 0

    def recipe(self, provision_yaml: str, variables: str = "") -> LoadedRecipe:
        text = f"""\
            name: test
            variables:
              who: world
              token:
                default: tok-very-secret-1
                secret: true
            {variables}
            source: {{id: ami-0123456789abcdef0}}
            image: {{name: "test-{{{{ timestamp }}}}"}}
            provision:
            """
        path = self.project / "recipes" / "test.yaml"
        path.write_text(textwrap.dedent(text) + textwrap.indent(textwrap.dedent(provision_yaml), "  "))
        return load_recipe(path, environ={})

    def reconnect(self) -> SshSession:
        self.reconnects += 1
        return SshSession.connect(self.sshd.target(), timeout=20, known_host_key=self.sshd.host_public_key)

    def context(self, loaded: LoadedRecipe) -> ProvisionContext:
        session = SshSession.connect(self.sshd.target(), timeout=10)
        return ProvisionContext(session, self.reconnect, loaded, dict(FACTS), self.lines.append)

    def provision(self, provision_yaml: str) -> ProvisionContext:
        loaded = self.recipe(provision_yaml)
        ctx = self.context(loaded)
        try:
            run_provisioners(loaded.recipe.provision, ctx)
        finally:
            ctx.session.close()
        return ctx


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    project = tmp_path / "project"
    for sub in ("recipes", "templates", "provisioners"):
        (project / sub).mkdir(parents=True)
    (project / "tasks.py").write_text("")
    server = LocalSshd(tmp_path / "sshd")
    server.start()
    yield Run(project, server)
    server.stop()


@needs_sshd
def test_inline_shell_renders_env_and_lines_and_redacts_secrets(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    steps: list[tuple[int, str]] = []
    loaded = run.recipe(f"""\
        - type: shell
          name: greet
          env: {{GREETING: "hello {{{{ who }}}}", TOKEN: "{{{{ token }}}}"}}
          inline:
            - echo "$GREETING from {{{{ build_id }}}}" > {out}
            - echo "token is $TOKEN"
        """)
    ctx = run.context(loaded)
    run_provisioners(loaded.recipe.provision, ctx, on_step=lambda i, label: steps.append((i, label)))
    ctx.session.close()
    assert out.read_text() == "hello world from gs-test\n"
    assert run.lines == ["[0 shell] token is ***"]
    assert steps == [(0, "shell 'greet'")]


@needs_sshd
def test_inline_stops_at_the_first_failing_command(run: Run, tmp_path: Path) -> None:
    marker = tmp_path / "should-not-exist"
    with pytest.raises(ProvisionError) as info:
        run.provision(f"""\
            - type: shell
              inline: [echo ok]
            - type: shell
              name: install nginx
              inline:
                - echo before
                - sh -c 'exit 100'
                - touch {marker}
            """)
    message = str(info.value)
    assert message.startswith("provision[1] shell 'install nginx' failed with exit status 100 after ")
    assert message.endswith("s; last output:\nbefore")
    assert not marker.exists()


@needs_sshd
def test_script_is_uploaded_run_and_removed(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "script-ran"
    script = run.project / "provisioners" / "setup.sh"
    script.write_text(f'#!/bin/sh\necho "running as $(id -u) in $0 with $MODE"\ntouch {out}\n')
    run.provision("""\
        - type: shell
          script: provisioners/setup.sh
          env: {MODE: fast}
        """)
    assert out.exists()
    assert len(run.lines) == 1
    assert run.lines[0].startswith("[0 shell] running as 0 in /tmp/goldsmith-")
    assert run.lines[0].endswith(".sh with fast")
    remote_script = run.lines[0].split(" in ")[1].split(" with ")[0]
    assert not Path(remote_script).exists()


@needs_sshd
def test_file_and_directory_upload_with_mode_and_owner(run: Run, tmp_path: Path) -> None:
    files = run.project / "files"
    (files / "conf.d").mkdir(parents=True)
    (files / "app.conf").write_text("port=80\n")
    (files / "conf.d" / "one.conf").write_text("one\n")
    dest = tmp_path / "etc"
    run.provision(f"""\
        - type: file
          source: files/app.conf
          destination: {dest}/app-{{{{ build_id }}}}.conf
          mode: "0640"
          owner: nobody:nogroup
        - type: file
          source: files/conf.d
          destination: {dest}/conf.d
        """)
    placed = dest / "app-gs-test.conf"
    assert placed.read_text() == "port=80\n"
    assert stat.S_IMODE(placed.stat().st_mode) == 0o640
    assert placed.stat().st_uid == 65534
    assert (dest / "conf.d" / "one.conf").read_text() == "one\n"


@needs_sshd
def test_template_renders_variables_facts_step_variables_and_includes(run: Run, tmp_path: Path) -> None:
    (run.project / "templates" / "footer.j2").write_text("-- {{ build_id }}\n")
    (run.project / "templates" / "motd.j2").write_text("Hello {{ who }}, port {{ port }}\n{% include 'footer.j2' %}")
    dest = tmp_path / "motd"
    run.provision(f"""\
        - type: template
          source: templates/motd.j2
          destination: {dest}
          variables: {{port: "80{{{{ 80 }}}}"}}
        """)
    assert dest.read_text() == "Hello world, port 8080\n-- gs-test\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644


@needs_sshd
def test_template_with_an_undefined_name_fails_the_step(run: Run, tmp_path: Path) -> None:
    """The recipe check catches this before a bake; here the file changed after the check."""
    template = run.project / "templates" / "bad.j2"
    template.write_text("{{ who }}\n")
    loaded = run.recipe(f"""\
        - type: template
          source: templates/bad.j2
          destination: {tmp_path}/bad
        """)
    template.write_text("{{ whoo }}\n")
    ctx = run.context(loaded)
    with pytest.raises(ProvisionError, match=r"provision\[0\] template failed: templates/bad.j2: 'whoo' is undefined"):
        run_provisioners(loaded.recipe.provision, ctx)
    ctx.session.close()
    assert not (tmp_path / "bad").exists()


@needs_sshd
def test_a_hung_command_is_stopped_by_the_provision_limit(run: Run) -> None:
    loaded = run.recipe("""\
        - type: shell
          name: hangs
          inline: [echo start, sleep 60]
        """, variables="build: {timeouts: {provision: 2}}")
    ctx = run.context(loaded)
    started = time.monotonic()
    try:
        with pytest.raises(ProvisionError, match=r"^provision\[0\] shell 'hangs' was stopped at the limit of 2 s "
                                                 r"for all provision steps together \(build.timeouts.provision"):
            run_provisioners(loaded.recipe.provision, ctx)
    finally:
        ctx.session.close()
    assert time.monotonic() - started < 20


@needs_sshd
def test_a_dropped_connection_fails_a_plain_step(run: Run) -> None:
    threading.Timer(1.0, run.sshd.kill_sessions).start()
    with pytest.raises(ProvisionError, match=r"connection dropped while it ran.*idempotent: true"):
        run.provision("""\
            - type: shell
              inline: [echo start, sleep 30]
            """)
    assert run.reconnects == 0


@needs_sshd
def test_an_idempotent_step_runs_again_after_a_dropped_connection(run: Run, tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    threading.Timer(1.0, run.sshd.kill_sessions).start()
    run.provision(f"""\
        - type: shell
          idempotent: true
          inline:
            - echo run >> {counter}
            - if [ "$(wc -l < {counter})" -eq 1 ]; then sleep 30; fi
        """)
    assert counter.read_text() == "run\nrun\n"
    assert run.reconnects == 1
    assert any("reconnecting" in line for line in run.lines)


@needs_sshd
def test_reboot_waits_for_the_drop_and_reconnects(run: Run, tmp_path: Path) -> None:
    """A fake `shutdown` on the server's PATH records the call; the 'machine' then restarts its sshd."""
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    called = tmp_path / "shutdown-called"
    (fakebin / "shutdown").write_text(f'#!/bin/sh\necho "$@" > {called}\n')
    (fakebin / "shutdown").chmod(0o755)
    run.sshd.settings["SetEnv"] = f"PATH={fakebin}:/usr/sbin:/usr/bin:/sbin:/bin"
    run.sshd.stop()
    run.sshd.start()

    def machine() -> None:
        deadline = time.monotonic() + 20
        while not called.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        run.sshd.stop()
        time.sleep(0.5)
        run.sshd.start()

    thread = threading.Thread(target=machine)
    thread.start()
    after = tmp_path / "after-reboot"
    ctx = run.provision(f"""\
        - type: reboot
          timeout: 30
        - type: shell
          inline: [touch {after}]
        """)
    thread.join()
    assert called.read_text() == "-r now\n"
    assert after.exists()
    assert run.reconnects == 1
    assert not ctx.session.active  # closed by Run.provision; it is the new session
    assert "[0 reboot] rebooting" in run.lines


@needs_sshd
def test_secrets_never_reach_a_command_line(run: Run, tmp_path: Path) -> None:
    """The step itself captures every process's argv while it runs (what sudo would log, too)."""
    seen = tmp_path / "argv.txt"
    run.provision(f"""\
        - type: shell
          env: {{TOKEN: "{{{{ token }}}}"}}
          inline:
            - echo "inline {{{{ token }}}}" > /dev/null
            - ps -eo args > {seen}
            - cat /proc/[0-9]*/cmdline | tr '\\0' ' ' >> {seen}
            - test "$TOKEN" = tok-very-secret-1
        """)
    captured = seen.read_text()
    assert "tok-very-secret-1" not in captured
    folder = re.search(r"/tmp/goldsmith-run-[0-9a-f]+", captured)
    assert folder is not None  # the capture saw the step's own processes
    assert not Path(folder.group()).exists()


@needs_sshd
def test_a_command_reading_stdin_does_not_eat_the_script(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "after"
    run.provision(f"""\
        - type: shell
          timeout: 20
          inline:
            - cat
            - read line || echo "stdin is empty"
            - touch {out}
        """)
    assert out.exists()
    assert run.lines == ["[0 shell] stdin is empty"]


@needs_sshd
def test_file_and_template_into_a_directory_take_the_source_name(run: Run, tmp_path: Path) -> None:
    (run.project / "files").mkdir()
    (run.project / "files" / "app.conf").write_text("port=80\n")
    (run.project / "templates" / "motd.j2").write_text("hi {{ who }}\n")
    existing = tmp_path / "etc"
    existing.mkdir(mode=0o755)
    run.provision(f"""\
        - type: file
          source: files/app.conf
          destination: {existing}
          mode: "0600"
        - type: template
          source: templates/motd.j2
          destination: {tmp_path}/new/
        """)
    assert (existing / "app.conf").read_text() == "port=80\n"
    assert stat.S_IMODE((existing / "app.conf").stat().st_mode) == 0o600
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755
    assert (tmp_path / "new" / "motd").read_text() == "hi world\n"


@needs_sshd
def test_a_destination_that_renders_relative_fails_before_anything_is_uploaded(run: Run, tmp_path: Path) -> None:
    (run.project / "templates" / "motd.j2").write_text("hi\n")
    loaded = run.recipe("""\
        - type: template
          source: templates/motd.j2
          destination: "{{ where }}/motd"
        """, variables="  where: etc")
    ctx = run.context(loaded)
    try:
        with pytest.raises(ProvisionError, match=r"destination '\{\{ where \}\}/motd' rendered to 'etc/motd': "
                                                 r"destination must be an absolute path"):
            run_provisioners(loaded.recipe.provision, ctx)
    finally:
        ctx.session.close()
