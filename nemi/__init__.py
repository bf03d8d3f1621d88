"""nemi: self-supervised pretraining for temporal action localisation (NEMI) as a staged pipeline."""

from nemi.runtime import pin_cpu_isa as _pin_cpu_isa

__version__ = "0.1.0"

# Before torch loads anywhere in this process: NEMI_CPU_ISA=avx2 runs the same CPU kernels on every
# x86-64 machine (nemi.runtime).
_pin_cpu_isa()
