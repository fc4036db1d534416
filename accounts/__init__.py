"""The identity domain of Sésame: the region's network inventory and its citizens' accounts.

This package is the bottom of the dependency graph: it imports none of ``sesame``, ``radius``,
``portal`` or ``federation``. It owns the SQLAlchemy models and the services (plain async
functions over an ``AsyncSession``) that every front end — RADIUS, portal, admin API, CLI —
calls. Services never commit: the caller owns the transaction. Two take a session factory
instead and commit on purpose: :mod:`accounts.disconnect` (no transaction is held while an
access point is asked; the request is remembered in a short one after its answer) and
:func:`accounts.retention.purge` (one committed transaction per batch, so that an interrupted
purge keeps what it did).
"""
