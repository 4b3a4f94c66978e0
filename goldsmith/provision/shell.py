"""The shell provisioner: inline commands (one ``set -e`` script) or a script file from the project.

Both run from a file uploaded over SFTP (SshSession.run_script) that exports the step's env first, so
env values and rendered lines are never on sudo's or sh's command line (sudo's log, /proc/*/cmdline).
A command the script runs still shows its own arguments: pass secrets to programs through env or files.
"""

from __future__ import annotations

from pathlib import Path

from goldsmith.provision.base import ProvisionContext, Provisioner, StepFailed
from goldsmith.recipe.model import ShellStep
from goldsmith.ssh.session import CommandResult, CommandTimeout, ConnectionDropped

SCRIPT_FILE = "script.sh"


class ShellProvisioner(Provisioner[ShellStep]):
    """Runs commands as root (``sudo: true``) with rendered environment variables."""

    kind = "shell"

    def run(self, ctx: ProvisionContext) -> None:
        try:
            result = self._run_with_retry(ctx)
        except CommandTimeout as exc:
            raise StepFailed(f"did not finish within its timeout of {self.step.timeout} s", exc.output_tail) from exc
        if result.exit_status != 0:
            raise StepFailed(f"failed with exit status {result.exit_status}", result.output_tail)

    def _run_with_retry(self, ctx: ProvisionContext) -> CommandResult:
        try:
            return self._run_once(ctx)
        except ConnectionDropped as exc:
            if not self.step.idempotent:
                raise StepFailed(
                    "failed: the SSH connection dropped while it ran; if the commands are safe to run "
                    "twice, mark the step 'idempotent: true' to have it retried",
                    exc.output_tail,
                ) from exc
            ctx.log("the SSH connection dropped; reconnecting to run the step again (idempotent: true)")
            ctx.session.close()
            ctx.session = ctx.reconnect()
            try:
                return self._run_once(ctx)
            except ConnectionDropped as again:
                raise StepFailed("failed: the SSH connection dropped twice", again.output_tail) from again

    def _env(self, ctx: ProvisionContext) -> dict[str, str]:
        return {key: ctx.render(value) for key, value in self.step.env.items()}

    def _run_once(self, ctx: ProvisionContext) -> CommandResult:
        """One run from a private script file: env values and rendered lines never reach a command line."""
        files = {}
        if self.step.inline is not None:
            body = "\n".join(["set -e", *(ctx.render(line) for line in self.step.inline)])
        else:
            local = self._script(ctx)
            files[SCRIPT_FILE] = local
            attached = f'"${{0%/*}}"/{SCRIPT_FILE}'
            body = attached if local.read_bytes().startswith(b"#!") else f"sh {attached}"
        return ctx.session.run_script(
            body,
            env=self._env(ctx),
            sudo=self.step.sudo,
            timeout=self.step.timeout,
            on_output=ctx.log,
            secrets=ctx.secrets,
            files=files,
        )

    def _script(self, ctx: ProvisionContext) -> Path:
        """The project's script file, uploaded (0700) next to the wrapper that exports the env."""
        assert self.step.script is not None
        local = ctx.loaded.resolve(self.step.script)
        if not local.is_file():
            raise StepFailed(f"failed: script {self.step.script} not found (looked at {local})")
        return local
