"""revoke-check simulate (seeded random walks) and dump (graphs for review)."""
import networkx as nx
from click.testing import CliRunner

from revoke_check.cli import main
from revoke_check.reports.graphs import lock_graph, state_graph, step_graph
from revoke_check.replay import replay
from revoke_check.run import build
from revoke_check.semantics import Semantics
from revoke_check.engines.simulate import simulate


def test_simulate_finds_a_known_bug_and_shortens_it_to_the_bfs_length():
    model, checks = build("default", "no-wait-for-unmap", ["revoked-means-unmapped"])
    r = simulate(model, checks, runs=200, depth=100, seed=3)
    assert r.verdict == "violated" and r.property == "revoked-means-unmapped"
    assert len(r.trace) == 10          # the manifest's shortest length, found by the bounded BFS
    assert r.trace.engine == "simulate+bfs"
    rr = replay(r.trace, Semantics(model, checks))
    assert rr.ok and rr.violation[0] == "revoked-means-unmapped"


def test_simulate_is_deterministic_and_never_says_holds():
    model, checks = build("wide", "upstream")
    a = simulate(model, checks, runs=15, depth=50, seed=7)
    b = simulate(model, checks, runs=15, depth=50, seed=7)
    assert a.verdict == b.verdict == "incomplete" and a.exit_code == 3
    assert a.transitions == b.transitions and "not exhaustive" in a.message


def test_simulate_without_bfs_keeps_the_walk():
    model, checks = build("default", "flr-revoke-typo", ["undo-restores-every-revoke"])
    r = simulate(model, checks, runs=200, depth=100, seed=3, bfs_states=0)
    assert r.verdict == "violated" and len(r.trace) >= 10 and r.trace.engine == "simulate"
    assert replay(r.trace, Semantics(model, checks)).ok


def test_state_graph_has_every_reachable_state_and_transition():
    model, _ = build("tiny", "upstream", ["deadlock-free"])
    g = state_graph(model)
    assert (g.number_of_nodes(), g.number_of_edges()) == (97, 164)
    assert nx.is_weakly_connected(g)


def test_lock_graph_is_the_upstream_order():
    model, _ = build("default", "upstream", ["deadlock-free"])
    assert set(lock_graph(model).edges) == {("memory_lock", "resv"), ("dev_set->lock", "memory_lock"),
                                            ("dev_set->lock", "resv")}
    bad, _ = build("default", "unmap-takes-memory-lock", ["deadlock-free"])
    assert not nx.is_directed_acyclic_graph(lock_graph(bad))


def test_step_graph_of_one_thread():
    model, _ = build("tiny", "upstream", ["deadlock-free"])
    g = step_graph(model, "importer.imp0")
    assert "importer.imp0:done" in g and g.number_of_edges() == 9


def test_dump_cli_writes_dot_and_graphml_and_refuses_other_suffixes(tmp_path):
    run = lambda *a: CliRunner().invoke(main, list(a))  # noqa: E731
    r = run("dump", "states", str(tmp_path / "s.dot"), "-c", "tiny")
    assert r.exit_code == 0 and "97 nodes, 164 edges" in r.output
    assert (tmp_path / "s.dot").read_text().startswith("digraph")
    r = run("dump", "locks", str(tmp_path / "l.graphml"), "-c", "default")
    assert r.exit_code == 0 and nx.read_graphml(tmp_path / "l.graphml").number_of_edges() == 3
    r = run("dump", "states", str(tmp_path / "s.txt"), "-c", "tiny")
    assert r.exit_code == 2 and "unknown graph format .txt" in r.output
    r = run("simulate", "-c", "tiny", "--runs", "3")
    assert r.exit_code == 3 and "no violation found (incomplete)" in r.output
