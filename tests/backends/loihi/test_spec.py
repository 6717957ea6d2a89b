"""Loihi 2 spec: the formats' derived values, the capacity and memory model, sources."""
from __future__ import annotations

import dataclasses

import pytest

from nircc.backends.loihi.spec import DEFAULT_VARIANT, NEURON_MODELS, VARIANTS, Formats, get_spec
from nircc.errors import NirccError


def test_variants() -> None:
    assert DEFAULT_VARIANT == "loihi2" and VARIANTS == ("loihi2", "kapoho_point")
    s = get_spec()
    assert (s.name, s.chips, s.cores_per_chip, s.cores) == ("loihi2", 1, 128, 128)
    assert get_spec("kapoho_point").cores == 8 * 128
    with pytest.raises(NirccError, match="unknown loihi variant 'loihi3' .*known: loihi2, kapoho_point"):
        get_spec("loihi3")


def test_formats() -> None:
    f = Formats()
    assert (f.decay_unity, f.decay_max, f.max_uv, f.vth_max) == (4096, 4095, 2 ** 23, 131071)
    assert f.bias_mant_range == (-4096, 4095) and f.bias_exp_max == 7
    assert [f.weight_range(m) for m in ("mixed", "excitatory", "inhibitory")] == [(-256, 255), (0, 255), (-255, 0)]
    assert (f.max_delay, f.lava_max_delay, f.max_message_bits) == (62, 63, 24)
    with pytest.raises(NirccError, match="unknown sign mode"):
        f.weight_range("signed")


def test_capacity_and_memory_model() -> None:
    s = get_spec()
    assert s.neurons_per_core() == s.neurons_per_core("CUBA") == NEURON_MODELS["CUBA"].neurons_per_core == 8192
    with pytest.raises(NirccError, match="unknown Loihi neuron model 'SDNN'"):
        s.neurons_per_core("SDNN")
    m = s.memory
    assert m.words_per_core == 128 * 1024 * 8 // 64 == 16384
    assert m.words(1000, 10, 8) == 10 + 125                         # 8000 bits in 64-bit words
    assert m.words(1000, 10, 8, delays=True) == 10 + 219            # 14 bits each: 218.75 -> 219
    assert m.words(1000, 10, 8, delays=True, sparse=True) == 10 + 422   # 27 bits each: 421.9 -> 422
    assert dataclasses.replace(m, word_bits=32).words_per_core == 32768
    assert s.core_capacity() == {"neurons": 8192, "synapse_words": 16384}
    with pytest.raises(ValueError):
        m.words(-1, 0, 8)


def test_every_number_has_a_source() -> None:
    rows = get_spec("kapoho_point").table()
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys))
    for key, value, tag, source in rows:
        assert tag in ("[code]", "[doc]", "[?]", "[assumed]", "[definition]"), key
        assert source, key
    byname = {r[0]: r for r in rows}
    assert byname["formats.uv_bits"][1:3] == (24, "[code]") and "lif/models.py:80-81" in byname["formats.uv_bits"][3]
    assert byname["formats.weight_exp_min"][2] == "[?]"
    assert byname["memory.word_bits"][2] == "[assumed]"
    assert byname["chips"][1:3] == (8, "[doc]")
    assert len([k for k in keys if k.startswith("formats.")]) == len(dataclasses.fields(Formats))
