"""A plugin that ships a ready profile for Kota Contoh."""

from importlib import resources

from ektp_core import hookimpl


@hookimpl
def ektp_register_profiles(registry):
    registry.add(
        "kota-contoh-kecamatan",
        resources.files(__package__).joinpath("profiles", "kecamatan.toml"),
        description="Kota Contoh: recording and printing at every kecamatan",
    )
