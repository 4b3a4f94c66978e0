"""Reaching instances over SSH (sessions, bastions, host-key pins): the only package that imports paramiko."""
