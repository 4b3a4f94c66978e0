"""The only package that imports paramiko."""
