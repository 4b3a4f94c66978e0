#!/bin/sh
# Filesystem and account baseline checked by tests/images/test_hardening.py. Idempotent.
set -eu

# sshd must accept the drop-in written by the template step before the image is sealed.
sshd -t

# Private home for root, shadow readable by root (and the shadow group) only, sudoers not writable.
chmod 0700 /root
chown root:shadow /etc/shadow /etc/gshadow 2>/dev/null || chown root:root /etc/shadow
chmod 0640 /etc/shadow
[ -f /etc/gshadow ] && chmod 0640 /etc/gshadow
chmod 0440 /etc/sudoers
find /etc/sudoers.d -type f -exec chmod 0440 {} +

# No account without a password hash: lock any that has an empty one.
awk -F: '$2 == "" {print $1}' /etc/shadow | while read -r user; do
    usermod -p '*' "$user"
    echo "locked account with an empty password: $user"
done

# No world-writable files in system paths (sticky directories such as /tmp are fine).
find -H /etc /usr /bin /sbin /lib -xdev -perm -0002 ! -type l ! \( -type d -perm -1000 \) \
    -print -exec chmod o-w {} + 2>/dev/null || true
