# Raw dataset -> prepared examples with a fixed-seed held-in / held-out split.


localrules:
    prepare_task,  # downloads hub datasets: on the login node, not a compute node


rule prepare_task:
    input:
        data_inputs,
    output:
        heldin=f"{RESULTS}/data/{{task}}/heldin.jsonl",
        heldout=f"{RESULTS}/data/{{task}}/heldout.jsonl",
        info=f"{RESULTS}/data/{{task}}/info.json",
    params:
        task_settings=lambda wc: task_cfg(wc.task),
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
