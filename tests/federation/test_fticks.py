"""F-Ticks lines: eduroam's format, nothing that identifies a person."""

from __future__ import annotations

from federation.fticks import FTicks

TICKS = FTicks(key=b"k" * 32, federation="sesame", country="FR")


def test_a_line_has_the_federation_format_and_a_keyed_device_hash() -> None:
    line = TICKS.line(realm="liguria.example", visited_institution="wifi.sud.example",
                      calling_station_id="02-00-00-00-00-01", ok=True)  # fmt: skip
    prefix, *fields, end = line.split("#")
    assert prefix == "F-TICKS/sesame/1.0" and end == ""
    values = dict(f.split("=", 1) for f in fields)
    assert values["REALM"] == "liguria.example" and values["VISCOUNTRY"] == "FR"
    assert values["VISINST"] == "wifi.sud.example" and values["RESULT"] == "OK"
    # the same device in any MAC notation is one CSI; the MAC itself is nowhere
    assert values["CSI"] == TICKS.csi("02:00:00:00:00:01") == TICKS.csi("0200.0000.0001")
    assert "02-00-00" not in line and "02:00:00" not in line
    assert FTicks(key=b"x" * 32, federation="sesame", country="FR").csi("02-00-00-00-00-01") != values["CSI"]


def test_separators_in_values_cannot_forge_fields() -> None:
    line = TICKS.line(realm="evil#RESULT=OK", visited_institution="x", calling_station_id=None, ok=False)
    assert line.count("#RESULT=") == 1 and line.endswith("#RESULT=FAIL#")
