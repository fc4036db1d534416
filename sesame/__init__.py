"""The composition root of Sésame: settings, database engine, logging, CLI and process start-up.

Nothing here holds domain logic; it builds the pieces from ``accounts``, ``radius``, ``portal``
and ``federation`` and wires them together.
"""

__version__ = "0.1.0"
