# Baselines (Section 3.1): gradient clustering on the projected gradients and a TopK
# SAE on final-token activations. Each writes a decomposition-shaped file (held-in
# scores W, centroids / decoder directions H) and held-out coefficients.


rule cluster_gradients:
    input:
        heldin=f"{RESULTS}/{{model}}/grads/{{task}}/heldin.h5",
        heldout=f"{RESULTS}/{{model}}/grads/{{task}}/heldout.h5",
    output:
        decomposition=f"{RESULTS}/{{model}}/decomp/{{task}}/{decomposition_wildcards('gc')}.h5",
        coefficients=f"{RESULTS}/{{model}}/coeffs/{{task}}/{decomposition_wildcards('gc')}.h5",
    params:
        settings=config["clustering"],
    wildcard_constraints:
        C=r"\d+",
        seed=r"\d+",
    threads: config["threads_per_job"]
    priority: RELEASES_PERTURB_PRIORITY
    resources:
        gpu=config["gpus_per_job"],
    log:
        log_path("cluster_gradients", "{model}", "{task}", "c{C}", "s{seed}"),
    benchmark:
        bench_path("cluster_gradients", "{model}", "{task}", "c{C}", "s{seed}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/cluster_gradients.py"


rule train_sae:
    input:
        heldin=f"{RESULTS}/{{model}}/acts/{{task}}/heldin.h5",
        heldout=f"{RESULTS}/{{model}}/acts/{{task}}/heldout.h5",
    output:
        decomposition=f"{RESULTS}/{{model}}/decomp/{{task}}/{decomposition_wildcards('sae')}.h5",
        coefficients=f"{RESULTS}/{{model}}/coeffs/{{task}}/{decomposition_wildcards('sae')}.h5",
    params:
        settings=config["sae"],
    wildcard_constraints:
        C=r"\d+",
        seed=r"\d+",
    threads: config["threads_per_job"]
    resources:
        gpu=config["gpus_per_job"],
    log:
        log_path("train_sae", "{model}", "{task}", "c{C}", "s{seed}"),
    benchmark:
        bench_path("train_sae", "{model}", "{task}", "c{C}", "s{seed}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/train_sae.py"
