"""Plumbing shared by every Snappy service, pinned by each deployable.

It holds what would otherwise be copied into every service and drift: settings declared
once on their fields and read from the environment (`config`), problem+json errors
(`errors`), request ids, JSON logs, health and metrics (`observability`), keyset
pagination (`pagination`), the field rules several services apply (`validation`), the
composition root's base app and components (`components`, `converters`), calls between
services under one timeout and retry policy (`peers`), and access tokens: signing
(`tokens.TokenSigner`) and checking (`access_tokens.TokenChecks`: `tokens.TokenVerifier`
on `jwks.JwksKeySet`, and `revocation.RevocationList`). It holds no domain code and no
models.
"""
