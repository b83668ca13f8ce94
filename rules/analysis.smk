# Tunings of held-out coefficients, Table 1 and Figure 1.


localrules:
    tunings,
    make_table1,
    make_figure1,


rule tunings:
    input:
        coefficients=f"{RESULTS}/coeffs/{{task}}/{{name}}.h5",
        pefs=f"{RESULTS}/pefs/{{task}}/heldout.h5",
    output:
        f"{RESULTS}/tunings/{{task}}/{{name}}.csv",
    params:
        top_k=config["tunings"]["top_k"],
        min_coefficient=config["tunings"]["min_coefficient"],
    log:
        log_path("tunings", "{task}", "{name}"),
    benchmark:
        bench_path("tunings", "{task}", "{name}")
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/tunings.py"


rule make_table1:
    input:
        tunings=[f"{RESULTS}/tunings/{t}/{n}.csv" for t, n in main_decompositions("npeff")],
        infos=[f"{RESULTS}/data/{t}/info.json" for t, _ in main_decompositions("npeff")],
    output:
        csv=f"{RESULTS}/tables/table1.csv",
        md=f"{RESULTS}/tables/table1.md",
        tex=f"{RESULTS}/tables/table1.tex",
    params:
        entries=[{"method": "npeff", "task": t, "decomposition": n} for t, n in main_decompositions("npeff")],
        config_name=config["name"],
        model_name=config["model"]["name"],
    log:
        log_path("make_table1"),
    benchmark:
        bench_path("make_table1")
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/make_table1.py"


rule make_figure1:
    input:
        coefficients=[f"{RESULTS}/coeffs/{t}/{n}.h5" for t, n in main_decompositions("npeff")],
        examples=[f"{RESULTS}/data/{t}/heldout.jsonl" for t in TASKS],
        infos=[f"{RESULTS}/data/{t}/info.json" for t in TASKS],
    output:
        pdf=f"{RESULTS}/figures/figure1.pdf",
        png=f"{RESULTS}/figures/figure1.png",
    params:
        tasks=TASKS,
        n_examples=config["figure1"]["n_examples"],
        top_k=config["tunings"]["top_k"],
        min_coefficient=config["tunings"]["min_coefficient"],
        config_name=config["name"],
    log:
        log_path("make_figure1"),
    benchmark:
        bench_path("make_figure1")
    conda:
        "../envs/plots.yaml"
    script:
        "../scripts/make_figure1.py"
