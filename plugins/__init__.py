"""Bundled ektp plugins, installed as the import package ``ektp_plugins``.

Each is loaded through the ``ektp`` entry-point group, exactly like a third-party plugin.
"""
