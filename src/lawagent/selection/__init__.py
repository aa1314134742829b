"""Selection: which rows validate a law, and which law wins. Search cannot get around it.

- :mod:`~lawagent.selection.protocol`: validation folds carved from training rows;
- :mod:`~lawagent.selection.view`: the train-only view search and proposers receive;
- :mod:`~lawagent.selection.probe`: the train-only extrapolation probe;
- :mod:`~lawagent.selection.rank`: the selection score, ranking, finalists, parsimony;
- :mod:`~lawagent.selection.dev`: the development split (no test rows) for ``bench --dev``.
"""
