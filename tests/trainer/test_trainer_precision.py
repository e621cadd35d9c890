"""trainer.mixed_precision=auto: bf16 only where the hardware computes it (openeyes.trainer.precision)."""
from openeyes.trainer.precision import cpu_has_native_bf16, resolve_precision, same_training_state


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    avx2 = tmp_path / "avx2"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f\n")
    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16\n")
    assert not cpu_has_native_bf16.__wrapped__(str(avx2))
    assert cpu_has_native_bf16.__wrapped__(str(amx))
    assert not cpu_has_native_bf16.__wrapped__(str(tmp_path / "missing"))


def test_auto_resolves_by_hardware_and_explicit_settings_pass_through():
    assert resolve_precision("auto", cuda=False) == ("bf16" if cpu_has_native_bf16() else "no")
    for setting in ("no", "bf16", "fp16"):
        assert resolve_precision(setting, cuda=False) == setting


def test_only_fp16_changes_the_training_state():
    assert same_training_state("bf16", "no") and same_training_state("auto", "bf16") and same_training_state("fp16", "fp16")
    assert not same_training_state("no", "fp16") and not same_training_state("fp16", "bf16")
