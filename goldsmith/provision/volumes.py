"""Format and mount a recipe's data volume on the build instance, with an fstab line that survives reboots.

The device name in the recipe (``/dev/sdf``) is only a hint: Nitro instances show EBS volumes as NVMe
disks, found by volume id under /dev/disk/by-id; Xen instances rename sdf to xvdf. The sandbox's
volumes are directories, which get a bind mount. One POSIX shell script does it all, idempotently.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from goldsmith.errors import ProvisionError
from goldsmith.recipe.model import Filesystem
from goldsmith.ssh.session import SshSession

NOT_FOUND = 3

SCRIPT = r"""
set -eu
by_id="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_$(printf %s "$VOLUME_ID" | tr -d -)"
case "$DEVICE" in
  /dev/xvd*) alias="/dev/sd${DEVICE#/dev/xvd}" ;;
  /dev/sd*) alias="/dev/xvd${DEVICE#/dev/sd}" ;;
  *) alias="$DEVICE" ;;
esac
found=""
waited=0
while :; do
  for candidate in "$by_id" "$DEVICE" "$alias"; do
    if [ -b "$candidate" ] || [ -d "$candidate" ]; then found="$candidate"; break 2; fi
  done
  [ "$waited" -ge "$WAIT" ] && break
  sleep 1; waited=$((waited + 1))
done
if [ -z "$found" ]; then
  echo "no device for $VOLUME_ID: looked for $by_id, $DEVICE and $alias for $WAIT s" >&2
  exit 3
fi
if [ -b "$found" ]; then
  dev=$(readlink -f "$found")
  fstype=$(blkid -o value -s TYPE "$dev" || true)
  if [ -z "$fstype" ]; then
    echo "formatting $dev ($VOLUME_ID) as $FILESYSTEM"
    case "$FILESYSTEM" in
      xfs) mkfs.xfs -q "$dev" ;;
      *) "mkfs.$FILESYSTEM" -q -F "$dev" ;;
    esac
    fstype="$FILESYSTEM"
  fi
  uuid=$(blkid -o value -s UUID "$dev")
  line="UUID=$uuid $MOUNT $fstype defaults,nofail 0 2"
else
  line="$found $MOUNT none bind,nofail 0 0"
fi
mkdir -p "$MOUNT"
touch "$FSTAB"
if awk -v m="$MOUNT" '$1 !~ /^#/ && $2 == m { hit = 1 } END { exit !hit }' "$FSTAB"; then
  echo "$FSTAB already mounts $MOUNT"
else
  printf '%s\n' "$line" >> "$FSTAB"
  echo "added to $FSTAB: $line"
  if [ "$FSTAB" = /etc/fstab ] && [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
if ! mountpoint -q "$MOUNT"; then
  if [ "$FSTAB" = /etc/fstab ]; then mount "$MOUNT"; else mount -T "$FSTAB" "$MOUNT"; fi
fi
mountpoint -q "$MOUNT"
echo "$VOLUME_ID mounted at $MOUNT"
"""


def mount_data_volume(
    session: SshSession,
    *,
    volume_id: str,
    device: str,
    mount: str,
    filesystem: Filesystem,
    fstab: str = "/etc/fstab",
    wait: int = 60,
    log: Callable[[str], None] | None = None,
) -> None:
    """Find the volume's device (waiting up to ``wait`` s), format it if blank, add it to fstab, mount it."""
    env = {
        "VOLUME_ID": volume_id,
        "DEVICE": device,
        "MOUNT": mount,
        "FILESYSTEM": filesystem,
        "FSTAB": fstab,
        "WAIT": str(wait),
    }
    result = session.run(SCRIPT, env=env, sudo=True, timeout=wait + 600, on_output=log)
    if result.exit_status == NOT_FOUND:
        raise ProvisionError(
            f"data volume {volume_id} ({device}) did not appear on the instance within {wait} s; "
            f"check that it is attached: {result.output_tail.strip()}"
        )
    if result.exit_status != 0:
        raise ProvisionError(
            f"mounting data volume {volume_id} ({device}) at {shlex.quote(mount)} failed with exit status "
            f"{result.exit_status}; last output:\n{result.output_tail}"
        )
