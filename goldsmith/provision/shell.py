"""The shell provisioner: inline commands (one ``set -e`` script) or a script file from the project."""

from __future__ import annotations

import secrets
import shlex

from goldsmith.provision.base import ProvisionContext, Provisioner, StepFailed
from goldsmith.recipe.model import ShellStep
from goldsmith.ssh.session import CommandResult, CommandTimeout, ConnectionDropped


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
        if self.step.inline is not None:
            command = "\n".join(["set -e", *(ctx.render(line) for line in self.step.inline)])
        else:
            command = self._upload_script(ctx)
        return ctx.session.run(
            command,
            env=self._env(ctx),
            sudo=self.step.sudo,
            timeout=self.step.timeout,
            on_output=ctx.log,
            secrets=ctx.secrets,
        )

    def _upload_script(self, ctx: ProvisionContext) -> str:
        """Upload the script (0700, owned by the login user) and return the command that runs it."""
        assert self.step.script is not None
        local = ctx.loaded.resolve(self.step.script)
        if not local.is_file():
            raise StepFailed(f"failed: script {self.step.script} not found (looked at {local})")
        remote = f"/tmp/goldsmith-{secrets.token_hex(8)}.sh"
        ctx.session.upload_file(local, remote, mode=0o700, sudo=False)
        quoted = shlex.quote(remote)
        runner = quoted if local.read_bytes().startswith(b"#!") else f"sh {quoted}"
        # Remove the script whatever it returns, keeping its exit status.
        return f"{runner}; rc=$?; rm -f {quoted}; exit $rc"
