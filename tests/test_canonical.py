"""Canonical keys: equivalent rewritings and renamed parameters are one candidate."""

from lawagent.discovery.canonical import canonical_key, key_digest
from lawagent.law.law import Law


def key(text, features=("N",), **kw):
    return canonical_key(Law.parse(text, features, **kw))


def test_renamed_and_rewritten_power_laws_share_a_key():
    k = key("A/N^a + E")
    assert key("E + B*N^(-b)") == k
    assert key("C + D/N**g") == k
    assert key("E + 2*A*N^(-a)") == k  # numeric factor absorbed into a free parameter
    assert key("A/N^(2*a) + E + 1") == k


def test_exact_numbers():
    assert key("A*N^0.5 + E") == key("A*sqrt(N) + E")


def test_different_forms_differ():
    assert key("A/N^a + E") != key("A*log(N) + E")
    assert key("A/N^a + E") != key("A/N^a")
    assert key("A/N^a + E") != key("A*N^0.5 + E")
    # a parameter used twice is not free: its factor matters
    assert key("A/N^a + A", ) != key("2*A/N^a + A")


def test_two_features_order_and_tied_exponents():
    f = ("N", "D")
    k = key("A/N^a + B/D^b + E", f)
    assert key("B/D^b + A/N^a + E", f) == k
    assert key("E + X/D^y + Y/N^z", f) == k
    assert key("A/N^a + B/D^a + E", f) != k


def test_bounds_are_part_of_the_key():
    assert key("A/N^a + E", bounds={"a": (0, 2)}) == key("E + B/N^b", bounds={"b": (0, 2)})
    assert key("A/N^a + E", bounds={"a": (0, 2)}) != key("A/N^a + E")
    assert key("A/N^a + E", bounds={"a": (0, 2)}) != key("A/N^a + E", bounds={"A": (0, 2)})


def test_multi_target():
    f = ("N",)
    t = ["y1", "y2"]
    assert key("A/N^a + E; B*N", f, targets=t) == key("E + C/N^c; D*N", f, targets=t)
    assert key("A/N^a + E; B*N", f, targets=t) != key("B*N; A/N^a + E", f, targets=t)


def test_digest_is_short_and_stable():
    k = key("A/N^a + E")
    assert key_digest(k) == key_digest(key("C + D/N**g")) and len(key_digest(k)) == 20


def test_the_canonical_form_runs_under_the_wall_clock_guard(monkeypatch, tmp_path):
    """Every proposal is canonicalised in the loop; it had no time bound (the parser had one).
    A real key takes well under a millisecond, so a slow one is simulated (a key computation that
    runs on for 2 s): the guard stops it at its limit."""
    import time

    import pytest

    import lawagent.discovery.canonical as canonical
    from lawagent.discovery.population import Population
    from lawagent.discovery.runner import _dedupe
    from lawagent.errors import FormulaError
    from lawagent.proposers.base import Proposal
    from lawagent.selection.protocol import protocol_for
    from lawagent.selection.view import TrainView
    from lawagent.task import task_from_csv

    csv = tmp_path / "data.csv"
    csv.write_text("x,y\n" + "".join(f"{x},{2 + 1 / x}\n" for x in range(1, 41)))
    task = task_from_csv(csv, ["x"], ["y"], holdout="x >= 35", parameter_budget=100)
    view = TrainView.of(task, protocol_for(task))
    text = " + ".join(f"A{i}*x^a{i}" for i in range(30)) + " + E"
    assert not list(_dedupe([Proposal((text,))], Population(), view, None))[0][1].startswith("text:")
    real = canonical._canonical_key

    def slow(law):
        end = time.monotonic() + 2.0
        while time.monotonic() < end:  # Python bytecode: the guard's exception lands here
            pass
        return real(law)

    monkeypatch.setattr(canonical, "_canonical_key", slow)
    monkeypatch.setattr(canonical, "CANONICAL_SECONDS", 0.05)
    with pytest.raises(FormulaError, match="finding the canonical form of a law took longer than"):
        key(text, ("x",))
    # the loop then keys the law by its text and still evaluates it (the parsed law goes to the workers)
    new = list(_dedupe([Proposal((text,))], Population(), view, None))
    assert len(new) == 1 and new[0][1].startswith("text:") and new[0][2] is not None
