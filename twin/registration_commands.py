"""`twin buildings add` and `twin sensors import`: register with a running twin over its API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from twin.api_client import TwinApi

buildings_app = typer.Typer(help="Register buildings with a running twin.", no_args_is_help=True)
sensors_app = typer.Typer(help="Register sensors with a running twin.", no_args_is_help=True)

ApiOpt = Annotated[str, typer.Option(help="URL of a running twin's API.")]
TokenOpt = Annotated[
    str | None,
    typer.Option(envvar="TWIN_TOKEN", help="An admin's API token (twin_...); or set TWIN_TOKEN."),
]
_DEFAULT_API = "http://127.0.0.1:8000"


@buildings_app.command("add")
def add_building(
    mesh: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="3D model: .glb, .gltf (buffers embedded), .obj, "
            ".stl or .ply; metres, Z up (glTF: Y up).",
        ),
    ],
    name: Annotated[str, typer.Option(help="The building's name.")],
    address: Annotated[str, typer.Option(help="Street address.")] = "",
    structure_type: Annotated[
        str, typer.Option(help="e.g. 'brick masonry', 'reinforced-concrete frame'.")
    ] = "",
    noise_zone: Annotated[
        int | None, typer.Option(min=0, max=4, help="GB 3096 acoustic zone class (default 2).")
    ] = None,
    building_id: Annotated[
        str | None, typer.Option("--id", help="Building id (default: made from the name).")
    ] = None,
    api: ApiOpt = _DEFAULT_API,
    token: TokenOpt = None,
) -> None:
    """Register a building from its 3D model; prints what was registered and repaired."""
    building = _call(
        api,
        token,
        "register the building",
        lambda client: client.register_building(
            mesh,
            name=name,
            address=address,
            structure_type=structure_type,
            noise_zone=noise_zone,
            building_id=building_id,
        ),
        hints={409: "pass --id with another id", 413: "simplify (decimate) the model"},
    )
    lo, hi = building["bounds"]
    size = " x ".join(f"{b - a:.2f}" for a, b in zip(lo, hi, strict=True))
    typer.echo(f"Registered {building['id']!r} ({building['name']})")
    typer.echo(
        f"  {building['triangles']:,} triangles from {building['mesh_format']}, "
        f"{size} m (x, y, z; Z up), ground at z = {lo[2]:.2f} m"
    )
    repairs = building["repairs"]
    typer.echo("  repairs: " + ("; ".join(repairs) if repairs else "none needed"))
    typer.echo(f"Next: twin sensors import {building['id']} LAYOUT.yaml --api {api}")


@sensors_app.command("import")
def import_sensors(
    building_id: Annotated[str, typer.Argument(help="The building's id.")],
    layout: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="Sensor layout: .yaml/.yml, .json or .csv."
        ),
    ],
    max_distance_m: Annotated[
        float | None,
        typer.Option(help="Farthest a sensor may be moved onto the surface (default 1 m)."),
    ] = None,
    api: ApiOpt = _DEFAULT_API,
    token: TokenOpt = None,
) -> None:
    """Add or replace a building's sensors from a layout file, snapped onto its surface."""
    result = _call(
        api,
        token,
        "import the sensors",
        lambda client: client.import_sensors(building_id, layout, max_distance_m=max_distance_m),
        hints={
            404: f"register it first with `twin buildings add` (see {api}/api/v1/buildings)",
            422: "fix the layout file; --max-distance-m allows sensors farther from the surface",
        },
    )
    typer.echo(
        f"Building {result['building_id']!r}: {len(result['added'])} sensors added, "
        f"{len(result['replaced'])} replaced"
    )
    width = max(len(s["id"]) for s in result["sensors"])
    for s in result["sensors"]:
        x, y, z = s["position"]
        typer.echo(
            f"  {s['id']:<{width}}  moved {s['moved_m']:.3f} m to ({x:.2f}, {y:.2f}, {z:.2f})"
            f"  {s['kind']}, floor {s['floor']}, {s['zone']}"
        )


_ACCESS_HINTS = {
    401: "pass --token (or set TWIN_TOKEN) with an admin's token: `twin tokens add NAME "
    "--role admin` on the twin's server makes one; the demo prints one",
    403: "this needs an admin's token",
}


def _call(
    api: str,
    token: str | None,
    action: str,
    request: Callable[[TwinApi], Any],
    hints: dict[int, str],
) -> Any:
    """Run one API request; on failure say why and what to do, and exit non-zero."""
    from twin.api_client import ApiError, TwinApi

    hints = _ACCESS_HINTS | hints
    try:
        return request(TwinApi(api, token=token))
    except ApiError as exc:
        hint = f"\nWith this command: {hints[exc.status]}." if exc.status in hints else ""
        _fail(f"the twin at {api} could not {action}: {exc.detail} (HTTP {exc.status}){hint}")
    except ValueError as exc:  # a file the command cannot send, e.g. a .txt layout
        _fail(str(exc))
    except OSError as exc:  # urllib's connection errors
        _fail(
            f"cannot reach the twin at {api} ({exc}): start one with `twin serve` or "
            "`twin demo`, or pass --api with its URL"
        )


def _fail(message: str) -> NoReturn:
    typer.secho(f"Error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)
