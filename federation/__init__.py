"""Federation with partner regions (the eduroam model): realm routing, and proxying to their home
servers over RADIUS/UDP and RadSec (RFC 6614), with Status-Server (RFC 5997) health checks.

Sans-I/O: :mod:`federation.routing`, :mod:`federation.health`, :mod:`federation.proxy`,
:mod:`federation.relay`, :mod:`federation.stream`, :mod:`federation.status`. The asyncio layer:
:mod:`federation.service`, :mod:`federation.radsec`, :mod:`federation.probe`.
"""
