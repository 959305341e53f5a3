"""Colour the building by sensor values: fixed scales, mesh fields and offscreen snapshots.

Modules: ``scales`` (fixed colour scale per metric), ``colouring`` (sensor values -> mesh
field), ``camera`` (the fixed snapshot view) and ``snapshot`` (PNG rendering; the only one
that loads PyVista/VTK, and only when it renders).
"""
