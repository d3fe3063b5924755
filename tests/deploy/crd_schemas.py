"""Strict JSON schemas for the custom resources the overlays use, which kubernetes-validate does not know.

Written here from the Gateway API v1 reference (gateway.networking.k8s.io/v1: Gateway,
HTTPRoute) and the Prometheus Operator's API reference (monitoring.coreos.com/v1:
ServiceMonitor, PrometheusRule), for the fields these manifests use, with the same
constraints (names, enums, ranges, the path rules of the HTTPRoute CEL validations) and
`additionalProperties: false` everywhere: a field the real CRD does not have, a misspelt
one or one these manifests have no reason to use fails, as `kubernetes-validate --strict`
fails for the built-in kinds.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SCHEMAS"]

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_HOSTNAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_NAME = {"type": "string", "minLength": 1, "maxLength": 253}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": list(required),
    }


_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = _object(
    {
        "name": {"type": "string", "pattern": _DNS_LABEL, "maxLength": 253},
        "namespace": {"type": "string", "pattern": _DNS_LABEL, "maxLength": 63},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
    ("name", "namespace"),
)


def _resource(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return _object(
        {"apiVersion": {"const": api_version}, "kind": {"const": kind}, "metadata": _METADATA, "spec": spec},
        ("apiVersion", "kind", "metadata", "spec"),
    )


_GATEWAY = _resource(
    "gateway.networking.k8s.io/v1",
    "Gateway",
    _object(
        {
            "gatewayClassName": {"type": "string", "minLength": 1, "maxLength": 253},
            "infrastructure": _object(
                {
                    # Gateway API caps the annotations passed to the generated resources at 8.
                    "annotations": {
                        "type": "object",
                        "maxProperties": 8,
                        "additionalProperties": {"type": "string", "maxLength": 4096},
                    },
                    "labels": {
                        "type": "object",
                        "maxProperties": 8,
                        "additionalProperties": {"type": "string"},
                    },
                }
            ),
            "listeners": {
                "type": "array",
                "minItems": 1,
                "maxItems": 64,
                "items": _object(
                    {
                        "name": {"type": "string", "pattern": _DNS_LABEL, "maxLength": 253},
                        "hostname": {"type": "string", "pattern": _HOSTNAME, "maxLength": 253},
                        "port": _PORT,
                        "protocol": {"enum": ["HTTP", "HTTPS"]},
                        "allowedRoutes": _object(
                            {"namespaces": _object({"from": {"enum": ["All", "Selector", "Same", "None"]}})}
                        ),
                        "tls": _object(
                            {
                                "mode": {"enum": ["Terminate", "Passthrough"]},
                                "certificateRefs": {
                                    "type": "array",
                                    "maxItems": 64,
                                    "items": _object({"kind": {"const": "Secret"}, "name": _NAME}, ("name",)),
                                },
                            }
                        ),
                    },
                    ("name", "port", "protocol"),
                ),
            },
        },
        ("gatewayClassName", "listeners"),
    ),
)

# The HTTPRoute CRD's CEL rules for Exact and PathPrefix values: absolute, no '//', no dot
# segments, no '%2f' or '#'.
_PLAIN_PATH = r"^/(?!.*//)(?!.*/\.\.?(/|$))(?!.*%2[fF])(?!.*#).*$"
_PATH_MATCH = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "value"],
    "properties": {
        "type": {"enum": ["Exact", "PathPrefix", "RegularExpression"]},
        "value": {"type": "string", "maxLength": 1024},
    },
    "if": {"properties": {"type": {"enum": ["Exact", "PathPrefix"]}}},
    "then": {"properties": {"value": {"pattern": _PLAIN_PATH}}},
}
_HTTP_ROUTE = _resource(
    "gateway.networking.k8s.io/v1",
    "HTTPRoute",
    _object(
        {
            "parentRefs": {
                "type": "array",
                "minItems": 1,
                "maxItems": 32,
                "items": _object(
                    {"name": _NAME, "sectionName": {"type": "string", "pattern": _DNS_LABEL}}, ("name",)
                ),
            },
            "hostnames": {"type": "array", "maxItems": 16, "items": {"type": "string", "pattern": _HOSTNAME}},
            "rules": {
                "type": "array",
                "minItems": 1,
                "maxItems": 16,
                "items": _object(
                    {
                        "matches": {"type": "array", "maxItems": 64, "items": _object({"path": _PATH_MATCH})},
                        "filters": {
                            "type": "array",
                            "maxItems": 16,
                            "items": _object(
                                {
                                    "type": {"const": "RequestRedirect"},
                                    "requestRedirect": _object(
                                        {
                                            "scheme": {"enum": ["http", "https"]},
                                            "statusCode": {"enum": [301, 302]},
                                        }
                                    ),
                                },
                                ("type", "requestRedirect"),
                            ),
                        },
                        "backendRefs": {
                            "type": "array",
                            "maxItems": 16,
                            "items": _object(
                                {
                                    "name": _NAME,
                                    "port": _PORT,
                                    "weight": {"type": "integer", "minimum": 0, "maximum": 1000000},
                                },
                                ("name", "port"),
                            ),
                        },
                    }
                ),
            },
        },
        ("parentRefs", "rules"),
    ),
)

_LABEL_SELECTOR = _object({"matchLabels": _STRING_MAP})
_SERVICE_MONITOR = _resource(
    "monitoring.coreos.com/v1",
    "ServiceMonitor",
    _object(
        {
            "selector": _LABEL_SELECTOR,
            "endpoints": {
                "type": "array",
                "minItems": 1,
                "items": _object(
                    {
                        "port": {"type": "string", "minLength": 1},
                        "path": {"type": "string", "pattern": "^/"},
                        "interval": {
                            "type": "string",
                            "pattern": r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?)$",
                        },
                        "relabelings": {
                            "type": "array",
                            "items": _object(
                                {
                                    "sourceLabels": {
                                        "type": "array",
                                        "items": {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
                                    },
                                    "targetLabel": {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
                                    "action": {"enum": ["replace", "keep", "drop", "labelmap"]},
                                }
                            ),
                        },
                    },
                    ("port",),
                ),
            },
        },
        ("selector", "endpoints"),
    ),
)

_DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?)$"}
_PROMETHEUS_RULE = _resource(
    "monitoring.coreos.com/v1",
    "PrometheusRule",
    _object(
        {
            "groups": {
                "type": "array",
                "minItems": 1,
                "items": _object(
                    {
                        "name": {"type": "string", "minLength": 1},
                        "rules": {
                            "type": "array",
                            "items": {
                                "oneOf": [
                                    _object(
                                        {"record": {"type": "string"}, "expr": {"type": "string"}},
                                        ("record", "expr"),
                                    ),
                                    _object(
                                        {
                                            "alert": {"type": "string"},
                                            "expr": {"type": "string"},
                                            "for": _DURATION,
                                            "labels": _STRING_MAP,
                                            "annotations": _STRING_MAP,
                                        },
                                        ("alert", "expr"),
                                    ),
                                ]
                            },
                        },
                    },
                    ("name", "rules"),
                ),
            }
        },
        ("groups",),
    ),
)

SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("gateway.networking.k8s.io/v1", "Gateway"): _GATEWAY,
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): _HTTP_ROUTE,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _SERVICE_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): _PROMETHEUS_RULE,
}
