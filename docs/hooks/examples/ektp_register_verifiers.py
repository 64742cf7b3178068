"""A plugin that registers the central-system client aimed at a province's gateway."""

from ektp_plugins.verify.http import HttpVerifier

from ektp_core import hookimpl

GATEWAY = {
    "url": "https://siak-gateway.prov.example.go.id/api/v1",
    "token_env": "EKTP_GATEWAY_TOKEN",
}


def provincial_gateway(options):
    # The central-system API client, aimed at the province's gateway unless the profile
    # says otherwise.
    return HttpVerifier({**GATEWAY, **options})


@hookimpl
def ektp_register_verifiers(registry):
    registry.add("provincial-gateway", provincial_gateway, description="the province's SIAK gateway")
