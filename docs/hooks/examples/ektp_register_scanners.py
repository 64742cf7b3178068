"""A plugin that registers the U.are.U 4000B driver on its emulator, for a training room."""

from ektp_plugins.scanners.uareu import make_scanner

from ektp_core import hookimpl


def training_reader(name, options):
    # The U.are.U 4000B driver on its built-in emulator: the training room has no readers.
    return make_scanner(name, {**options, "emulator": True})


@hookimpl
def ektp_register_scanners(registry):
    registry.add("uareu-training", training_reader, description="emulated U.are.U 4000B")
