"""The RADIUS server of Sésame (RFC 2865/2866/5176 over UDP), built on pyrad as the codec.

Today this package ships the RADIUS dictionary (``radius/dictionaries``); the protocol core, the
asyncio layer and the policy pipeline follow (see ARCHITECTURE.md).
"""

from pathlib import Path

DICTIONARY = Path(__file__).resolve().parent / "dictionaries" / "dictionary"
