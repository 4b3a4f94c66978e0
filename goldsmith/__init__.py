"""Goldsmith bakes golden AMIs: provision over SSH, snapshot, register, validate, share."""

__version__ = "0.1.0"
