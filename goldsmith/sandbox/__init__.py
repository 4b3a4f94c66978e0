"""The local cloud: moto server, gateway, instance runtime, base image."""
