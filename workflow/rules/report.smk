# The paper's tables and one HTML report per dataset, from its experiments' runs:
# results/<dataset>_tal.csv (AR@AN), _tad.csv (mAP), _ablations.csv (Figure 2) and _report.html.
# results/<dataset>/report/index.json lists what they read (nemi.experiments.index).

import nemi.report as _report


rule report_index:
    output:
        f"{OUT}/report/index.json",
    log:
        f"{LOGS}/report/index.log",
    conda:
        "../../envs/nemi.yaml"
    params:
        # In config order: the tables list the experiments as the config does.
        index=lambda wc: json.dumps(_experiments_mod.index(config, wc.dataset, DS)),
        version=_report.VERSION,
    shell:
        "nemi report index --content {params.index:q} --out {output:q} > {log:q} 2>&1"


rule report_tables:
    input:
        index=f"{OUT}/report/index.json",
        runs=lambda wc: report_run_files(wc.dataset),
    output:
        tal="results/{dataset}_tal.csv",
        tad="results/{dataset}_tad.csv",
    log:
        f"{LOGS}/report/tables.log",
    benchmark:
        f"{BENCH}/report/tables.tsv"
    conda:
        "../../envs/nemi.yaml"
    params:
        version=_report.VERSION,
    shell:
        "nemi report tables --index {input.index:q} --tal {output.tal:q} --tad {output.tad:q} > {log:q} 2>&1"


rule report_ablations:
    input:
        index=f"{OUT}/report/index.json",
        runs=lambda wc: report_run_files(wc.dataset, with_ablations=True),
    output:
        tal=f"{OUT}/report/with_ablations_tal.csv",
        tad=f"{OUT}/report/with_ablations_tad.csv",
        ablations="results/{dataset}_ablations.csv",
    log:
        f"{LOGS}/report/ablations.log",
    benchmark:
        f"{BENCH}/report/ablations.tsv"
    conda:
        "../../envs/nemi.yaml"
    params:
        version=_report.VERSION,
    shell:
        "nemi report tables --index {input.index:q} --tal {output.tal:q} --tad {output.tad:q}"
        " --ablations {output.ablations:q} > {log:q} 2>&1"


rule report_html:
    input:
        index=f"{OUT}/report/index.json",
        tal="results/{dataset}_tal.csv",
        tad="results/{dataset}_tad.csv",
        runs=lambda wc: report_run_files(wc.dataset),
        features=shard_files("features"),
        boundary=f"{OUT}/tem/boundary.h5",
        manifest=lambda wc: manifest_path(wc.dataset),
        gt=training_ground_truth,
        labels=lambda wc: [f"results/{wc.dataset}/pseudo_labels/{k}.json" for k in DS(wc.dataset)["labels"]["kinds"]],
        ablations=report_ablations,
    output:
        "results/{dataset}_report.html",
    log:
        f"{LOGS}/report/html.log",
    benchmark:
        f"{BENCH}/report/html.tsv"
    conda:
        "../../envs/nemi.yaml"
    params:
        ablations=report_ablations_flag,
        version=_report.VERSION,
    shell:
        "nemi report html --index {input.index:q} --tal {input.tal:q} --tad {input.tad:q} {params.ablations}"
        " --features {input.features:q} --boundary {input.boundary:q} --manifest {input.manifest:q}"
        " --ground-truth {input.gt:q} --pseudo-labels {input.labels:q} --out {output:q} > {log:q} 2>&1"
