"""Readable forms of found laws: what a scientist would publish.

- :mod:`~lawagent.readable.roles`: each parameter's role(s), and the constructs a reader trips over;
- :mod:`~lawagent.readable.rewrite`: exact reparametrisations (simplify, fold, normalise by powers of ten);
- :mod:`~lawagent.readable.names`: parameter names by role, in the field's conventions;
- :mod:`~lawagent.readable.form`: the readable form of a fitted law, checked to predict as the raw one.
"""

from lawagent.readable.form import Readable, readable_form, same_predictions
from lawagent.readable.roles import Roles, odd_constructs, parameter_roles, penalty

__all__ = ["Readable", "Roles", "odd_constructs", "parameter_roles", "penalty", "readable_form", "same_predictions"]
