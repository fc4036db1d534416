"""The RADIUS server of Sésame (RFC 2865/2866/5176 over UDP), built on pyrad as the codec.

Sans-I/O protocol cores (:mod:`radius.codec`, the only importer of pyrad and the one table of
attribute numbers; :mod:`radius.core`; the pure authentication methods), the policy pipeline and
accounting over :mod:`accounts` services, the thin asyncio layer (:mod:`radius.server`), and the
dictionary written from the RFCs (``radius/dictionaries``). See ARCHITECTURE.md.
"""

from pathlib import Path

DICTIONARY = Path(__file__).resolve().parent / "dictionaries" / "dictionary"
