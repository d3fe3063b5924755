"""`snappy bench`: one workload on the monolith and on the microservices, compared.

The modules here import nothing heavy on purpose: `locustfile` runs inside Locust's own
process (which patches the standard library with gevent), and imports `workload` from
here; the `snappy` process drives it through `command` and never imports Locust.
"""
