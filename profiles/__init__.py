"""The ready regional profiles (TOML files), installed as the package ``ektp_profiles``.

The regions plugin registers them (``ektp_register_profiles``); ``ektp profiles`` lists them and
``ektp init --profile NAME`` copies one into a new deployment. See docs/regional-profiles.md.
"""
