"""Three per-request costs of moto 5.2.5 that the sandbox pays on every call, removed without changing an answer.

Ten bakes at once spent ~29 ms of moto's CPU per request on a 2-core EPYC (py-spy over a pipeline of ten
recipes), a fifth of it in these two places:

- ``BaseResponse.call_action`` lists the response class's methods with ``inspect.getmembers`` on every
  request (14 % of moto's CPU). The classes do not change once the fixes are installed, so the list is
  made once per class.
- ``TaggedEC2Resource.get_tags`` asks ``describe_tags`` for one resource's tags, which matches every tag of
  every resource in the region against a regex: serialising a DescribeImages answer cost
  O(images x all tags), and grew with every image the sandbox kept. It now reads that resource's own tags,
  in the same form and order.
- ``DomainDispatcherApplication.get_backend_for_host`` runs for every request, under the dispatcher's one
  lock: it lists moto's package directory (``os.listdir`` and an ``isdir`` for each of ~200 entries) and
  then tries every service's URL regex in turn (12 % of moto's CPU with ten bakes at once, after the sandbox's
  readiness check stopped reading /proc). Which backend serves a host never changes, so it is looked up once
  per host.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.core import responses, utils
from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_backend_for_host_uncached = DomainDispatcherApplication.get_backend_for_host


@functools.cache
def _method_names(clazz: object) -> list[str]:
    return utils.method_names_from_class(clazz)


def _own_tags(self: Any) -> list[dict[str, str]]:
    """What ``describe_tags(filters={"resource-id": [self.id]})`` answers, without scanning the region."""
    if not self.id:
        return []
    tags = self.ec2_backend.tags.get(self.id)  # .get: the tag store is a defaultdict; do not add an entry
    if not tags:
        return []
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), "")
    return [{"resource_id": self.id, "key": key, "value": value, "resource_type": kind}
            for key, value in list(tags.items())]


def _backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
    """The backend serving `host`, found once per host (the caller holds the dispatcher's lock)."""
    known: dict[str | None, Any] = self.__dict__.setdefault("_goldsmith_backends", {})
    if host not in known:
        known[host] = _backend_for_host_uncached(self, host)
    return known[host]


def install() -> None:
    responses.method_names_from_class = _method_names  # type: ignore[attr-defined]
    TaggedEC2Resource.get_tags = _own_tags  # type: ignore[method-assign]
    DomainDispatcherApplication.get_backend_for_host = _backend_for_host  # type: ignore[method-assign]
