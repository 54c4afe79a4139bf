"""Figure builders, one module per view area, all over one palette (:mod:`fashion_viz.palette`) and one house
style (:mod:`fashion_viz.figures.base`): pure functions from arrays to Plotly figures, pictures or HTML, no UI.

- ``base``: the house style, phone layout, mosaics, plain pictures;
- ``prediction``: the class-probability bars; ``layers``: the Explorer's layer views and filters;
- ``arithmetic``: the arithmetic panel; ``attribution``: the Why page; ``units`` and ``map``: those pages;
- ``architecture``, ``training``, ``evaluation``, ``trials`` (Layers on trial): those pages.
"""
