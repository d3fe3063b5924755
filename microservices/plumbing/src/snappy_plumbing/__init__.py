"""Plumbing shared by every Snappy service, pinned by each deployable.

It holds what would otherwise be copied into every service and drift: configuration
from the environment (`config`), problem+json errors (`errors`), request ids, JSON logs,
health and metrics (`observability`), keyset pagination (`pagination`) and access
tokens: signing (`tokens.TokenSigner`) and verification from a JWKS document
(`tokens.TokenVerifier`, `jwks.JwksKeySet`). It holds no domain code and no models.
"""
