"""Speck spec: memory formulas (with the worked examples of speck.md §1.1), limits, variants."""
from __future__ import annotations

import pytest

from nircc.backends.speck import spec as S
from nircc.errors import NirccError

Ki = 1024


def test_ceil_log2_exact():
    assert [S.ceil_log2(n) for n in (1, 2, 3, 4, 5, 8, 9, 16, 17, 1024, 1025)] == [0, 1, 2, 2, 3, 3, 4, 4, 5, 10, 11]
    with pytest.raises(ValueError):
        S.ceil_log2(0)


def test_doc_example_conv_16_32_3x3_on_64x64_fits_nowhere():
    # Conv2d(16 -> 32, 3x3, pad 1) on 64x64: output 64x64
    assert S.kernel_memory(16, 32, 3) == 16 * 2 ** (4 + 5) == 8 * Ki
    assert S.neuron_memory(32, 64, 64) == 32 * 2 ** (6 + 6) == 128 * Ki
    mem = S.layer_memory(16, 32, 3, 64, 64)
    assert mem == {"kernel": 8 * Ki, "neuron": 128 * Ki, "bias": 32}
    assert S.SPECK2F.cores_that_fit(mem) == []
    assert not any(S.fits(core, mem) for core in range(9))


def test_doc_example_mnist_linear_8x4x4_to_256():
    # Linear after Flatten of (8, 4, 4) = conv 8 -> 256 with a 4x4 kernel, 1x1 output
    mem = S.layer_memory(8, 256, 4, 1, 1, bias=False)
    assert mem == {"kernel": 32 * Ki, "neuron": 256, "bias": 0}
    assert S.SPECK2F.cores_that_fit(mem) == [3, 4, 5, 6]
    assert S.fits(3, mem) and not S.fits(2, mem) and not S.fits(7, mem)


def test_neuron_memory_rounds_map_not_features():
    assert S.neuron_memory(3, 5, 9) == 3 * 8 * 16
    assert S.kernel_memory(3, 5, 1) == 3 * 8


def test_core_table():
    sp = S.get_spec()
    assert sp.name == "speck2f" and S.DEFAULT_VARIANT == "speck2f"
    assert sp.kernel_memory == tuple(x * Ki for x in (16, 16, 16, 32, 32, 64, 64, 16, 16))
    assert sp.neuron_memory == tuple(x * Ki for x in (64, 64, 64, 32, 32, 16, 16, 16, 16))
    assert sp.bias_memory == (Ki,) * 9
    assert sp.capacity(5) == {"kernel": 64 * Ki, "neuron": 16 * Ki, "bias": Ki}
    # bias memory counts too
    assert not sp.fits(0, {"kernel": 1, "neuron": 1, "bias": Ki + 1})


def test_limits_and_formats():
    sp = S.SPECK2F
    assert (sp.max_input_size, sp.max_features, sp.max_output_size, sp.max_kernel) == (128, 1024, 64, 16)
    assert sp.strides == (1, 2, 4, 8) and sp.max_padding == 7 and sp.poolings == (1, 2, 4)
    assert sp.n_destinations == 2
    assert sp.weight_range == (-128, 127)
    assert sp.state_range == sp.threshold_range == sp.bias_range == (-32768, 32767)
    assert (sp.safe_threshold_high_max, sp.safe_threshold_low_min) == (32639, -32640)
    assert sp.dvs.polarities == 2 and sp.dvs.max_size == 128 and sp.dvs.poolings == (1, 2, 4)
    assert sp.readout.n_classes == 15 and sp.readout.feature_spacing == 4 and sp.readout.layer_id == 12
    assert sp.dvs_layer_id == 13


def test_variants_differ_only_where_documented():
    f, e, d = S.get_spec("speck2f"), S.get_spec("speck2e"), S.get_spec("dynapcnn")
    same = ("n_cores", "kernel_memory", "neuron_memory", "bias_memory", "max_input_size", "max_features",
            "max_output_size", "max_kernel", "strides", "max_padding", "poolings", "n_destinations",
            "weight_bits", "state_bits", "threshold_bits", "bias_bits")
    for key in same:
        assert getattr(f, key) == getattr(e, key) == getattr(d, key), key
    assert (f.samna_module, e.samna_module, d.samna_module) == ("samna.speck2f", "samna.speck2e", "samna.dynapcnn")
    assert f.readout.feature_spacing == e.readout.feature_spacing == 4 and d.readout.feature_spacing == 1
    assert f.dvs.sensor and e.dvs.sensor and not d.dvs.sensor
    assert d.kill_bits and not f.kill_bits and not e.kill_bits


@pytest.mark.parametrize("variant", S.VARIANTS)
def test_every_table_row_has_a_source(variant):
    rows = S.get_spec(variant).table()
    assert len(rows) >= 20
    for key, _value, source in rows:
        assert source, key


def test_unknown_variant():
    with pytest.raises(NirccError) as e:
        S.get_spec("speck3")
    assert e.value.field == "variant" and "speck2f" in str(e.value)
