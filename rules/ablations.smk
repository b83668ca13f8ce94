# Ablation grids (Section 4, Appendices E and H), each a Paramspace over a TSV under config/ablations/.
#   projection_dim  Table 4        the task's signals pass also projects into the grid's other dims -> NPEFF
#                                  -> held-out tunings (each example's gradients computed once)
#   n_components    Tables 5,12,13 the main decompose / fit_coefficients / tunings rules at other C
#   seeds           Table 6        the main rules (tunings, perturbations) at other seeds
#   eps_rank        Figures 2, 3   one pass at the largest EPS; every (EPS, SVD rank) derived from it
#                                  (the task's held-in signals pass, where the task's EPS is the largest)


if projection_grid_extras():

    ruleorder: projection_signals > signals

    use rule signals as projection_signals with:  # params are added to signals' own; constraints replace them
        output:
            **rules.signals.output,
            grid=[f"{RESULTS}/{{model}}/ablations/projection/{{task}}/dim~{dim}_density~{density}/{{split}}.h5"
                  for dim, density in projection_grid_extras()],
        params:
            extra_projections=[{**config["projection"], "dim": dim, "density": density}
                               for dim, density in projection_grid_extras()],
        wildcard_constraints:
            model=re.escape(MAIN_MODEL),
            task=re.escape(PROJECTION_TASK),
            split="heldin|heldout",


rule projection_npeff:
    input:
        heldin=lambda wc: projection_pefs(wc, "heldin"),
        heldout=lambda wc: projection_pefs(wc, "heldout"),
    output:
        f"{RESULTS}/{{model}}/ablations/projection/{{task}}/{PROJECTION_GRID.wildcard_pattern}/{NPEFF_DECOMPOSITION}.json",
    params:
        settings=config["decomposition"],
        coefficient_steps=config["coefficients"]["steps"],
        top_k=config["tunings"]["top_k"],
        min_coefficient=config["tunings"]["min_coefficient"],
    wildcard_constraints:
        dim=r"\d+",
        density=r"\d+",
        C=r"\d+",
        seed=r"\d+",
    threads: config["threads_per_job"]
    resources:
        gpu=config["gpus_per_job"],
    log:
        log_path("projection_npeff", "{model}", "{task}", "dim{dim}", "density{density}", "c{C}", "s{seed}"),
    benchmark:
        bench_path("projection_npeff", "{model}", "{task}", "dim{dim}", "density{density}", "c{C}", "s{seed}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/projection_npeff.py"


rule eps_pefs:
    input:
        model_dir=f"{RES}/models/{{model}}",
        examples=f"{RESULTS}/data/{{task}}/{{split}}.jsonl",
        info=f"{RESULTS}/data/{{task}}/info.json",
    output:
        pefs=f"{RESULTS}/{{model}}/ablations/eps_rank/{{task}}/eps{{eps}}_{{split}}.h5",
    params:
        task_settings=lambda wc: {**task_cfg(wc.task), "eps_rows": int(wc.eps), "svd_rank": None},
        parameters=lambda wc: model_parameters(wc.model),
        projection=lambda wc: task_projection(wc.task),
        batch_size=lambda wc: task_cfg(wc.task).get("batch_size", config["batch_size"]),
        model_name=lambda wc: wc.model,
        n_examples=EPS_SETTINGS["n_examples"],
    wildcard_constraints:
        split="heldin",
        eps=r"\d+",
    threads: PEF_THREADS
    priority: PEF_PRIORITY
    resources:
        gpu=config["gpus_per_job"],
    log:
        log_path("eps_pefs", "{model}", "{task}", "eps{eps}", "{split}"),
    benchmark:
        bench_path("eps_pefs", "{model}", "{task}", "eps{eps}", "{split}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/eps_pefs.py"


if eps_pass_in_signals():

    ruleorder: eps_signals > signals
    ruleorder: eps_signals > eps_pefs

    use rule signals as eps_signals with:  # params are added to signals' own; constraints replace them
        output:
            **rules.signals.output,
            eps=f"{RESULTS}/{{model}}/ablations/eps_rank/{{task}}/eps{EPS_MAX}_{{split}}.h5",
        params:
            eps_examples=EPS_SETTINGS["n_examples"],
        wildcard_constraints:
            model=re.escape(MAIN_MODEL),
            task=re.escape(EPS_TASK),
            split="heldin",


rule eps_rank_decompose:
    input:
        pefs=f"{RESULTS}/{{model}}/ablations/eps_rank/{{task}}/eps{EPS_MAX}_heldin.h5",
    output:
        f"{RESULTS}/{{model}}/ablations/eps_rank/{{task}}/{EPS_GRID.wildcard_pattern}/{NPEFF_DECOMPOSITION}.h5",
    params:
        settings=config["decomposition"],
    wildcard_constraints:
        eps=r"\d+",
        svd_rank=r"\d+",
        C=r"\d+",
        seed=r"\d+",
    threads: config["threads_per_job"]
    resources:
        gpu=config["gpus_per_job"],
    log:
        log_path("eps_rank_decompose", "{model}", "{task}", "eps{eps}", "rank{svd_rank}", "c{C}", "s{seed}"),
    benchmark:
        bench_path("eps_rank_decompose", "{model}", "{task}", "eps{eps}", "rank{svd_rank}", "c{C}", "s{seed}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/eps_rank_decompose.py"
