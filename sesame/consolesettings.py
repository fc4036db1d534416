"""The ``[console]`` section of the settings (``SESAME_CONSOLE_*``): what the staff console shows
beyond its own files — today, the background of the dashboards' map (docs/console.md, "The map's
background: none by default").

``SESAME_CONSOLE_MAP_TILES`` is a Leaflet tile URL template; empty (the default), the map has no
background and the console's pages load images from this server only. Set, it is checked as every
address a browser is sent to (:func:`portal.maptiles.tile_source`) and its origin alone is added
to the dashboards page's ``img-src``. A bad value stops start-up and ``sesame check`` with a line
naming the setting.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

from accounts.errors import InvalidInput
from portal.maptiles import TileSource, attribution_text, tile_source

__all__ = ["ConsoleSettings", "map_tiles"]


class ConsoleSettings(BaseModel):
    """The staff console (issue 18)."""

    model_config = ConfigDict(extra="forbid")

    #: the map's tile URL template, ``https://tiles.region.example/{z}/{x}/{y}.png`` ("": none)
    map_tiles: str = ""
    #: the credit the tiles' licence asks for, plain text (``© OpenStreetMap contributors``)
    map_attribution: str = ""

    @field_validator("map_tiles")
    @classmethod
    def _map_tiles(cls, value: str) -> str:
        try:
            source = tile_source(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None
        return source.template if source is not None else ""

    @field_validator("map_attribution")
    @classmethod
    def _map_attribution(cls, value: str) -> str:
        try:
            return attribution_text(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None


def map_tiles(settings: ConsoleSettings) -> TileSource | None:
    """The dashboards map's background, or None for none."""
    return tile_source(settings.map_tiles, attribution=settings.map_attribution)
