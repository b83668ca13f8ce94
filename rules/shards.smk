# Sharded signals (cluster runs): a split's examples are cut into shards of examples_per_shard,
# each its own signals job writing its own files under shards/; gather_signals concatenates them
# in example order into the artifacts one unsharded signals job writes. Shards hold whole PEF
# batches, so every example is computed in the same batch as unsharded: the gathered files equal
# the unsharded ones. A killed or timed-out shard costs only that shard.


if SHARDED_TASKS:
    SHARD_OUTPUTS = {kind: f"{RESULTS}/{{model}}/shards/{{task}}/{{split}}/{{shard}}/{kind}.h5"
                     for kind in ("pefs", "grads", "acts")}

    use rule signals as signals_shard with:
        output:
            **SHARD_OUTPUTS,
        params:
            example_range=shard_example_range,
            time_objects=shard_times_objects,
        wildcard_constraints:  # a `with:` block replaces the constraints, so all of them
            task="|".join(map(re.escape, SHARDED_TASKS)),
            split="heldin|heldout",
            shard=r"\d+",
        log:
            log_path("signals", "{model}", "{task}", "{split}", "shard{shard}"),
        benchmark:
            bench_path("signals", "{model}", "{task}", "{split}", "shard{shard}")

    rule gather_signals:
        input:
            pefs=lambda wc: shard_files(wc, "pefs"),
            grads=lambda wc: shard_files(wc, "grads"),
            acts=lambda wc: shard_files(wc, "acts"),
        output:
            **rules.signals.output,
        params:
            grid_inputs=[],  # the input key of each `grid` output, in order
        wildcard_constraints:
            task="|".join(map(re.escape, SHARDED_TASKS)),
            split="heldin|heldout",
        log:
            log_path("gather_signals", "{model}", "{task}", "{split}"),
        benchmark:
            bench_path("gather_signals", "{model}", "{task}", "{split}")
        conda:
            "../envs/analysis.yaml"
        script:
            "../scripts/gather_signals.py"

    ruleorder: gather_signals > signals

    if projection_grid_extras() and PROJECTION_TASK in SHARDED_TASKS:  # Table 4's task: the grid too
        GRID_KINDS = [grid_point_name(dim, density) for dim, density in projection_grid_extras()]

        use rule projection_signals as projection_signals_shard with:
            output:
                **SHARD_OUTPUTS,
                grid=[f"{RESULTS}/{{model}}/shards/{{task}}/{{split}}/{{shard}}/{kind}.h5" for kind in GRID_KINDS],
            params:
                example_range=shard_example_range,
                time_objects=shard_times_objects,
            wildcard_constraints:  # a `with:` block replaces the constraints, so all of them
                model=re.escape(MAIN_MODEL),
                task=re.escape(PROJECTION_TASK),
                split="heldin|heldout",
                shard=r"\d+",
            log:
                log_path("signals", "{model}", "{task}", "{split}", "shard{shard}"),
            benchmark:
                bench_path("signals", "{model}", "{task}", "{split}", "shard{shard}")

        use rule gather_signals as gather_projection_signals with:
            input:
                pefs=lambda wc: shard_files(wc, "pefs"),
                grads=lambda wc: shard_files(wc, "grads"),
                acts=lambda wc: shard_files(wc, "acts"),
                **{kind: (lambda wc, kind=kind: shard_files(wc, kind)) for kind in GRID_KINDS},
            output:
                **rules.projection_signals.output,
            params:
                grid_inputs=GRID_KINDS,
            wildcard_constraints:
                model=re.escape(MAIN_MODEL),
                task=re.escape(PROJECTION_TASK),
                split="heldin|heldout",

        ruleorder: projection_signals_shard > signals_shard
        ruleorder: gather_projection_signals > gather_signals > projection_signals > signals  # a total order


if EPS_SHARDED:  # the EPS ablation's one pass (Figures 2-3) at its largest EPS

    use rule eps_pefs as eps_pefs_shard with:
        output:
            pefs=f"{RESULTS}/{{model}}/shards/eps_rank/{{task}}/eps{{eps}}_{{split}}/{{shard}}/pefs.h5",
        params:
            example_range=lambda wc: eps_shard_ranges()[int(wc.shard)],
        wildcard_constraints:  # a `with:` block replaces the constraints, so all of them
            split="heldin",
            eps=r"\d+",
            shard=r"\d+",
        log:
            log_path("eps_pefs", "{model}", "{task}", "eps{eps}", "{split}", "shard{shard}"),
        benchmark:
            bench_path("eps_pefs", "{model}", "{task}", "eps{eps}", "{split}", "shard{shard}")

    rule gather_eps_pefs:
        input:
            pefs=lambda wc: [f"{RESULTS}/{wc.model}/shards/eps_rank/{wc.task}/eps{wc.eps}_{wc.split}/{i}/pefs.h5"
                             for i in range(len(eps_shard_ranges()))],
        output:
            **rules.eps_pefs.output,
        params:
            grid_inputs=[],
        wildcard_constraints:
            split="heldin",
            eps=r"\d+",
        log:
            log_path("gather_eps_pefs", "{model}", "{task}", "eps{eps}", "{split}"),
        benchmark:
            bench_path("gather_eps_pefs", "{model}", "{task}", "eps{eps}", "{split}")
        conda:
            "../envs/analysis.yaml"
        script:
            "../scripts/gather_signals.py"

    ruleorder: gather_eps_pefs > eps_pefs
