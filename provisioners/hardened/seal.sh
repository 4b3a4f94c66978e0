#!/bin/sh
# Last provisioner: leave no way in for the bake and no trace of it.
# Every account's authorized_keys goes, which removes the bake's temporary key: an instance launched
# from the image gets ITS key pair's key at first boot (cloud-init on EC2, the sandbox's init here),
# so the image itself must not carry any. The SSH session running this script stays open.
set -eu

rm -rf /tmp/goldsmith-* /var/tmp/goldsmith-* 2>/dev/null || true
getent passwd | cut -d: -f6 | sort -u | while read -r home; do
    for name in .bash_history .zsh_history .sh_history .python_history .lesshst .viminfo; do
        rm -f "$home/$name"
    done
done

if [ "${REMOVE_BUILD_KEY:-true}" = "true" ]; then
    getent passwd | cut -d: -f6 | sort -u | while read -r home; do
        for keys in "$home/.ssh/authorized_keys" "$home/.ssh/authorized_keys2"; do
            if [ -f "$keys" ]; then
                rm -f "$keys"
                echo "removed $keys"
            fi
        done
    done
else
    echo "REMOVE_BUILD_KEY=$REMOVE_BUILD_KEY: the bake's key stays authorized (the hardening suite will fail)"
fi
