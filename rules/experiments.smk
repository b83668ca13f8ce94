# Perturbations along recovered directions (Section 3.2) and the ICL analysis (Section 3.3).
# As in the paper and the authors' code, a component's top examples and the random baseline are
# drawn from the decomposition's own (held-in) examples.


rule operator_norm:
    input:
        pefs=operator_norm_pefs,
    output:
        f"{RESULTS}/{{model}}/perturb/operator_norm_{{key}}.json",
    wildcard_constraints:
        key=r"dim\d+_density\d+_seed\d+",
    threads: config["threads_per_job"]
    priority: RELEASES_PERTURB_PRIORITY
    resources:
        gpu=config["gpus_per_job"],
    log:
        log_path("operator_norm", "{model}", "{key}"),
    benchmark:
        bench_path("operator_norm", "{model}", "{key}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/operator_norm.py"


# The perturb rule's inputs besides the decomposition, and its parameters (perturb_same_as_npeff
# takes both, for its fallback).
PERTURB_INPUTS = dict(
    model_dir=f"{RES}/models/{{model}}",
    operator_norm=operator_norm_file,
    pefs=f"{RESULTS}/{{model}}/pefs/{{task}}/heldin.h5",
    examples=f"{RESULTS}/data/{{task}}/heldin.jsonl",
    info=f"{RESULTS}/data/{{task}}/info.json",
)
PERTURB_PARAMS = dict(
    settings=config["perturbation"],
    n_components=lambda wc: perturbation_setting(wc.task, "n_components"),
    n_baseline=lambda wc: perturbation_setting(wc.task, "n_baseline"),
    top_k=config["tunings"]["top_k"],
    min_coefficient=config["tunings"]["min_coefficient"],
    batch_size=lambda wc: task_cfg(wc.task).get("batch_size", config["batch_size"]),
)


rule perturb:
    input:
        decomposition=f"{RESULTS}/{{model}}/decomp/{{task}}/{{name}}.h5",  # top examples: held-in, as the paper
        **PERTURB_INPUTS,
    output:
        f"{RESULTS}/{{model}}/perturb/{{task}}/{{name}}.csv",
    params:
        **PERTURB_PARAMS,
    wildcard_constraints:
        name=decomposition_regex(PERTURBED_METHODS),
    threads: config["threads_per_job"]
    priority: perturb_priority
    resources:
        gpu=config["gpus_per_job"],
    log:
        log_path("perturb", "{model}", "{task}", "{name}"),
    benchmark:
        bench_path("perturb", "{model}", "{task}", "{name}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/perturb.py"


if TWO_LABEL_TASKS:  # SST2: G-NPEFF's perturbations are NPEFF's, checked (the script says why)

    ruleorder: perturb_same_as_npeff > perturb

    rule perturb_same_as_npeff:
        input:
            npeff_decomposition=f"{RESULTS}/{{model}}/decomp/{{task}}/npeff_c{{C}}_s{{seed}}.h5",
            npeff_perturbations=f"{RESULTS}/{{model}}/perturb/{{task}}/npeff_c{{C}}_s{{seed}}.csv",
            decomposition=f"{RESULTS}/{{model}}/decomp/{{task}}/gnpeff_c{{C}}_s{{seed}}.h5",
            **PERTURB_INPUTS,  # for the fallback
        output:
            f"{RESULTS}/{{model}}/perturb/{{task}}/gnpeff_c{{C}}_s{{seed}}.csv",
        params:
            **PERTURB_PARAMS,
        wildcard_constraints:
            task="|".join(TWO_LABEL_TASKS),
            C=r"\d+",
            seed=r"\d+",
        threads: config["threads_per_job"]
        resources:
            gpu=config["gpus_per_job"],
        log:
            log_path("perturb_same_as_npeff", "{model}", "{task}", "gnpeff_c{C}_s{seed}"),
        benchmark:
            bench_path("perturb_same_as_npeff", "{model}", "{task}", "gnpeff_c{C}_s{seed}")
        conda:
            "../envs/gpu.yaml"
        script:
            "../scripts/perturb_same_as_npeff.py"


rule icl_predictions:
    input:
        model_dir=f"{RES}/models/{{model}}",
        heldin=f"{RESULTS}/data/{{task}}/heldin.jsonl",
        heldout=f"{RESULTS}/data/{{task}}/heldout.jsonl",
        info=f"{RESULTS}/data/{{task}}/info.json",
    output:
        predictions=f"{RESULTS}/{{model}}/icl/{{task}}/predictions.csv",
        contexts=f"{RESULTS}/{{model}}/icl/{{task}}/contexts.json",
    params:
        settings=config["icl"],
    threads: config["threads_per_job"]
    resources:
        gpu=config["gpus_per_job"],
    log:
        log_path("icl_predictions", "{model}", "{task}"),
    benchmark:
        bench_path("icl_predictions", "{model}", "{task}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/icl_predictions.py"
