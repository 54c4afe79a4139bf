"""Watch it learn: a replay of training, from the random start to the saved model.

``record``: the moments of the snapshots and the callback that takes them while training; ``store``: the
``<stem>.replay.npz`` file beside the model (compact weights, tied to the model's SHA-256); ``views``: what
the Replay page, ``python -m fashion_viz replay`` and the GIFs show, computed from the snapshots.
"""
