# Raw dataset -> prepared examples with a fixed-seed held-in / held-out split.


def data_inputs(wildcards):
    source = task_cfg(wildcards.task)["source"]
    if source in SOURCE_PACKAGES:
        return [package_dir(SOURCE_PACKAGES[source])]
    if source == "jsonl":
        return [task_cfg(wildcards.task)["path"]]
    return []


rule prepare_task:
    input:
        data_inputs,
    output:
        heldin=f"{RESULTS}/data/{{task}}/heldin.jsonl",
        heldout=f"{RESULTS}/data/{{task}}/heldout.jsonl",
        info=f"{RESULTS}/data/{{task}}/info.json",
    params:
        task=lambda wc: task_cfg(wc.task),
        seed=config["split_seed"],
        max_text_chars=config["max_text_chars"],
    log:
        log_path("prepare_task", "{task}"),
    benchmark:
        bench_path("prepare_task", "{task}")
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/prepare_task.py"
