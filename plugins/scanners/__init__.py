"""Biometric scanner plugins: the MOSIP SBI client and its emulator service (``sbi``), the DigitalPersona
U.are.U 4000B fingerprint reader over USB with its emulator (``uareu``), synthetic biometrics
(``synthetic``) and NIST NBIS templates and matching (``nbis``).

Each driver is its own plugin with its own entry point.
"""
