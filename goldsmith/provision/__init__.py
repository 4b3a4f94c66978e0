"""Provisioners (shell, file, template, reboot) behind a small registry."""
