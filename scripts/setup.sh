#!/usr/bin/env bash
# Everything Goldsmith needs on a fresh Debian machine, as root. Idempotent and quick the second time.
#   apt: debootstrap (the sandbox's base image), systemd-container (systemd-nspawn boots each instance's own
#        systemd), iproute2 and nftables (instances' network namespaces, security groups, NAT), OpenSSH (instances, scp benchmark, tests),
#        chromium (the tests open the HTML report in it, headless, through Playwright)
#   pip: goldsmith itself, editable, with its dev tools (moto server, ruff, mypy, hypothesis, playwright, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(util-linux systemd-container iproute2 nftables debootstrap openssh-client openssh-server sudo ca-certificates chromium)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: pip install -e .[dev]" >&2
python3 -m pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 | grep -v "Running pip as the 'root'" || true
python3 -c "import goldsmith, moto, invoke, paramiko" || { echo "setup: pip install failed" >&2; exit 1; }
# The kernel features the sandbox needs (overlayfs, namespaces, bridge, veth, nftables with NAT): a throwaway of
# each, made and removed; what is missing is named, exit 2.
python3 -m goldsmith.sandbox check
