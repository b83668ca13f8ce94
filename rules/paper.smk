# Tables 4-13, Figures 2-3 and the comparison with the paper's numbers.


localrules:
    make_table4,
    make_table6,
    make_table7,
    make_table8,
    make_table9,
    make_table10,
    make_table11,
    make_table12,
    make_table13,
    make_figure2,
    make_figure3,
    make_comparison,


rule make_table4:
    input:
        results=projection_results(),
        info=f"{RESULTS}/data/{PROJECTION_TASK}/info.json",
    output:
        **table_files(4, "table4.rst"),
    params:
        task=PROJECTION_TASK,
        config_name=config["name"],
        model_name=MAIN_MODEL,
    log:
        log_path("make_table4"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/make_table4.py"


rule heldin_reconstruction:
    input:
        decomposition=f"{RESULTS}/{{model}}/decomp/{{task}}/{{name}}.h5",
        pefs=f"{RESULTS}/{{model}}/pefs/{{task}}/heldin.h5",
    output:
        f"{RESULTS}/{{model}}/recon/{{task}}/{{name}}.json",
    wildcard_constraints:
        name=decomposition_regex(["npeff"]),
    threads: config["threads_per_job"]
    resources:
        gpu=config["gpus_per_job"],  # every held-in PEF against the decomposition
    log:
        log_path("heldin_reconstruction", "{model}", "{task}", "{name}"),
    benchmark:
        bench_path("heldin_reconstruction", "{model}", "{task}", "{name}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/heldin_reconstruction.py"


rule make_table5:
    input:
        tunings=[f"{MAIN}/tunings/{t}/{n}.csv" for t, _, n in components_entries()],
        heldin_losses=[f"{MAIN}/recon/{t}/{n}.json" for t, _, n in components_entries()],
        coefficients=[f"{MAIN}/coeffs/{t}/{n}.h5" for t, _, n in components_entries()],
    output:
        **table_files(5, "table5.rst"),
    params:
        entries=[{"task": t, "n_components": c} for t, c, _ in components_entries()],
        config_name=config["name"],
        model_name=MAIN_MODEL,
    log:
        log_path("make_table5"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/make_table5.py"


rule make_table6:
    input:
        tunings=[f"{MAIN}/tunings/{SEEDS_TASK}/{n}.csv" for _, n in seed_entries()],
        perturbations=[f"{MAIN}/perturb/{SEEDS_TASK}/{n}.csv" for _, n in seed_entries()],
    output:
        **table_files(6, "table6.rst"),
    params:
        seeds=[s for s, _ in seed_entries()],
        task=SEEDS_TASK,
        config_name=config["name"],
        model_name=MAIN_MODEL,
    log:
        log_path("make_table6"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/make_table6.py"


rule make_table7:
    input:
        pefs=[f"{MAIN}/pefs/{t}/heldin.h5" for t in TASKS],
        benchmarks=[b for t in TASKS for b in signals_benchmarks(MAIN_MODEL, t)],
        examples=[f"{RESULTS}/data/{t}/{s}.jsonl" for t in TASKS for s in ("heldin", "heldout")],
    output:
        **table_files(7, "table7.rst"),
    params:
        tasks=TASKS,
        n_benchmarks=[len(signals_benchmarks(MAIN_MODEL, t)) for t in TASKS],  # per task: its signals jobs
        config_name=config["name"],
        model_name=MAIN_MODEL,
    log:
        log_path("make_table7"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/make_table7.py"


rule make_table8:
    input:
        decompositions=[e["decomposition"] for e in timing_entries()],
        benchmarks=[e["benchmark"] for e in timing_entries()],
    output:
        **table_files(8, "table8.rst"),
    params:
        entries=[{"method": e["method"], "task": e["task"]} for e in timing_entries()],
        config_name=config["name"],
        model_name=MAIN_MODEL,
    log:
        log_path("make_table8"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/make_table8.py"


rule make_table9:
    input:
        tunings=[f"{RESULTS}/{e['model']}/tunings/{e['task']}/{e['decomposition']}.csv" for e in TABLE9_ENTRIES],
        infos=[f"{RESULTS}/data/{e['task']}/info.json" for e in TABLE9_ENTRIES],
    output:
        **table_files(9, "table9.rst"),
    params:
        entries=TABLE9_ENTRIES,
        number=9,
        config_name=config["name"],
        model_name=", ".join(m for m in MODELS if m != MAIN_MODEL),
    log:
        log_path("make_table9"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/make_table1.py"


rule make_table10:
    input:
        coefficients=[f"{MAIN}/coeffs/{e['task']}/{e['decomposition']}.h5" for e in TABLE2_ENTRIES],
        perturbations=[f"{MAIN}/perturb/{e['task']}/{e['decomposition']}.csv" for e in TABLE2_ENTRIES],
    output:
        **table_files(10, "table10.rst"),
    params:
        entries=TABLE2_ENTRIES,
        config_name=config["name"],
        model_name=MAIN_MODEL,
    log:
        log_path("make_table10"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/make_table10.py"


rule make_table11:
    input:
        decompositions=[f"{MAIN}/decomp/{e['task']}/{e['decomposition']}.h5" for e in TABLE2_ENTRIES],
    output:
        **table_files(11, "table11.rst"),
        **{f"figure_{k}": v for k, v in figure_files("table11", "table11.rst").items()},
    params:
        entries=TABLE2_ENTRIES,
        bins=config["table11"]["bins"],
        config_name=config["name"],
        model_name=MAIN_MODEL,
    log:
        log_path("make_table11"),
    conda:
        "../envs/plots.yaml"
    script:
        "../scripts/make_table11.py"


for _n, _task in SPLIT_TABLES.items():

    rule:
        name:
            f"make_table{_n}"
        input:
            **split_inputs(_n),
        output:
            **table_files(_n, "table_splits.rst"),
        params:
            number=_n,
            task=_task,
            components=grid_components(_task),
            top_k=config["tunings"]["top_k"],
            min_coefficient=config["tunings"]["min_coefficient"],
            config_name=config["name"],
            model_name=MAIN_MODEL,
        log:
            log_path(f"make_table{_n}"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../scripts/make_table_splits.py"


rule make_figure2:
    input:
        decompositions=list(eps_rank_decompositions().values()),
    output:
        **figure_files("figure2", "figure2.rst", extra=["csv"]),
    params:
        points=[list(k) for k in eps_rank_decompositions()],
        settings=EPS_SETTINGS,
        task=EPS_TASK,
        config_name=config["name"],
        model_name=MAIN_MODEL,
    log:
        log_path("make_figure2"),
    conda:
        "../envs/plots.yaml"
    script:
        "../scripts/make_figure2.py"


rule make_figure3:
    input:
        f"{MAIN}/ablations/eps_rank/{EPS_TASK}/eps{EPS_MAX}_heldin.h5",
    output:
        **figure_files("figure3", "figure3.rst", extra=["csv"]),
    params:
        task=EPS_TASK,
        eps=EPS_MAX,
        config_name=config["name"],
        model_name=MAIN_MODEL,
    log:
        log_path("make_figure3"),
    conda:
        "../envs/plots.yaml"
    script:
        "../scripts/make_figure3.py"


rule make_comparison:
    input:
        paper=os.path.join(workflow.basedir, "config", "paper_numbers.yaml"),
        tables=[f"{RESULTS}/tables/table{n}.csv" for n in table_numbers()],
        figures=[f"{RESULTS}/figures/figure{n}.csv" for n in ((2, 3) if EPS_TASK else ())],
        pef_spread=f"{RESULTS}/tables/pef_spread.csv",
    output:
        md=report(f"{RESULTS}/comparison.md", caption="../report/comparison.rst", category="Comparison"),
        csv=f"{RESULTS}/comparison.csv",
    params:
        table_numbers=table_numbers(),
        config_name=config["name"],
    log:
        log_path("make_comparison"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/make_comparison.py"
