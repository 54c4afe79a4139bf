"""Layers on trial: each claim the seed's document makes about a layer, as an experiment on the model served.

One module per experiment (``filters``, ``shifts``, ``probes``, ``reinit``, ``calibration``), the variants
trained to test the claims that need a second model (``variants``), and the claims with their verdicts
(``claims``). Every function takes an :class:`fashion_viz.engine.Engine` or stored results and returns plain
dataclasses that the page draws and ``python -m fashion_viz layers`` prints.
"""
