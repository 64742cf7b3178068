"""Simulated hardware and data for emulators, tests and demos: a fake pyusb backend, synthetic biometrics and images."""
