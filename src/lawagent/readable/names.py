"""Parameter names by role, in the field's conventions (Chinchilla's ``E + A/N^alpha + B/D^beta``).

- ``E`` the irreducible term (offset), ``E2``, ... if a law has several;
- ``A, B, C, ...`` coefficients, in reading order;
- ``alpha, beta, ...`` exponents and rates, one Greek letter per feature in the task's
  feature order (the exponent of the first feature is ``alpha``);
- ``N0``-style names for a feature's shifts and scales (``N0``, ``N1``; a long feature name
  gets an underscore: ``sft_data_size_0``);
- ``c1, c2, ...`` for anything else.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from lawagent.law.parse import FUNCTIONS, MAX_NAME_LENGTH
from lawagent.readable.roles import Roles

GREEK = ("alpha", "beta", "gamma", "delta", "kappa", "lambda", "mu", "nu", "rho", "sigma", "tau", "phi", "psi",
         "omega", "theta", "zeta", "eta", "xi", "chi")
LATIN = "ABCDFGHJKLMPQRSTUVWXYZ"


def role_names(roles: Roles, parameters: Sequence[str], features: Sequence[str],
               taken: Iterable[str] = ()) -> dict[str, str]:
    """old name -> readable name for every parameter (in reading order), avoiding features and ``taken``."""
    used = set(features) | set(taken) | set(FUNCTIONS)
    out: dict[str, str] = {}

    def claim(name: str) -> str:
        base, i = name, 2
        while name in used or len(name) > MAX_NAME_LENGTH:
            name = f"{base}{i}" if not base[-1].isdigit() else f"{base}_{i}"
            i += 1
        used.add(name)
        return name

    latin = iter(LATIN)
    others = 0
    for p in parameters:
        role = roles.role(p)
        feats = [f for f in roles.features(p) if f in features]
        if role == "offset":
            out[p] = claim("E")
        elif role == "coefficient":
            letter = next((c for c in latin if c not in used), None)
            out[p] = claim(letter or "A")
        elif role in ("exponent", "rate"):
            index = min((list(features).index(f) for f in feats), default=len(features))
            free = [g for g in GREEK[index:] + GREEK[:index] if g not in used]
            out[p] = claim(free[0] if free else "alpha")
        elif role == "scale" and feats:
            f = feats[0]
            sep = "" if len(f) <= 3 else "_"
            i = next(i for i in range(len(used) + 1) if f"{f}{sep}{i}" not in used)
            out[p] = claim(f"{f}{sep}{i}")
        else:
            others += 1
            out[p] = claim(f"c{others}")
    return out
