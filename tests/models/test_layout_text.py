"""Layouts as JSON, YAML or CSV text, and refusing every sensor too far from the surface."""

from __future__ import annotations

import contextlib
import json

import pytest
import trimesh
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from models.layout import (
    CSV_COLUMNS,
    LAYOUT_FORMATS,
    LayoutError,
    SensorSpec,
    parse_layout_text,
    place_sensors,
)
from models.types import SensorKind

ENTRIES = [
    {
        "id": "th-1",
        "kind": "climate",
        "device": "gw-1",
        "floor": 2,
        "zone": "interior",
        "position": [1.5, 2.0, 3.25],
    },
    {
        "id": "vib-roof",
        "kind": "vibration",
        "device": "gw-2",
        "floor": 8,
        "zone": "roof",
        "position": [0.0, -1.0, 30.0],
        "channels": [{"metric": "ppv", "unit": "mm/s"}, {"metric": "f1", "unit": "Hz"}],
        "expected_interval_s": 30,
    },
]
CSV = """\
id,kind,device,floor,zone,x,y,z,channels,expected_interval_s
th-1,climate,gw-1,2,interior,1.5,2,3.25,,
vib-roof,vibration,gw-2,8,roof,0,-1,30,ppv:mm/s; f1:Hz,30
"""


def _texts() -> dict[str, str]:
    return {
        "json": json.dumps({"building": "hall", "sensors": ENTRIES}),
        "yaml": yaml.safe_dump(ENTRIES),
        "csv": CSV,
    }


@pytest.mark.parametrize("fmt", LAYOUT_FORMATS)
def test_every_format_gives_the_same_specs(fmt: str) -> None:
    specs = parse_layout_text(_texts()[fmt], fmt, building_id="hall")
    assert specs == [
        SensorSpec(
            "th-1", SensorKind.CLIMATE, "gw-1", 2, "interior", (1.5, 2.0, 3.25),
            (("t", "Cel"), ("rh", "%RH")), 300.0,
        ),
        SensorSpec(
            "vib-roof", SensorKind.VIBRATION, "gw-2", 8, "roof", (0.0, -1.0, 30.0),
            (("ppv", "mm/s"), ("f1", "Hz")), 30.0,
        ),
    ]  # fmt: skip


def test_csv_with_only_the_required_columns_in_any_order() -> None:
    text = "z,y,x,zone,floor,device,kind,id\n1,2,3,roof,4,d,noise,n-1\n"
    (spec,) = parse_layout_text(text, "csv")
    assert spec.position == (3.0, 2.0, 1.0) and spec.floor == 4
    assert set(CSV_COLUMNS) == set(text.splitlines()[0].split(","))


@pytest.mark.parametrize(
    ("text", "fmt", "reason"),
    [
        ('{"building": "annex", "sensors": []}', "json", "is for building 'annex', not 'hall'"),
        ('{"sensors": [], "rooms": 1}', "json", "unknown keys"),
        ("[1, 2", "json", "cannot read layout 'test' as json"),
        ("a: [", "yaml", "cannot read layout 'test' as yaml"),
        ('"just text"', "yaml", "must hold a list of sensors"),
        ("id,kind\n", "csv", "CSV header lacks device, floor, zone, x, y, z"),
        (CSV.replace("channels", "colour"), "csv", "unknown CSV columns ['colour']"),
        (CSV.replace("interior,1.5", "interior,east"), "csv", "'th-1': x 'east' must be a number"),
        (CSV.replace(",2,interior", ",2.5,interior"), "csv", "'th-1': floor '2.5' must be"),
        (CSV.replace("f1:Hz", "f1"), "csv", "'vib-roof': channels"),
        (CSV.replace(",30\n", ",30,extra\n"), "csv", "different number of cells"),
        (CSV.replace("vibration", "smoke"), "csv", "'vib-roof': unknown kind 'smoke'"),
        (CSV.splitlines()[0] + "\n", "csv", "no sensors"),
        ("[]", "toml", "unknown layout format 'toml'"),
        ("[" * 100_000, "json", "cannot read layout"),
        ("[" * 100_000, "yaml", "cannot read layout"),
        ("{1: a, sensors: []}", "yaml", "unknown keys ['1']"),
        (CSV + '"' + "x" * 200_000 + '"\n', "csv", "cannot read layout 'test' as csv"),
    ],
)
def test_bad_text_is_refused(text: str, fmt: str, reason: str) -> None:
    with pytest.raises(LayoutError, match=reason.replace("[", r"\[").replace("(", r"\(")):
        parse_layout_text(text, fmt, source="test", building_id="hall")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.sampled_from(LAYOUT_FORMATS))
def test_any_text_is_parsed_or_refused_with_layout_error(text: str, fmt: str) -> None:
    with contextlib.suppress(LayoutError):
        parse_layout_text(text, fmt)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(["", "x", "1", "-2.5", "nan", "inf", "a:b", ";", '"']), max_size=11
        ),
        max_size=4,
    )
)
def test_csv_rows_under_a_good_header_are_parsed_or_refused(rows: list[list[str]]) -> None:
    text = CSV.splitlines()[0] + "\n" + "\n".join(",".join(r) for r in rows)
    with contextlib.suppress(LayoutError):
        parse_layout_text(text, "csv")


def test_every_sensor_too_far_is_named() -> None:
    box = trimesh.creation.box(bounds=[[0, 0, 0], [20, 10, 30]])
    entries = [
        {**ENTRIES[0], "position": [10.0, 10.5, 5.0]},
        {**ENTRIES[0], "id": "far-1", "position": [10.0, 5.0, 32.0]},
        {**ENTRIES[0], "id": "far-2", "position": [25.0, 5.0, 5.0]},
    ]
    specs = parse_layout_text(json.dumps(entries), "json")
    with pytest.raises(LayoutError) as refused:
        place_sensors(specs, box)
    assert str(refused.value) == (
        "sensor 'far-1': position is 2.00 m from the building surface (limit 1.00 m); "
        "sensor 'far-2': position is 5.00 m from the building surface (limit 1.00 m)"
    )
