"""What a database URL may be: PostgreSQL or SQLite, written as operators write them (libpq's
several hosts included), rewritten for the async drivers SQLAlchemy uses."""

from __future__ import annotations

__all__ = ["normalize_database_url"]


def normalize_database_url(url: str) -> str:
    """Use the async drivers whatever the operator wrote (``postgresql://`` → ``postgresql+asyncpg://``)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("a database URL looks like postgresql://user@host/db or sqlite:///path.db")
    base = scheme.split("+", 1)[0].lower()
    if base in {"postgresql", "postgres"}:
        return f"postgresql+asyncpg://{_hosts_in_query(rest)}"
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    raise ValueError(f"unsupported database {base!r}: use postgresql or sqlite")


def _hosts_in_query(rest: str) -> str:
    """libpq's several hosts (``user@h1:5432,h2:5432/db?target_session_attrs=read-write``) in the
    form SQLAlchemy reads (``user@/db?host=h1:5432&host=h2:5432&…``); one host is left as written.

    Each host gets its port (5432 unless given). IPv6 addresses cannot be told from a port in
    that form: a multi-host URL names its hosts by name or IPv4 address.
    """
    netloc, _, tail = rest.partition("/")
    userinfo, at, hostlist = netloc.rpartition("@")
    if "," not in hostlist:
        return rest
    hosts = []
    for entry in hostlist.split(","):
        host, _, port = entry.strip().partition(":")
        if not host or host.startswith("["):
            raise ValueError(
                "each host of a multi-host database URL is a name or an IPv4 address, with an optional :port"
            )
        if not (port or "5432").isdigit():
            raise ValueError(f"database host {host!r}: the port must be a number")
        hosts.append(f"host={host}:{port or 5432}")
    path, _, query = tail.partition("?")
    return f"{userinfo}{at}/{path}?" + "&".join([*hosts, *([query] if query else [])])
