"""The law card (``lawagent show``, and a section of ``lawagent report``).

- :mod:`~lawagent.card.card`: gather it from a run folder (training rows only);
- :mod:`~lawagent.card.compute_optimal`: N* ∝ C^a, D* ∝ C^b from a law of size and data;
- :mod:`~lawagent.card.text`: the terminal rendering.
"""

from lawagent.card.card import LawCard, law_card

__all__ = ["LawCard", "law_card"]
