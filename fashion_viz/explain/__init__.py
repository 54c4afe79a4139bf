"""Explanations of the model, one module per technique, each over the model's engine (:mod:`fashion_viz.engine`).

- :mod:`fashion_viz.explain.arithmetic`: how every number in every layer is computed.
- :mod:`fashion_viz.explain.attribution`: which pixels drove a class score (six methods, one compiled forward).
- :mod:`fashion_viz.explain.faithfulness`: how far each attribution method can be trusted (deletion,
  insertion, model randomisation, completeness).
- :mod:`fashion_viz.explain.whatif`: edit the picture or switch units off, and say what changed.
- :mod:`fashion_viz.explain.units`: what each unit has learned (exemplars, votes, statistics, activation maximisation).
- :mod:`fashion_viz.explain.embedding`: the test set's map in the last hidden layer's space, and placing a new picture on it.
- :mod:`fashion_viz.explain.precompute`: both, computed once per model and stored beside it.
"""
