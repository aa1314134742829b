"""A candidate as a line of candidates.jsonl: strict JSON, nothing shared with the record, and back."""

import json
import math

from lawagent.discovery.candidate_rows import record_from_dict, record_to_dict
from lawagent.jsonio import dumps
from lawagent.proposers.base import CandidateRecord


def test_a_record_round_trips_through_its_line_and_shares_nothing_with_it():
    rec = CandidateRecord(id=3, formula="E + A*x**b", origin="symbolic:insert", iteration=2, complexity=7,
                          n_params=3, val_r2=0.91, fit_r2=0.97, seconds=0.02, key="k", fold_r2=[0.8, -math.inf],
                          params={"g1": {"E": 1.5, "A": math.nan, "b": -0.3}, "g2": {"E": 1.2, "A": 2.0, "b": -0.4}},
                          stage="full")
    row = record_to_dict(rec, {"bounds": {"b": (-2.0, math.inf)}, "initial": {}})
    line = dumps(row, indent=None)
    assert "NaN" not in line and "Infinity" not in line  # strict JSON
    back = json.loads(line)
    assert back["fold_r2"] == [0.8, None] and back["params"]["g1"]["A"] is None
    assert back["bounds"] == {"b": [-2.0, None]}
    again = record_from_dict(back)
    assert again.fold_r2 == [0.8, -math.inf] and math.isnan(again.params["g1"]["A"])
    assert (again.id, again.formula, again.val_r2, again.params["g2"], again.stage) == (
        3, "E + A*x**b", 0.91, {"E": 1.2, "A": 2.0, "b": -0.4}, "full")
    row["params"]["g2"]["E"] = 99.0  # the row is a copy: writing it cannot change the population's record
    row["fold_r2"].append(1.0)
    assert rec.params["g2"]["E"] == 1.2 and rec.fold_r2 == [0.8, -math.inf]
