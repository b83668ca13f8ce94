# Tunings of held-out coefficients, Tables 1-3, Figure 1 and Appendix J.


localrules:
    tunings,
    pef_spread,
    make_pef_spread,
    make_table1,
    make_table2,
    make_table3,
    make_figure1,
    make_appendix_j,


rule tunings:
    input:
        coefficients=f"{RESULTS}/{{model}}/coeffs/{{task}}/{{name}}.h5",
        pefs=f"{RESULTS}/{{model}}/pefs/{{task}}/heldout.h5",
    output:
        f"{RESULTS}/{{model}}/tunings/{{task}}/{{name}}.csv",
    params:
        top_k=config["tunings"]["top_k"],
        min_coefficient=config["tunings"]["min_coefficient"],
    log:
        log_path("tunings", "{model}", "{task}", "{name}"),
    benchmark:
        bench_path("tunings", "{model}", "{task}", "{name}")
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/tunings.py"


rule pef_spread:
    input:
        pefs=f"{RESULTS}/{{model}}/pefs/{{task}}/heldin.h5",
    output:
        f"{RESULTS}/{{model}}/diagnostics/{{task}}/pef_spread.json",
    params:
        settings=config["pef_spread"],
    log:
        log_path("pef_spread", "{model}", "{task}"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/pef_spread.py"


rule make_pef_spread:
    input:
        [f"{MAIN}/diagnostics/{t}/pef_spread.json" for t in TASKS],
    output:
        **table_files("pef_spread", "pef_spread.rst"),
    params:
        config_name=config["name"],
        model_name=config["model"]["name"],
    log:
        log_path("make_pef_spread"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/make_pef_spread.py"


rule make_table1:
    input:
        tunings=[f"{MAIN}/tunings/{e['task']}/{e['decomposition']}.csv" for e in TABLE1_ENTRIES],
        infos=[f"{RESULTS}/data/{e['task']}/info.json" for e in TABLE1_ENTRIES],
        heldout=[f"{MAIN}/pefs/{t}/heldout.h5" for t in TASKS],  # the chance that random examples look tuned
    output:
        **table_files(1, "table1.rst"),
    params:
        entries=TABLE1_ENTRIES,
        config_name=config["name"],
        model_name=config["model"]["name"],
        top_k=config["tunings"]["top_k"],
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
        coefficients=[f"{MAIN}/coeffs/{t}/{n}.h5" for t, n in main_decompositions("npeff")],
        examples=[f"{RESULTS}/data/{t}/heldout.jsonl" for t in TASKS],
        infos=[f"{RESULTS}/data/{t}/info.json" for t in TASKS],
    output:
        **figure_files("figure1", "figure1.rst"),
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


rule make_table2:
    input:
        perturbations=[f"{MAIN}/perturb/{e['task']}/{e['decomposition']}.csv" for e in TABLE2_ENTRIES],
    output:
        **table_files(2, "table2.rst"),
    params:
        entries=TABLE2_ENTRIES,
        top_k=config["tunings"]["top_k"],
        magnitude=config["perturbation"]["magnitude"],
        config_name=config["name"],
        model_name=config["model"]["name"],
    log:
        log_path("make_table2"),
    benchmark:
        bench_path("make_table2")
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/make_table2.py"


rule make_table3:
    input:
        unpack(table3_inputs),
    output:
        **table_files(3, "table3.rst"),
    params:
        methods=METHODS,
        top_k=config["tunings"]["top_k"],
        min_coefficient=config["tunings"]["min_coefficient"],
        threshold=config["icl"]["label_threshold"],
        n_shots=config["icl"]["n_shots"],
        config_name=config["name"],
    log:
        log_path("make_table3"),
    benchmark:
        bench_path("make_table3")
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/make_table3.py"


rule make_appendix_j:
    input:
        coefficients=[f"{MAIN}/coeffs/{t}/{n}.h5" for t, n in main_decompositions("npeff")],
        pefs=[f"{MAIN}/pefs/{t}/heldout.h5" for t in TASKS],
        examples=[f"{RESULTS}/data/{t}/heldout.jsonl" for t in TASKS],
        infos=[f"{RESULTS}/data/{t}/info.json" for t in TASKS],
        model_dir=f"{RES}/models/{MAIN_MODEL}",  # its tokenizer names next-token predictions
    output:
        md=f"{RESULTS}/appendix_j.md",
        **figure_files("appendix_j", "appendix_j.rst"),
    params:
        tasks=TASKS,
        n_components=config["appendix_j"]["n_components"],
        n_examples=config["appendix_j"]["n_examples"],
        seed=config["appendix_j"]["seed"],
        top_k=config["tunings"]["top_k"],
        min_coefficient=config["tunings"]["min_coefficient"],
        config_name=config["name"],
    log:
        log_path("make_appendix_j"),
    benchmark:
        bench_path("make_appendix_j")
    conda:
        "../envs/plots.yaml"
    script:
        "../scripts/make_appendix_j.py"
