"""A plugin that registers the proof printer at the CR80 size under its own name."""

from ektp_plugins.printers.proof import ProofPrinter

from ektp_core import hookimpl


def proof_cr80(name, options):
    # The proof printer on the CR80 canvas (1011 x 638) unless the profile asks otherwise.
    return ProofPrinter(name, {"canvas": "cr80", **options})


@hookimpl
def ektp_register_printers(registry):
    registry.add("proof-cr80", proof_cr80, description="proof cards at the CR80 size")
