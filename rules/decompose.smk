# NPEFF decomposition of the held-in PEFs (npeff) or gradients (gnpeff), then
# coefficients of the held-out examples with the pseudo-Fishers frozen.

rule decompose:
    input:
        signals=lambda wc: f"{RESULTS}/{wc.model}/{METHOD_SIGNALS[wc.method]}/{wc.task}/heldin.h5",
    output:
        f"{RESULTS}/{{model}}/decomp/{{task}}/{DECOMPOSITION}.h5",
    params:
        settings=lambda wc: {**config["decomposition"], "gpus": decomposition_gpus(wc.task)},
    wildcard_constraints:
        method="|".join(NPEFF_METHODS),
        C=r"\d+",
        seed=r"\d+",
    threads: config["threads_per_job"]
    priority: RELEASES_PERTURB_PRIORITY
    resources:
        # several GPUs only when a decomposition is split across processes (torchrun)
        gpu=lambda wc: decomposition_gpus(wc.task) if config["gpus_per_job"] else 0,
    log:
        log_path("decompose", "{model}", "{task}", "{method}", "c{C}", "s{seed}"),
    benchmark:
        bench_path("decompose", "{model}", "{task}", "{method}", "c{C}", "s{seed}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/decompose.py"


rule fit_coefficients:
    input:
        decomposition=f"{RESULTS}/{{model}}/decomp/{{task}}/{DECOMPOSITION}.h5",
        signals=lambda wc: f"{RESULTS}/{wc.model}/{METHOD_SIGNALS[wc.method]}/{wc.task}/heldout.h5",
    output:
        f"{RESULTS}/{{model}}/coeffs/{{task}}/{DECOMPOSITION}.h5",
    params:
        steps=config["coefficients"]["steps"],
    wildcard_constraints:
        method="|".join(NPEFF_METHODS),
        C=r"\d+",
        seed=r"\d+",
    threads: config["threads_per_job"]
    resources:
        gpu=config["gpus_per_job"],
    log:
        log_path("fit_coefficients", "{model}", "{task}", "{method}", "c{C}", "s{seed}"),
    benchmark:
        bench_path("fit_coefficients", "{model}", "{task}", "{method}", "c{C}", "s{seed}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/fit_coefficients.py"
