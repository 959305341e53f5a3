"""Show the building: fixed scales, mesh fields, sensor states, live views and snapshots.

Modules: ``scales`` (fixed colour scale per metric), ``colouring`` (sensor values -> mesh
field), ``state`` (sensor states, zone health, what one frame shows), ``replay`` (the time
machine), ``camera`` (the fixed snapshot view), ``scene`` (the live scene on any plotter),
``snapshot`` (offscreen PNGs), ``desktop`` (the PyVista window), ``web`` and ``web_ui``
(the trame app), ``chart`` and ``bench``. PyVista, VTK and trame load only where used.
"""
