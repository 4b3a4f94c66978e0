#!/bin/sh
# Host side of one instance boot. `unshare` runs this as PID 1 of new pid/mount/uts/ipc namespaces;
# it builds the instance's view (root volume as /, fresh /dev, /proc, /run, /tmp, data volumes as
# directory "devices" such as /dev/sdf), pivots into it and becomes the instance's init.
#
# Containment, as container runtimes do it: the kernel's global knobs under /proc (sys, sysrq-trigger,
# irq, bus, fs) are bound read-only, and kernel memory, keyrings and timer internals are masked, so a
# recipe's `sysctl -w` fails inside instead of changing the CI host. The bounding set drops what a
# bake never needs and what reaches the host through the shared network namespace or devices (see
# DROPPED_CAPS). It keeps what sudo, sshd, apt/dpkg and `mount -a` with bind mounts need: setuid,
# setgid, chown, fowner, fsetid, dac_override, kill, audit_write, sys_chroot, setfcap, net_bind_service
# and sys_admin. Guests are root in the host's user namespace with CAP_SYS_ADMIN, so this guards against
# accidents, not against a hostile guest (which could unmount the read-only binds).
# Why not bubblewrap: bwrap always sets no_new_privs, which would make sudo (setuid) fail inside.
# Usage: instance_launch.sh ROOT META HOSTNAME [DEVICE=DIR ...]
set -eu
root=$1 meta=$2 name=$3
shift 3

hostname "$name"
mount --make-rprivate /
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
for entry in sys sysrq-trigger irq bus fs; do  # global kernel state: read-only
    if [ -e "$root/proc/$entry" ]; then
        mount --bind "$root/proc/$entry" "$root/proc/$entry"
        mount -o remount,bind,ro,nosuid,nodev,noexec "$root/proc/$entry"
    fi
done
for entry in kcore keys timer_list latency_stats sched_debug; do  # host secrets and internals: masked
    if [ -f "$root/proc/$entry" ]; then mount --bind /dev/null "$root/proc/$entry"; fi
done
for entry in acpi scsi; do
    if [ -d "$root/proc/$entry" ]; then mount -t tmpfs -o ro,nosuid,nodev,noexec masked "$root/proc/$entry"; fi
done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t tmpfs -o mode=0755,nosuid,size=1m dev "$root/dev"
for node in null zero full random urandom tty; do
    touch "$root/dev/$node"
    mount --bind "/dev/$node" "$root/dev/$node"
done
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$root/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
ln -s pts/ptmx "$root/dev/ptmx"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -t tmpfs -o mode=0755,nosuid,nodev run "$root/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmp "$root/tmp"
mkdir "$root/run/sandbox" "$root/run/.host"
mount --bind "$meta" "$root/run/sandbox"
mount -o remount,bind,ro "$root/run/sandbox"

for spec in "$@"; do
    device=${spec%%=*}
    source=${spec#*=}
    mkdir -p "$root$device"
    mount --bind "$source" "$root$device"
    case "$device" in
        /dev/sd*)  # the Xen-style alias AWS documents for the same device
            alias="/dev/xvd${device#/dev/sd}"
            mkdir -p "$root$alias"
            mount --bind "$source" "$root$alias" ;;
    esac
done

cd "$root"
pivot_root . run/.host
cd /
umount -l /run/.host
rmdir /run/.host
DROPPED_CAPS=-sys_module,-sys_boot,-sys_time,-mknod,-sys_rawio,-dac_read_search,-net_admin,-sys_ptrace
DROPPED_CAPS=$DROPPED_CAPS,-syslog,-sys_pacct,-mac_admin,-mac_override,-audit_control,-wake_alarm,-block_suspend
DROPPED_CAPS=$DROPPED_CAPS,-lease,-sys_tty_config,-linux_immutable,-bpf,-perfmon,-checkpoint_restore
exec setpriv --bounding-set="$DROPPED_CAPS" /bin/bash /run/sandbox/init
