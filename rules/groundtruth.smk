# The ground-truth benchmark (issue 7): toy models with planted mechanisms, every method
# scored against them. Independent of the language-model rules.

GROUNDTRUTH = config["groundtruth"]


localrules:
    make_groundtruth,


rule groundtruth_toy:
    output:
        f"{RESULTS}/groundtruth/{{toy}}/seed{{seed}}.json",
    wildcard_constraints:
        toy="|".join(re.escape(toy) for toy in GROUNDTRUTH["toys"]),
        seed=r"\d+",
    params:
        groundtruth=GROUNDTRUTH,
    threads: 1
    log:
        log_path("groundtruth", "{toy}", "seed{seed}"),
    benchmark:
        bench_path("groundtruth", "{toy}", "seed{seed}")
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/groundtruth.py"


rule make_groundtruth:
    input:
        groundtruth_runs(),
    output:
        **table_files("groundtruth", "groundtruth.rst"),
        **figure_files("groundtruth", "groundtruth.rst"),
    params:
        config_name=config["name"],
    log:
        log_path("make_groundtruth"),
    benchmark:
        bench_path("make_groundtruth")
    conda:
        "../envs/plots.yaml"
    script:
        "../scripts/make_groundtruth.py"
