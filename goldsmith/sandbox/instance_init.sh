#!/bin/bash
# PID 1 of a sandbox instance, bound read-only at /run/sandbox/init (never stored in a volume).
# It does what cloud-init and an init system do on EC2: mount fstab, and on the first boot of this
# instance id make new host keys and install the launch key; then it runs sshd until it is asked to
# halt (SIGTERM: exit 0) or reboot (SIGUSR1, sent by the image's reboot command: exit 100).
meta=/run/sandbox
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
id=$(cat "$meta/instance-id")
user=$(cat "$meta/user")

log() { echo "sandbox-init: $*"; }

first_boot() {
    rm -f /etc/ssh/ssh_host_*
    # ed25519 and ECDSA only: an RSA host key costs 0.4-1 s of every first boot, and clients prefer ed25519.
    ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
    ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key
    if [ -s "$meta/authorized_key" ]; then
        if home=$(getent passwd "$user" | cut -d: -f6) && [ -n "$home" ]; then
            group=$(id -gn "$user")
            install -d -m 0700 -o "$user" -g "$group" "$home/.ssh"
            keys="$home/.ssh/authorized_keys"
            grep -qxF -f "$meta/authorized_key" "$keys" 2>/dev/null || cat "$meta/authorized_key" >> "$keys"
            chown "$user:$group" "$keys"
            chmod 0600 "$keys"
        else
            log "user $user does not exist in this image; no key installed"
        fi
    fi
    grep -qw -- "$id" /etc/hosts 2>/dev/null || printf '127.0.1.1\t%s\n' "$id" >> /etc/hosts
    mkdir -p /var/lib/sandbox
    echo "$id" > /var/lib/sandbox/instance-id
    log "first boot of $id: host keys generated"
}

mkdir -p /run/sshd /run/lock
chmod 0755 /run/sshd
mount -a || log "mount -a failed"
if [ "$(cat /var/lib/sandbox/instance-id 2>/dev/null)" != "$id" ]; then
    first_boot
fi
# As cloud-init does on EC2: the host keys on the console, where GetConsoleOutput lets a client pin them.
# cloud-init writes the block through `logger`, so on EC2 every line carries the "ec2: " tag (and the
# console may put a timestamp before it): clients must find the key anywhere on the line.
{
    echo "-----BEGIN SSH HOST KEY KEYS-----"
    cat /etc/ssh/ssh_host_*_key.pub 2>/dev/null
    echo "-----END SSH HOST KEY KEYS-----"
} | sed 's/^/ec2: /'

action=halt
trap 'action=reboot; kill -TERM "$sshd" 2>/dev/null' USR1
trap 'action=halt; kill -TERM "$sshd" 2>/dev/null' TERM INT
/usr/sbin/sshd -D -e &  # port 22 of its own network namespace, as the image configures it
sshd=$!
log "$id booted; sshd started"
while kill -0 "$sshd" 2>/dev/null; do
    wait "$sshd"
done

log "$action: stopping every process"
kill -TERM -1 2>/dev/null
for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 -1 2>/dev/null || break
    sleep 0.1
done
kill -KILL -1 2>/dev/null
sync
if [ "$action" = reboot ]; then exit 100; fi
exit 0
