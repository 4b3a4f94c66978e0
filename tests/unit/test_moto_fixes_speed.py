"""moto_fixes_speed's backend lookup per host: the same answers as moto's, each host looked up once."""

from __future__ import annotations

from typing import Any

import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from goldsmith.sandbox import moto_fixes_speed

HOSTS = ["ec2.us-east-1.amazonaws.com", "ec2.eu-west-1.amazonaws.com", "sts.amazonaws.com", "iam.amazonaws.com",
         "kms.us-west-2.amazonaws.com", "ssm.us-east-1.amazonaws.com", "moto_api", "ec2", None,
         "nothing.example.com"]


def _no_app(_service: Any) -> Any:
    return None


def test_each_host_gets_moto_s_backend_and_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {host: moto_fixes_speed._backend_for_host_uncached(DomainDispatcherApplication(_no_app), host)
                for host in HOSTS}
    assert expected["ec2.us-east-1.amazonaws.com"] == "ec2" and expected["sts.amazonaws.com"] == "sts"
    looked_up: list[str | None] = []

    def counting(self: DomainDispatcherApplication, host: str | None) -> Any:
        looked_up.append(host)
        return expected[host]

    monkeypatch.setattr(moto_fixes_speed, "_backend_for_host_uncached", counting)
    monkeypatch.setattr(DomainDispatcherApplication, "get_backend_for_host", moto_fixes_speed._backend_for_host)
    dispatcher = DomainDispatcherApplication(_no_app)
    for _ in range(3):
        assert {host: dispatcher.get_backend_for_host(host) for host in HOSTS} == expected
    assert sorted(looked_up, key=str) == sorted(HOSTS, key=str)
