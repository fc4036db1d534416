"""EAP terminated by Sésame itself (issue 15): PEAPv0, EAP-TTLS and EAP-TLS as sans-I/O cores.

See the design in ARCHITECTURE.md; every module here takes bytes and values and returns bytes,
steps and needs: no asyncio, no SQLAlchemy, no FastAPI, no clock.
"""
