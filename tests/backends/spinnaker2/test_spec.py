"""SpiNNaker2 spec: chip figures, neuron models, the cited table and the PE memory model."""
from __future__ import annotations

import dataclasses

import pytest

from nircc.backends.spinnaker2.spec import (DEFAULT_MEMORY, MODEL_NAMES, SOURCES, get_model, get_spec, pe_memory,
                                            pe_memory_breakdown)
from nircc.errors import NirccError


def test_chip_figures():
    s = get_spec()
    assert s.name == "chip"
    assert (s.n_pes, s.app_pes_per_chip, s.app_pes) == (152, 148, 148)
    assert (s.sram_per_pe, s.code_memory, s.data_memory) == (128 * 1024, 32 * 1024, 96 * 1024)
    assert s.state_format == "float32" and s.max_delay_steps == 8
    assert get_spec("board48").app_pes == 7104


def test_unknown_names_are_errors():
    with pytest.raises(NirccError, match="board48") as e:
        get_spec("spinnaker1")
    assert e.value.field == "variant"
    with pytest.raises(NirccError, match="lif_curr_exp_no_delay"):
        get_model("izhikevich")


@pytest.mark.parametrize("name, weights, max_delay, projections", [
    ("lif", (-15, 15), 7, ("list",)),
    ("lif_no_delay", (-127, 127), 0, ("list",)),
    ("lif_curr_exp", (-15, 15), 7, ("list",)),
    ("lif_curr_exp_no_delay", (-127, 127), 0, ("list",)),
    ("lif_conv2d", (-128, 127), 0, ("conv2d",)),
    ("spike_list", None, 0, ()),
])
def test_models(name, weights, max_delay, projections):
    m = get_model(name)
    assert (m.weight_range, m.max_delay, m.projections) == (weights, max_delay, projections)


def test_parameter_keys():
    assert get_model("lif").params == ("threshold", "alpha_decay", "i_offset", "v_reset", "reset")
    assert get_model("lif_curr_exp_no_delay").params[-3:] == ("exc_decay", "inh_decay", "t_refrac")
    assert get_model("lif_curr_exp").synapse_types == 2 and get_model("lif").synapse_types == 1


def test_table_rows_carry_tag_and_source():
    rows = get_spec().table()
    items = [r[0] for r in rows]
    assert {"n_pes", "app_pes_per_chip", "data_memory", "host_link"} <= set(items)
    assert {f"model.{m}" for m in MODEL_NAMES} <= set(items)
    for item, _value, tag, source in rows:
        assert tag.startswith("[") and source, item
    assert dict((r[0], r[2]) for r in rows)["app_pes_per_chip"] == "[2nd]"
    assert set(SOURCES) >= {f"S{i}" for i in range(1, 10)}


def test_pe_memory_lif_no_delay_by_hand():
    # 100 neurons, 1000 synapses in 40 rows, spikes + v over 50 steps
    b = pe_memory_breakdown("lif_no_delay", 100, 1000, ["spikes", "v"], 50, n_rows=40)
    assert b == {"fixed": 8192,
                 "neurons": 100 * 4 * (5 + 1),          # 5 words + one input slot
                 "synapses": 1000 * 4 + 40 * 4,
                 "recording": 50 * 16 + 50 * 4 * 100}   # ceil(100/8) = 13 -> 16 bytes per step
    assert pe_memory("lif_no_delay", 100, 1000, ["spikes", "v"], 50, n_rows=40) == sum(b.values()) == 35552


def test_pe_memory_other_models():
    # lif_curr_exp: 11 words + 8 slots x 2 synapse types
    assert pe_memory_breakdown("lif_curr_exp", 10, 0, [], 0)["neurons"] == 10 * 4 * (11 + 16)
    # lif: 5 words + 8 slots
    assert pe_memory_breakdown("lif", 10, 0, [], 0)["neurons"] == 10 * 4 * 13
    # conv: 2x4x3x3 = 72 int8 weights + one conv_params record
    assert pe_memory_breakdown("lif_conv2d", 16, 0, [], 0, conv_kernel_weights=72, n_conv=1)["synapses"] == 112
    assert pe_memory_breakdown("lif_conv2d", 16, 0, [], 0, conv_kernel_weights=70, n_conv=1)["synapses"] == 112
    # spike_list: one offset per neuron + 4 bytes per spike time
    assert pe_memory_breakdown("spike_list", 10, 0, [], 0, n_input_spikes=25)["neurons"] == 40 + 100


def test_memory_model_is_adjustable():
    small = dataclasses.replace(DEFAULT_MEMORY, fixed_bytes=0, synapse_bytes=2)
    assert pe_memory("lif_no_delay", 1, 10, [], 0, memory=small) == 4 * 6 + 20
    spec = dataclasses.replace(get_spec(), memory=small)
    assert spec.pe_memory("lif_no_delay", 1, 10, [], 0) == 44


def test_one_pe_holds_150_lif_neurons_with_spike_recording():
    """A plausibility check of the model: 150 lif_no_delay neurons with 100 synapses each
    and spike recording over 1000 steps fit 96 KiB; recording v for 1000 steps does not."""
    s = get_spec()
    assert s.pe_memory("lif_no_delay", 150, 150 * 100, ["spikes"], 1000) <= s.data_memory
    assert s.pe_memory("lif_no_delay", 150, 150 * 100, ["spikes", "v"], 1000) > s.data_memory
