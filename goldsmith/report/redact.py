"""Redaction: secret values and private key material never reach a log, a manifest or the console."""

from __future__ import annotations

import re
from collections.abc import Iterable

_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL
)
MASK = "***"


class Redactor:
    """Replaces every known secret value of 4 characters or more (and anything that looks like a private
    key) with ***. The one set of rules: LoadedRecipe.redact uses it too."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        # Shorter values are accepted as secrets (nothing refuses them) but not masked: masking "a" or "42"
        # everywhere would garble every line and hide nothing.
        self._secrets.update(s for s in secrets if s and len(s) >= 4)

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def __call__(self, text: str) -> str:
        text = _PRIVATE_KEY.sub("[private key redacted]", text)
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text
