"""The eight NIR paper files (tests/data/nir_paper) load, with exact nodes, edges, shapes and
repairs.  nir.read (1.0.8) rejects three of them."""
from __future__ import annotations


import nir
import pytest

import nircc
from tests import paths

PAPER = paths.PAPER


def _braille(hidden: int, lif: str, rec: str, affine: str) -> dict:
    return {
        "nodes": {"input": ("Input", (12,), (12,)), "fc1": (affine, (12,), (hidden,)),
                  lif: ("CubaLIF", (hidden,), (hidden,)), rec: (affine, (hidden,), (hidden,)),
                  "fc2": (affine, (hidden,), (7,)), "lif2": ("CubaLIF", (7,), (7,)), "output": ("Output", (7,), (7,))},
        "edges": {("input", "fc1"), ("fc1", lif), (lif, rec), (rec, lif), (lif, "fc2"), ("fc2", "lif2"),
                  ("lif2", "output")},
    }


CNN_SHAPES = [("input", "Input", (2, 34, 34), (2, 34, 34)), ("0", "Conv2d", (2, 34, 34), (16, 16, 16)),
              ("1", "IF", (16, 16, 16), (16, 16, 16)), ("2", "Conv2d", (16, 16, 16), (16, 16, 16)),
              ("3", "IF", (16, 16, 16), (16, 16, 16)), ("4", "SumPool2d", (16, 16, 16), (16, 8, 8)),
              ("5", "Conv2d", (16, 8, 8), (8, 8, 8)), ("6", "IF", (8, 8, 8), (8, 8, 8)),
              ("7", "SumPool2d", (8, 8, 8), (8, 4, 4)), ("8", "Flatten", (8, 4, 4), (128,)),
              ("9", "Affine", (128,), (256,)), ("10", "IF", (256,), (256,)), ("11", "Affine", (256,), (10,)),
              ("12", "IF", (10,), (10,)), ("output", "Output", (10,), (10,))]
CNN_ORDER = [n for n, *_ in CNN_SHAPES]

EXPECTED = {
    "braille_noDelay_bias_zero.nir": {
        **_braille(38, "lif1.lif", "lif1.w_rec", "Affine"),
        "diagnostics": [("default-field", "lif1.lif", "v_reset"), ("default-field", "lif2", "v_reset")]},
    "braille_noDelay_noBias_subtract.nir": {
        **_braille(40, "lif1.lif", "lif1.w_rec", "Linear"),
        "diagnostics": [("default-field", "lif1.lif", "v_reset"), ("default-field", "lif2", "v_reset")]},
    "braille_noDelay_bias_zero_subgraph.nir": {
        **_braille(38, "lif1.lif1", "lif1.lin", "Affine"),
        "diagnostics": [("edge-name", "lif1.lif1", "edges")] * 4
        + [("default-field", "lif1.lif1", "v_reset"), ("default-field", "lif2", "v_reset")]},
    "braille_noDelay_noBias_subtract_subgraph.nir": {
        **_braille(40, "lif1.lif1", "lif1.lin", "Linear"),
        "diagnostics": [("edge-name", "lif1.lif1", "edges")] * 4
        + [("default-field", "lif1.lif1", "v_reset"), ("default-field", "lif2", "v_reset")]},
    "cnn_sinabs.nir": {
        "nodes": {n: (t, i, o) for n, t, i, o in CNN_SHAPES},
        "edges": set(zip(CNN_ORDER, CNN_ORDER[1:])),
        "diagnostics": [("default-field", n, "v_reset") for n in ("1", "10", "12", "3", "6")]},
    "lif_norse.nir": {
        "nodes": {"input": ("Input", (1,), (1,)), "0": ("Affine", (1,), (1,)), "1": ("LIF", (1,), (1,)),
                  "output": ("Output", (1,), (1,))},
        "edges": {("input", "0"), ("0", "1"), ("1", "output")},
        "diagnostics": [("default-field", "1", "v_reset")]},
    "lif_rockpool.nir": {
        "nodes": {"input": ("Input", (1,), (1,)), "0_LinearTorch": ("Linear", (1,), (1,)),
                  "1_LIFNeuronTorch": ("LIF", (1,), (1,)), "output": ("Output", (1,), (1,))},
        "edges": {("input", "0_LinearTorch"), ("0_LinearTorch", "1_LIFNeuronTorch"), ("1_LIFNeuronTorch", "output")},
        "diagnostics": [("default-field", "1_LIFNeuronTorch", "v_reset"), ("output-type", "output", "shape")]},
    "two_lif_neurons.nir": {
        "nodes": {"in": ("Input", (1,), (1,)), "linear1": ("Linear", (1,), (1,)), "lif1": ("LIF", (1,), (1,)),
                  "linear2": ("Linear", (1,), (1,)), "lif2": ("LIF", (1,), (1,)), "out": ("Output", (1,), (1,))},
        "edges": {("in", "linear1"), ("linear1", "lif1"), ("lif1", "linear2"), ("linear2", "lif2"), ("lif2", "out")},
        "diagnostics": [("default-field", "lif1", "v_reset"), ("default-field", "lif2", "v_reset")]},
}
NIR_READ_REJECTS = {"braille_noDelay_bias_zero_subgraph.nir", "braille_noDelay_noBias_subtract_subgraph.nir",
                    "lif_rockpool.nir"}


def test_all_paper_files_are_covered():
    assert {p.name for p in PAPER.glob("*.nir")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_paper_file_loads(name):
    exp = EXPECTED[name]
    g = nircc.load(PAPER / name)
    assert {n: (g.type(n), g.in_shape(n), g.out_shape(n)) for n in g.nodes} == exp["nodes"]
    assert set(g.edges) == exp["edges"] and len(g.edges) == len(exp["edges"])
    assert [(d.code, d.node, d.field) for d in g.diagnostics] == exp["diagnostics"]
    assert g.meta["nir_version"] == ("0.1.1" if name == "lif_norse.nir" else "0.2.0")


@pytest.mark.parametrize("name", sorted(NIR_READ_REJECTS))
def test_nir_read_rejects_what_nircc_repairs(name):
    with pytest.raises(ValueError):
        nir.read(PAPER / name)


def test_braille_recurrence_and_schedule():
    g = nircc.load(PAPER / "braille_noDelay_bias_zero.nir")
    s = g.schedule()
    assert s.back_edges == {("lif1.w_rec", "lif1.lif")}
    assert s.order == ("input", "fc1", "lif1.lif", "fc2", "lif1.w_rec", "lif2", "output")
    assert g.recurrent_cycles() == [["lif1.lif", "lif1.w_rec"]]
