# Per-example signals in one pass: projected LRM-PEFs (NPEFF), projected predicted-class
# gradients (G-NPEFF, gradient clustering) and final-token activations (SAE).


rule signals:
    input:
        model_dir=f"{RES}/models/{{model}}",
        examples=f"{RESULTS}/data/{{task}}/{{split}}.jsonl",
        info=f"{RESULTS}/data/{{task}}/info.json",
    output:
        pefs=f"{RESULTS}/{{model}}/pefs/{{task}}/{{split}}.h5",
        grads=f"{RESULTS}/{{model}}/grads/{{task}}/{{split}}.h5",
        acts=f"{RESULTS}/{{model}}/acts/{{task}}/{{split}}.h5",
    params:
        task_settings=lambda wc: task_cfg(wc.task),
        parameters=lambda wc: model_parameters(wc.model),
        projection=lambda wc: task_projection(wc.task),
        batch_size=lambda wc: task_cfg(wc.task).get("batch_size", config["batch_size"]),
        model_name=lambda wc: wc.model,
        time_objects=lambda wc: wc.split == "heldin",  # Table 7: each object timed alone on one batch
    wildcard_constraints:
        split="heldin|heldout",
    threads: PEF_THREADS
    priority: PEF_PRIORITY
    resources:
        gpu=config["gpus_per_job"],
    log:
        log_path("signals", "{model}", "{task}", "{split}"),
    benchmark:
        bench_path("signals", "{model}", "{task}", "{split}")
    conda:
        "../envs/gpu.yaml"
    script:
        "../scripts/signals.py"
