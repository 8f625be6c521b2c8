"""The ``--optimizers`` grammar (descentlab/optim/spec.py): lists of methods, list values, and one reading of
each spec per command."""

import pytest

import descentlab.optim.spec as spec
from descentlab.cli.main import main
from descentlab.optim.spec import expand_method, expand_methods, parse_methods, split_methods


def test_list_values_continue_after_commas_until_the_next_method():
    assert split_methods("gd,momentum:mu=0.5,0.9,adam") == ["gd", "momentum:mu=0.5,0.9", "adam"]
    assert split_methods("nag:restart=gradient,function,gd") == ["nag:restart=gradient,function", "gd"]
    assert split_methods("momentum:mu=0.5,sgd") == ["momentum:mu=0.5", "sgd"]  # a misspelt name stays a name
    assert expand_method("momentum:mu=0.5,0.9", [0.01, 0.1]) == [
        ("momentum:mu=0.5", 0.01), ("momentum:mu=0.5", 0.1), ("momentum:mu=0.9", 0.01), ("momentum:mu=0.9", 0.1)]
    assert expand_method("adam:lr=0.001,0.003", [0.01, 0.1]) == [("adam", 0.001), ("adam", 0.003)]
    assert expand_methods(["gd", "momentum:mu=0.5,0.9"]) == ("gd", "momentum:mu=0.5", "momentum:mu=0.9")
    with pytest.raises(ValueError, match="mu"):
        expand_method("momentum:mu=0.5,1.5", [0.01])
    listed = parse_methods("gd,momentum:mu=0.5,0.9,adam:lr=0.001")
    assert listed.methods == ("gd", "momentum:mu=0.5,0.9", "adam:lr=0.001")
    assert listed.specs == ("gd", "momentum:mu=0.5", "momentum:mu=0.9", "adam:lr=0.001")
    assert listed.own_lr == ("adam:lr=0.001",)


def _count_readings(monkeypatch):
    """Count the times a spec's text is read (its KEY=VALUE settings parsed), whatever calls it."""
    seen: list[str] = []
    original = spec._setting

    def counting(text, *rest):
        seen.append(text)
        return original(text, *rest)

    monkeypatch.setattr(spec, "_setting", counting)
    spec._read.cache_clear()
    return seen


@pytest.mark.parametrize("command", [["compare"], ["sweep", "--seeds", "1", "--lr", "0.01,0.02"],
                                     ["sweep", "--tune", "--seeds", "1", "--lr", "0.01,0.02"]])
def test_a_command_reads_each_spec_once(command, tmp_path, monkeypatch):
    seen = _count_readings(monkeypatch)
    argv = [*command, "--optimizers", "momentum:mu=0.5,adam:beta1=0.8", "--iterations", "3", "--hidden", "2",
            "--quiet", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    assert sorted(seen) == ["adam:beta1=0.8", "momentum:mu=0.5"]  # one reading per spec, not one per use
