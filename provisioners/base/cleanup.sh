#!/bin/sh
# Leave nothing of the bake in the image: package caches, shell history, Goldsmith's temporary files.
# The apt lists are kept so images built on this one can install packages without `apt-get update`.
set -eu
apt-get clean
rm -f /root/.bash_history /home/admin/.bash_history
rm -rf /tmp/goldsmith-*
