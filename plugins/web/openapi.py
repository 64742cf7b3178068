"""The OpenAPI 3.1 document of the node's HTTP API v1, served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(c): {"description": d, "content": {"application/json": {"schema": _ERROR}}}
        for c, d in (
            (400, "Malformed request or packet"),
            (403, "Not signed by a joined site's key, or biometrics not sealed to this node"),
            (404, "No such site"),
            (409, "The packet id was already received with other content"),
            (413, "Too large"),
        )
        if c in codes
    }


def document(version: str) -> dict[str, Any]:
    """The OpenAPI document (one dict, JSON-ready)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ektp node API",
            "version": version,
            "description": "Between site nodes and the Dukcapil node: joining, packets, receipts.",
        },
        "paths": {
            "/api/v1/health": {
                "get": {
                    "summary": "Whether the node is up, and which node it is",
                    "responses": {
                        "200": {
                            "description": "Up",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
                        }
                    },
                }
            },
            "/api/v1/keys": {
                "get": {
                    "summary": "The node's public keys (signing: Ed25519; exchange: X25519)",
                    "responses": {
                        "200": {
                            "description": "Keys",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Keys"}}},
                        }
                    },
                }
            },
            "/api/v1/join": {
                "post": {
                    "summary": "A site registers its public key with a one-time join code",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JoinRequest"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "Joined; the Dukcapil node's keys",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Keys"}}},
                        },
                        **_errors(400, 404),
                    },
                }
            },
            "/api/v1/packets": {
                "post": {
                    "summary": "Deliver one packet (binary, see docs/sync.md); a resend gets the first receipt",
                    "requestBody": {
                        "required": True,
                        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "The signed receipt",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Receipt"}}},
                        },
                        **_errors(400, 403, 409, 413),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        }
                    },
                },
                "Health": {
                    "type": "object",
                    "properties": {"status": {"const": "ok"}, "site": {"type": "string"}, "kind": {"type": "string"}},
                },
                "Keys": {
                    "type": "object",
                    "required": ["signing_key", "exchange_key"],
                    "properties": {
                        "signing_key": {"type": "string"},
                        "exchange_key": {"type": "string"},
                        "version": {"type": "integer", "description": "0 until the first rotation"},
                        "chain": {
                            "type": "array",
                            "items": {"type": "object"},
                            "description": "Key statements, oldest first: each signed by the "
                            "previous signing key and the new one "
                            "(docs/sync.md)",
                        },
                    },
                },
                "JoinRequest": {
                    "type": "object",
                    "required": ["site", "public_key", "code"],
                    "properties": {
                        "site": {"type": "string"},
                        "public_key": {"type": "string"},
                        "code": {"type": "string"},
                    },
                },
                "Receipt": {
                    "type": "object",
                    "required": ["packet_id", "status", "received_at", "first", "signature"],
                    "properties": {
                        "packet_id": {"type": "string"},
                        "status": {"enum": ["accepted", "refused"]},
                        "enrolment_id": {"type": ["string", "null"]},
                        "received_at": {"type": "string", "format": "date-time"},
                        "reason": {"type": ["string", "null"]},
                        "first": {"type": "boolean"},
                        "keys_version": {
                            "type": "integer",
                            "description": "Not signed: the version of the key that signed (a hint to fetch /keys)",
                        },
                        "signature": {
                            "type": "string",
                            "description": "Ed25519 over the canonical JSON of the other fields but first",
                        },
                    },
                },
            }
        },
    }
