# Perturbations along recovered directions (Section 3.2) and the ICL analysis (Section 3.3).


rule operator_norm:
    input:
        f"{RESULTS}/pefs/{{task}}/heldin.h5",
    output:
        f"{RESULTS}/recovered/{{task}}/operator_norm.json",
    threads: 2
    resources:
        gpu=config["gpus_per_job"],
    log:
        log_path("operator_norm", "{task}"),
    benchmark:
        bench_path("operator_norm", "{task}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/operator_norm.py"


rule recover_directions:
    input:
        operator_norm=f"{RESULTS}/recovered/{{task}}/operator_norm.json",
        decomposition=f"{RESULTS}/decomp/{{task}}/{{name}}.h5",
        coefficients=f"{RESULTS}/coeffs/{{task}}/{{name}}.h5",
    output:
        f"{RESULTS}/recovered/{{task}}/{{name}}.h5",
    params:
        settings=config["perturbation"],
        n_components=lambda wc: perturbation_setting(wc.task, "n_components"),
        top_k=config["tunings"]["top_k"],
        min_coefficient=config["tunings"]["min_coefficient"],
    wildcard_constraints:
        name=r"(npeff|gnpeff|gc)_c\d+_s\d+",
    threads: 2
    resources:
        gpu=config["gpus_per_job"],
    log:
        log_path("recover_directions", "{task}", "{name}"),
    benchmark:
        bench_path("recover_directions", "{task}", "{name}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/recover_directions.py"


rule perturb:
    input:
        model=MODEL_DIR,
        recovered=f"{RESULTS}/recovered/{{task}}/{{name}}.h5",
        coefficients=f"{RESULTS}/coeffs/{{task}}/{{name}}.h5",
        pefs=f"{RESULTS}/pefs/{{task}}/heldout.h5",
        examples=f"{RESULTS}/data/{{task}}/heldout.jsonl",
        info=f"{RESULTS}/data/{{task}}/info.json",
    output:
        f"{RESULTS}/perturb/{{task}}/{{name}}.csv",
    params:
        settings=config["perturbation"],
        n_baseline=lambda wc: perturbation_setting(wc.task, "n_baseline"),
        top_k=config["tunings"]["top_k"],
        min_coefficient=config["tunings"]["min_coefficient"],
        batch_size=lambda wc: task_cfg(wc.task).get("batch_size", config["batch_size"]),
    wildcard_constraints:
        name=r"(npeff|gnpeff|gc)_c\d+_s\d+",
    threads: 2
    resources:
        gpu=config["gpus_per_job"],
    log:
        log_path("perturb", "{task}", "{name}"),
    benchmark:
        bench_path("perturb", "{task}", "{name}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/perturb.py"


rule icl_predictions:
    input:
        model=MODEL_DIR,
        heldin=f"{RESULTS}/data/{{task}}/heldin.jsonl",
        heldout=f"{RESULTS}/data/{{task}}/heldout.jsonl",
        info=f"{RESULTS}/data/{{task}}/info.json",
    output:
        predictions=f"{RESULTS}/icl/{{task}}/predictions.csv",
        contexts=f"{RESULTS}/icl/{{task}}/contexts.json",
    params:
        settings=config["icl"],
    threads: 2
    resources:
        gpu=config["gpus_per_job"],
    log:
        log_path("icl_predictions", "{task}"),
    benchmark:
        bench_path("icl_predictions", "{task}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/icl_predictions.py"
