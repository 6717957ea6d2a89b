"""``nircc info`` and the CLI's error handling: the examples, a file in the style of each
exporter (snnTorch, Norse, Sinabs, Rockpool, Lava-DL; built with h5py), --json, --strict,
--version, and unreadable input (one line on stderr, exit status 2, no traceback)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import nircc
from tests.builders import affine, chain, graph, inp, lif, out, scalar_cuba_lif
from nircc.cli import main
from tests import paths

ROOT = paths.ROOT
EXAMPLES = ROOT / "examples"
F32, F64 = np.float32, np.float64


def run_info(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["info", *map(str, args)])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nircc", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


# ----------------------------------------------------------------------------- examples
TINY_LIF = """\
{path} (NIR 1.0.8): 6 nodes, 5 edges
semantics: snntorch, detected from r = tau/dt on 2 nodes (dt = 0.0001 s), the dt snnTorch's export_to_nir writes; --semantics nir to override

nodes (evaluation order)
  name    type    input  output  params
  input   Input   [4]    [4]          0
  fc1     Affine  [4]    [8]         40
  lif1    LIF     [8]    [8]         40
  fc2     Linear  [8]    [2]         16
  lif2    LIF     [2]    [2]         10
  output  Output  [2]    [2]          0

edges ('~>' marks a recurrent edge: its target reads the previous time step)
  input  ->  fc1
  fc1    ->  lif1
  lif1   ->  fc2
  fc2    ->  lif2
  lif2   ->  output

recurrent cycles
  none

totals
  neurons      10  (LIF 10)
  synapses     48  weight entries of Affine, Linear, Conv1d and Conv2d nodes (zeros included)
  parameters  106  entries of all parameter arrays

repairs and notes: none
"""


def test_info_tiny_lif(capsys):
    path = EXAMPLES / "tiny_lif.nir"
    assert run_info(capsys, path) == (0, TINY_LIF.format(path=path), "")


def test_info_braille_rnn(capsys):
    code, text, err = run_info(capsys, EXAMPLES / "braille_rnn.nir")
    assert (code, err) == (0, "")
    lines = text.splitlines()
    assert lines[0].endswith("braille_rnn.nir (NIR 1.0.8): 7 nodes, 7 edges")
    assert "  lif1    CubaLIF  [38]   [38]       266" in lines
    assert "  w_rec   Linear   [38]   [38]     1,444" in lines
    assert "  w_rec  ~>  lif1" in lines and "  lif1   ->  w_rec" in lines
    assert lines[lines.index("recurrent cycles") + 1] == "  lif1, w_rec"
    assert "  neurons        45  (CubaLIF 45)" in lines
    assert "  synapses    2,166  weight entries of Affine, Linear, Conv1d and Conv2d nodes (zeros included)" in lines


def test_info_json_is_deterministic_and_complete(capsys):
    code, text, _ = run_info(capsys, EXAMPLES / "braille_rnn.nir", "--json")
    assert code == 0
    info = json.loads(text)
    assert run_info(capsys, EXAMPLES / "braille_rnn.nir", "--json")[1] == text
    assert set(info) == {"model", "nir_version", "nodes", "edges", "recurrent_cycles", "totals", "diagnostics",
                         "semantics"}
    assert (info["semantics"]["exporter"], info["semantics"]["chosen_by"]) == ("snntorch", "detected")
    assert info["semantics"]["options"]["reset_timing"] == "next_step"
    assert info["nodes"][2] == {"name": "lif1", "type": "CubaLIF", "input_shape": [38], "output_shape": [38],
                                "params": 266}
    assert {"source": "w_rec", "target": "lif1", "recurrent": True} in info["edges"]
    assert info["recurrent_cycles"] == [["lif1", "w_rec"]]
    assert info["totals"] == {"nodes": 7, "edges": 7, "neurons": 45, "neurons_by_type": {"CubaLIF": 45},
                              "synapses": 12 * 38 + 38 * 38 + 38 * 7, "parameters": 2526,
                              "synapses_counted": "weight entries of Affine, Linear, Conv1d and Conv2d nodes "
                                                  "(zeros included)"}
    assert info["diagnostics"] == []


def test_examples_are_rebuilt_byte_for_byte(tmp_path):
    """examples/*.nir are what examples/make_examples.py writes (deterministically)."""
    subprocess.run([sys.executable, str(EXAMPLES / "make_examples.py"), str(tmp_path)], check=True,
                   capture_output=True, timeout=120)
    built = sorted(p.name for p in tmp_path.glob("*.nir"))
    assert built == ["braille_rnn.nir", "tiny_lif.nir"]
    for name in built:
        assert (tmp_path / name).read_bytes() == (EXAMPLES / name).read_bytes(), name


# ----------------------------------------------------------------------------- exporter styles
def _conv(w_shape, stride=1, padding=1, input_shape=None, seed=0) -> dict:
    d = {"type": "Conv2d", "weight": np.random.default_rng(seed).normal(size=w_shape).astype(F32),
         "bias": np.zeros(w_shape[0], F32), "stride": np.array([stride, stride]),
         "padding": np.array([padding, padding]), "dilation": np.array([1, 1]), "groups": 1}
    if input_shape is not None:
        d["input_shape"] = np.array(input_shape)
    return d


def _if(shape) -> dict:
    """sinabs IAF: per-neuron arrays, no v_reset (older exports)."""
    return {"type": "IF", "r": np.ones(shape, F32), "v_threshold": np.ones(shape, F32)}


def _cuba(n: int) -> dict:
    return {"type": "CubaLIF", **{k: np.full(n, v, F32) for k, v in [
        ("tau_syn", 0.002), ("tau_mem", 0.02), ("r", 1.0), ("v_leak", 0.0), ("v_threshold", 1.0),
        ("v_reset", 0.0), ("w_in", 1.0)]}}


def snntorch_style() -> dict:
    """RSynaptic as a subgraph whose CubaLIF has 0-d parameters; Input with a batch axis;
    an Output without a type."""
    rnn = graph({"input": inp(10), "lif": scalar_cuba_lif(),
                 "w_rec": {"type": "Linear", "weight": np.zeros((10, 10), F32)}, "output": out(10)},
                [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    return chain(("input", inp(1, 12)), ("fc1", affine(10, 12)), ("lif1", rnn), ("fc2", affine(3, 10)),
                 ("lif2", scalar_cuba_lif()), ("output", {"type": "Output"}))


def norse_style() -> dict:
    """Conv2d without input_shape, CubaLIF with 0-d parameters, nodes named by index."""
    return chain(("input", inp(2, 8, 8)), ("0", _conv((4, 2, 3, 3), stride=2)), ("1", scalar_cuba_lif()),
                 ("2", {"type": "Flatten", "input_type": np.array([4, 4, 4]), "start_dim": 0, "end_dim": -1}),
                 ("3", affine(5, 64)), ("4", scalar_cuba_lif()), ("output", out(5)))


def sinabs_style() -> dict:
    """CNN with per-neuron IF arrays, SumPool2d, a placeholder Flatten type counted with a
    batch axis (start_dim 1)."""
    return chain(("input", inp(2, 16, 16)), ("0", _conv((8, 2, 3, 3), stride=2, input_shape=[16, 16])),
                 ("1", _if((8, 8, 8))),
                 ("2", {"type": "SumPool2d", "kernel_size": np.array([2, 2]), "stride": np.array([2, 2]),
                        "padding": np.array([0, 0])}),
                 ("3", {"type": "Flatten", "input_type": np.array([0, 0, 0, 0]), "start_dim": 1, "end_dim": -1}),
                 ("4", affine(10, 128)), ("5", _if((10,))), ("output", out(10)))


def rockpool_style() -> dict:
    """LinearTorch/LIFTorch names, per-neuron arrays, the Output of 1 neuron typed [1, 1, 1]."""
    return chain(("input", inp(3)), ("0_LinearTorch", {"type": "Linear", "weight": np.ones((4, 3), F32)}),
                 ("1_LIFTorch", _cuba(4)), ("2_LinearTorch", {"type": "Linear", "weight": np.ones((1, 4), F32)}),
                 ("3_LIFNeuronTorch", lif(1)), ("output", out(1, 1, 1)))


def lava_dl_style() -> dict:
    """lava-dl's netx -> NIR converter: no Input/Output nodes, integer edges, CubaLIF
    parameters as 0-d float64 datasets (w_in = tau_syn)."""
    cuba = {"type": "CubaLIF", "tau_syn": 4.0, "tau_mem": 32.0, "r": 1.0, "v_leak": 0.0, "v_threshold": 80.0,
            "w_in": 4.0}
    return {"type": "NIRGraph",
            "nodes": {"0": {"type": "Linear", "weight": np.ones((16, 8), F32)}, "1": dict(cuba),
                      "2": {"type": "Linear", "weight": np.ones((4, 16), F32)}, "3": dict(cuba)},
            "edges": np.array([[0, 1], [1, 2], [2, 3]])}


STYLES = {
    # name: (graph, printed neuron total, synapses, JSON neurons_by_type, repair codes)
    "snntorch": (snntorch_style, "13  (CubaLIF 13)", 12 * 10 + 10 * 10 + 10 * 3, {"CubaLIF": 13},
                 {"batch-dim", "infer-shape", "broadcast-scalar", "default-field"}),
    "norse": (norse_style, "69  (CubaLIF 69)", 4 * 2 * 9 + 64 * 5, {"CubaLIF": 69},
              {"infer-shape", "broadcast-scalar", "default-field"}),
    "sinabs": (sinabs_style, "522  (IF 522)", 8 * 2 * 9 + 128 * 10, {"IF": 522},
               {"default-field", "flatten-input-type", "flatten-dims"}),
    "rockpool": (rockpool_style, "5  (CubaLIF 4, LIF 1)", 12 + 4, {"CubaLIF": 4, "LIF": 1},
                 {"output-type"}),
    "lava-dl": (lava_dl_style, "20  (CubaLIF 20)", 128 + 64, {"CubaLIF": 20},
                {"add-input", "add-output", "infer-shape", "broadcast-scalar", "default-field"}),
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_info_on_exporter_styles(capsys, raw_nir, style):
    build, neurons_line, synapses, by_type, codes = STYLES[style]
    path = raw_nir(build(), name=f"{style}.nir")
    code, text, err = run_info(capsys, path)
    assert (code, err) == (0, "")
    totals = {line.split()[0]: line.split(None, 1)[1] for line in text.split("\ntotals\n")[1].split("\n\n")[0]
              .splitlines()}
    assert totals["neurons"] == neurons_line
    assert totals["synapses"].split()[0] == f"{synapses:,}"

    code, text, _ = run_info(capsys, path, "--json")
    info = json.loads(text)
    assert code == 0
    assert info["totals"]["neurons_by_type"] == by_type
    assert info["totals"]["synapses"] == synapses
    assert {d["code"] for d in info["diagnostics"]} == codes
    assert all(d["node"] and d["field"] for d in info["diagnostics"])
    assert len(info["nodes"]) == info["totals"]["nodes"] == len(nircc.load(path))


def test_exporter_style_shapes(raw_nir):
    g = nircc.load(raw_nir(snntorch_style()))
    assert set(g.edges) >= {("fc1", "lif1.lif"), ("lif1.lif", "lif1.w_rec"), ("lif1.w_rec", "lif1.lif"),
                            ("lif1.lif", "fc2")}
    assert g.out_shape("input") == (12,) and g.out_shape("lif2") == (3,)
    g = nircc.load(raw_nir(norse_style(), name="n.nir"))
    assert [g.out_shape(n) for n in ("0", "1", "2", "3")] == [(4, 4, 4), (4, 4, 4), (64,), (5,)]
    g = nircc.load(raw_nir(lava_dl_style(), name="l.nir"))
    assert g.op("1").tau_syn.dtype == F64 and g.op("1").tau_syn.shape == (16,)
    assert sorted(g.nodes) == ["0", "1", "2", "3", "input_0", "output_3"]


def test_strict_rejects_repairs(capsys, raw_nir):
    path = raw_nir(rockpool_style())
    code, text, err = run_info(capsys, path, "--strict")
    assert (code, text) == (2, "")
    assert err == ("nircc: error: node 'output', field 'shape': strict mode: Output type [1, 1, 1] contradicts "
                   "its source's shape [1]; using [1]\n")


def test_model_errors_one_line_each(capsys, raw_nir):
    path = raw_nir(chain(("input", inp(3)), ("a", lif(3, tau=np.zeros(3, F32))),
                         ("b", lif(3, r=np.full(3, np.nan, F32))), ("output", out(3))))
    code, text, err = run_info(capsys, path)
    assert (code, text) == (2, "")
    assert err.splitlines() == ["nircc: error: node 'b', field 'r': 3 of 3 values are NaN or infinite",
                                "nircc: error: node 'a', field 'tau': time constant must be > 0, got min 0 "
                                "(3 of 3 values <= 0)"]


# ----------------------------------------------------------------------------- unreadable input
def _not_hdf5(tmp: Path) -> Path:
    (tmp / "model.nir").write_text("this is not HDF5\n")
    return tmp / "model.nir"


def _truncated(tmp: Path) -> Path:
    data = (EXAMPLES / "braille_rnn.nir").read_bytes()
    (tmp / "model.nir").write_bytes(data[: len(data) // 2])
    return tmp / "model.nir"


def _no_layout(tmp: Path) -> Path:
    with h5py.File(tmp / "model.nir", "w") as f:
        f.create_dataset("weights", data=np.ones(3))
    return tmp / "model.nir"


@pytest.mark.parametrize("make, words", [
    (_not_hdf5, "not an HDF5 file"),
    (_truncated, "unreadable or truncated HDF5 file"),
    (_no_layout, "HDF5 file without the NIR layout: no 'node' group at the root (found ['weights'])"),
    (lambda tmp: tmp / "missing.nir", "no such file"),
    (lambda tmp: tmp, "is a directory"),
], ids=["not-hdf5", "truncated", "no-nir-layout", "missing", "directory"])
def test_unreadable_input_is_one_line_exit_2(tmp_path, make, words):
    path = make(tmp_path)
    r = run_cli("info", path)
    assert (r.returncode, r.stdout) == (2, "")
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"nircc: error: {path}: ") and words in lines[0]
    assert "Traceback" not in r.stderr


def test_version():
    r = run_cli("--version")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"nircc {nircc.__version__}\n", "")
