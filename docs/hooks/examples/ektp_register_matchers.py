"""A plugin that registers NBIS Bozorth3 tuned for the Dukcapil server."""

from ektp_plugins.verify.dedup.matcher import NbisMatcher

from ektp_core import hookimpl


def bozorth3_server(options):
    # Bozorth3 on the Dukcapil server: four threads unless the profile says otherwise.
    return NbisMatcher({"workers": 4, **options})


@hookimpl
def ektp_register_matchers(registry):
    registry.add("bozorth3-server", bozorth3_server, description="NBIS Bozorth3, 4 threads")
