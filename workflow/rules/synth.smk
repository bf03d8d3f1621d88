# A generated dataset (videos.source: synth; the embedded demo): deterministic untrimmed videos with known actions.

from nemi.synth.plan import VERSION as SYNTH_VERSION, SynthParams


rule synth:
    output:
        manifest=f"{OUT}/synth/videos.csv",
        groundtruth=f"{OUT}/synth/annotations/groundtruth.csv",
        scene_changes=f"{OUT}/synth/annotations/scene_changes.csv",
        videos=directory(f"{OUT}/synth/videos"),
    log:
        f"{LOGS}/synth/synth.log",
    benchmark:
        f"{BENCH}/synth/synth.tsv"
    wildcard_constraints:
        dataset=datasets_where(is_synth),
    conda:
        "../../envs/nemi.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        out=lambda wc, output: os.path.dirname(output.manifest),
        p=lambda wc: stage_params(DS(wc.dataset)["synth"], SynthParams, SYNTH_VERSION),
    shell:
        "nemi synth --out {params.out:q} --params {params.p:q} --workers {threads} 2> {log:q}"
