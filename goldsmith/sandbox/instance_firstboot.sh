#!/bin/bash
# What cloud-init does on EC2, run by the unit goldsmith-firstboot.service on every boot of a sandbox
# instance, before sshd. Bound read-only at /run/sandbox/firstboot with the instance's metadata beside it
# (instance-id, user, authorized_key); never stored in a volume, so it is not in the AMIs either.
# On the first boot of this instance id (an AMI's instances all start with the build instance's id
# recorded, or none): new host keys, the launch key in the user's authorized_keys, the hostname. On every
# boot: fstab's device entries mounted (the data volumes: systemd's fstab generator skips entries of /dev
# devices in a container, so this does what it does on EC2), the VPC's resolver in /etc/resolv.conf, and
# the host keys on the console, where GetConsoleOutput lets a client pin them.
set -u
meta=/run/sandbox
id=$(cat "$meta/instance-id")
user=$(cat "$meta/user")

log() { echo "goldsmith-firstboot: $*"; }

install_key() {
    local home group keys
    if ! home=$(getent passwd "$user" | cut -d: -f6) || [ -z "$home" ]; then
        log "user $user does not exist in this image; no key installed"
        return
    fi
    group=$(id -gn "$user")
    install -d -m 0700 -o "$user" -g "$group" "$home/.ssh"
    keys="$home/.ssh/authorized_keys"
    grep -qxF -f "$meta/authorized_key" "$keys" 2>/dev/null || cat "$meta/authorized_key" >> "$keys"
    chown "$user:$group" "$keys"
    chmod 0600 "$keys"
}

first_boot() {
    rm -f /etc/ssh/ssh_host_*
    # ed25519 and ECDSA only: an RSA host key costs 0.4-1 s of every first boot, and clients prefer ed25519.
    ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
    ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key
    if [ -s "$meta/authorized_key" ]; then install_key; fi
    echo "$id" > /etc/hostname
    grep -qw -- "$id" /etc/hosts 2>/dev/null || printf '127.0.1.1\t%s\n' "$id" >> /etc/hosts
    mkdir -p /var/lib/sandbox
    echo "$id" > /var/lib/sandbox/instance-id
    log "first boot of $id: host keys generated"
}

hostname "$id"
if [ "$(cat /var/lib/sandbox/instance-id 2>/dev/null)" != "$id" ]; then
    first_boot
fi
mount -a || log "mount -a failed; see /etc/fstab"
# As EC2's DHCP client does: the VPC's resolver (unless the image hands resolv.conf to a resolver of its own).
if [ -s "$meta/resolv.conf" ] && [ ! -L /etc/resolv.conf ]; then cp "$meta/resolv.conf" /etc/resolv.conf; fi
# cloud-init writes this block through `logger`, so on EC2 every line carries the "ec2: " tag (and the
# console may put a timestamp before it): clients must find the key anywhere on the line.
{
    echo "-----BEGIN SSH HOST KEY KEYS-----"
    cat /etc/ssh/ssh_host_*_key.pub 2>/dev/null
    echo "-----END SSH HOST KEY KEYS-----"
} | sed 's/^/ec2: /' > /dev/console
