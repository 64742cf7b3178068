"""Biometric scanner plugins (MOSIP SBI client, a USB fingerprint reader, simulated kit): built in issue 4.

Nothing is registered from here yet, so no entry point points at this package.
"""
