"""Explanations of the model, one module per technique, each over the activation extractor's outputs.

- :mod:`fashion_viz.explain.arithmetic`: how every number in every layer is computed.
"""
