"""``nircc sim``: inputs from .npy/.npz, semantics flags, output .npz, one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nir
import numpy as np
import pytest

import nircc
from nircc.cli import main
from tests import paths

DATA = paths.PAPER
LIF = str(DATA / "lif_norse.nir")


@pytest.fixture
def lif_input(tmp_path) -> Path:
    x = np.loadtxt(DATA / "lif_norse.csv", delimiter=",")[:, :1]  # [T, 1]: one sample
    path = tmp_path / "x.npy"
    np.save(path, x)
    return path


def test_sim_writes_outputs_states_and_semantics(tmp_path, lif_input, capsys):
    out = tmp_path / "out.npz"
    assert main(["sim", LIF, "--input", str(lif_input), "--dt", "1e-4", "-o", str(out), "--record", "1"]) == 0
    text = capsys.readouterr()
    assert "dt=0.0001 s, euler, reset zero (immediate)" in text.out and "sum 4" in text.out
    with np.load(out, allow_pickle=False) as z:
        assert sorted(z.files) == ["diagnostics", "outputs/output", "semantics", "states/1/output", "states/1/v"]
        assert np.flatnonzero(z["outputs/output"][:, 0, 0]).tolist() == [460, 510, 710, 760]
        sem = json.loads(str(z["semantics"]))
        assert sem == {"dt": 1e-4, "discretization": "euler", "reset": "zero", "reset_timing": "immediate",
                       "spike": "single", "threshold": ">", "initial_v": "zero", "v_min": "none",
                       "preset_name": "nir"}
        assert z["states/1/v"].shape == (1000, 1, 1)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left over


def test_sim_preset_and_overrides(tmp_path, lif_input, capsys):
    out = tmp_path / "o.npz"
    assert main(["sim", LIF, "-i", str(lif_input), "--dt", "1e-4", "--semantics", "rockpool", "--spike", "single",
                 "-o", str(out)]) == 0
    with np.load(out) as z:
        sem = json.loads(str(z["semantics"]))
    assert (sem["preset_name"], sem["discretization"], sem["spike"], sem["threshold"]) == \
        ("rockpool", "rockpool", "single", ">=")
    # without -o: only the summary; the file's missing dt is reported on stderr
    assert main(["sim", LIF, "-i", str(lif_input)]) == 0
    err = capsys.readouterr().err
    assert "dt-default" not in err and "using the default dt = 0.001 s" in err


def test_sim_npz_inputs_by_name(tmp_path, capsys):
    g = nircc.load(nir.NIRGraph(nodes={
        "a": nir.Input(input_type={"input": np.array([2])}), "b": nir.Input(input_type={"input": np.array([2])}),
        "s": nir.Scale(scale=np.array([1.0, 2.0])), "o": nir.Output(output_type={"output": np.array([2])})},
        edges=[("a", "s"), ("b", "s"), ("s", "o")], type_check=False))
    model = tmp_path / "two.nir"
    nircc.save(g, model)
    xin = tmp_path / "in.npz"
    np.savez(xin, a=np.ones((3, 2, 2)), b=np.ones((3, 2, 2)))
    out = tmp_path / "o.npz"
    assert main(["sim", str(model), "-i", str(xin), "--dt", "1e-3", "-o", str(out)]) == 0
    with np.load(out) as z:
        np.testing.assert_array_equal(z["outputs/o"], np.broadcast_to([2.0, 4.0], (3, 2, 2)))
    np.savez(xin, a=np.ones((3, 2, 2)))
    assert main(["sim", str(model), "-i", str(xin), "--dt", "1e-3"]) == 2
    assert "node 'b', field 'input': no data given for this Input node (shape [2])" in capsys.readouterr().err


@pytest.mark.parametrize("array, message", [
    (np.zeros((10, 1, 2)), "node 'input', field 'input': input has shape [10, 1, 2]; expected [T, B, 1]"),
    (np.zeros((10, 1, 1), dtype=np.complex64), "node 'input', field 'input': input has dtype complex64; expected numbers"),
])
def test_sim_bad_input_is_one_line(tmp_path, capsys, array, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    out = tmp_path / "o.npz"
    assert main(["sim", LIF, "-i", str(path), "--dt", "1e-4", "-o", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("nircc: error:")]
    assert len(errors) == 1 and errors[0].startswith(f"nircc: error: {message}")
    assert not out.exists()


def test_sim_refuses_pickles_and_missing_files(tmp_path, capsys):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert main(["sim", LIF, "-i", str(path)]) == 2
    assert "cannot read input file" in capsys.readouterr().err
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04junk")
    for bad in ("empty.npy", "bad.npz"):
        assert main(["sim", LIF, "-i", str(tmp_path / bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"nircc: error: field 'input': cannot read input file '{tmp_path / bad}'") and \
            "Traceback" not in err
    assert main(["sim", LIF, "-i", str(tmp_path / "none.npy")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_sim_bad_option_values(lif_input, capsys):
    assert main(["sim", LIF, "-i", str(lif_input), "--dt", "-1"]) == 2
    assert "field 'dt': dt must be a positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sim", LIF, "-i", str(lif_input), "--reset", "soft"])


def test_sim_subprocess(tmp_path, lif_input):
    out = tmp_path / "o.npz"
    proc = subprocess.run([sys.executable, "-m", "nircc", "sim", LIF, "-i", str(lif_input), "--dt", "1e-4",
                           "--record", "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as z:
        assert {"states/1/v", "states/0/output", "states/input/output"} <= set(z.files)


def test_output_paths_the_file_system_refuses_are_one_line(tmp_path, lif_input, capsys):
    """-o naming a file, or a path through a file: exit 2, one line, the file untouched."""
    blocker = tmp_path / "afile"
    blocker.write_bytes(b"keep")
    tiny = str(paths.EXAMPLES / "tiny_lif.nir")
    assert main([tiny, "--target", "spinnaker2", "-o", str(blocker), "-q"]) == 2
    err = capsys.readouterr().err
    assert err == f"nircc: error: field 'output': output '{blocker}' exists and is not a directory\n"
    assert main(["sim", LIF, "-i", str(lif_input), "--dt", "1e-4", "-o", str(blocker / "out.npz")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"nircc: error: field 'output': output '{blocker}' in '{blocker / 'out.npz'}' exists and is not a directory"
    assert blocker.read_bytes() == b"keep"


def test_a_fidelity_check_that_stops_is_a_warning(tmp_path, capsys):
    """The artifact is written and valid; an emulator that refuses the probe input (Speck:
    int16 overflow when sinabs' dt = 1 meets the file's r = 1000) is reported, not fatal."""
    model = str(paths.EXAMPLES / "speck_nmnist.nir")
    out = tmp_path / "out"
    assert main([model, "--target", "speck", "--semantics", "sinabs", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "nircc: warning: the fidelity check stopped: node 'fc2_if', field 'state': int16 overflow" in err
    assert sorted(f.name for f in out.iterdir()) == ["program.json", "report.json", "speck.json"]
