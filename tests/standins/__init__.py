"""Loopback stand-ins for the notification providers (see providers.py)."""
