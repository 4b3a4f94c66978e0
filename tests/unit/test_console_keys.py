"""Host keys read from console output (cloud-init's block), for pinning before the first connection."""

from __future__ import annotations

from goldsmith.ssh.reach import host_keys_from_console

CONSOLE = """[   12.3] cloud-init[612]: Generating public/private ed25519 key pair.
ec2: #############################################################
ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----
ec2: 256 SHA256:abc root@ip-10-0-0-1 (ED25519)
ec2: -----END SSH HOST KEY FINGERPRINTS-----
-----BEGIN SSH HOST KEY KEYS-----
ecdsa-sha2-nistp256 AAAAE2VjZHNh root@ip-10-0-0-1
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB root@ip-10-0-0-1
-----END SSH HOST KEY KEYS-----
sshd listening
"""


def test_keys_between_the_markers_are_found_without_comments() -> None:
    assert host_keys_from_console(CONSOLE) == [
        "ecdsa-sha2-nistp256 AAAAE2VjZHNh",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB",
    ]


def test_no_block_means_no_keys() -> None:
    assert host_keys_from_console("Linux version 2.6.16-xenU (builder@patchbat.amazon)") == []
    assert host_keys_from_console("") == []


def test_ed25519_is_preferred_then_ecdsa_and_rsa_never() -> None:
    from goldsmith.ssh.reach import preferred_host_key

    keys = host_keys_from_console(CONSOLE)
    assert preferred_host_key(keys) == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB"
    assert preferred_host_key(keys[:1]) == "ecdsa-sha2-nistp256 AAAAE2VjZHNh"
    assert preferred_host_key(["ssh-rsa AAAAB3"]) is None


EC2_CONSOLE = """[   18.4] cloud-init[800]: Cloud-init v. 23.1 finished
<14>Dec  3 16:00:01 ec2: -----BEGIN SSH HOST KEY KEYS-----
<14>Dec  3 16:00:01 ec2: ecdsa-sha2-nistp256 AAAAE2VjZHNh root@ip-10-0-0-1
ec2: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB root@ip-10-0-0-1
ec2: -----END SSH HOST KEY KEYS-----
"""


def test_keys_logged_by_cloud_init_on_ec2_are_found_after_their_prefix() -> None:
    """On EC2 cloud-init writes the block through logger: "ec2: " (and a priority/date) before every line."""
    assert host_keys_from_console(EC2_CONSOLE) == [
        "ecdsa-sha2-nistp256 AAAAE2VjZHNh",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB",
    ]


def test_a_block_still_being_written_gives_no_keys_yet() -> None:
    unfinished = EC2_CONSOLE.split("ec2: ssh-ed25519")[0]
    assert host_keys_from_console(unfinished) == []
