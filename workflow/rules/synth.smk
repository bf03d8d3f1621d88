# The embedded demo dataset: deterministic untrimmed videos with known actions.


rule synth:
    output:
        manifest=f"{SYNTH_DIR}/videos.csv",
        groundtruth=f"{SYNTH_DIR}/annotations/groundtruth.csv",
        scene_changes=f"{SYNTH_DIR}/annotations/scene_changes.csv",
        videos=[f"{SYNTH_DIR}/videos/{v}.mp4" for v, _ in VIDEOS],
    log:
        f"{LOGS}/synth/synth.log",
    benchmark:
        f"{BENCH}/synth/synth.tsv"
    conda:
        "../../envs/nemi.yaml"
    threads: 2
    params:
        out=lambda wc, output: os.path.dirname(output.manifest),
        n_videos=config["synth"]["n_videos"],
        seed=config["synth"]["seed"],
        test_fraction=config["synth"]["test_fraction"],
    shell:
        "nemi synth --out {params.out:q} --n-videos {params.n_videos} --seed {params.seed}"
        " --test-fraction {params.test_fraction} --workers {threads} 2> {log:q}"
