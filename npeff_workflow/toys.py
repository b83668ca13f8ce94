"""Toy specs of the ground-truth config (torch-free: the workflow checks them at parse time)."""

TOY_SIZES = {"tms": ("n_features", "n_hidden"), "residual_mlp": ("n_features", "d_embed", "d_mlp", "n_layers")}
TOY_OPTIONS = ("model", "projected_dim", "seeds", "n_examples", "apd")  # per-toy keys besides the sizes


def check_toy_spec(name: str, spec: dict, apd_keys=()) -> None:
    """Fail naming the config key when a toy's spec lacks a size or has an unknown key
    (its apd overrides must be among apd_keys, the groundtruth.apd section's keys)."""
    key = f"groundtruth.toys.{name}"
    if spec.get("model") not in TOY_SIZES:
        raise ValueError(f"config key '{key}.model': {spec.get('model')!r} is not one of {sorted(TOY_SIZES)}")
    sizes = TOY_SIZES[spec["model"]]
    missing = [k for k in sizes + ("projected_dim",) if k not in spec]
    unknown = [k for k in spec if k not in sizes + TOY_OPTIONS]
    if missing or unknown:
        raise ValueError(f"config key '{key}': missing {missing}, unknown {unknown}; a {spec['model']} toy takes "
                         f"{list(sizes)} and {list(TOY_OPTIONS)}")
    unknown_apd = sorted(set(spec.get("apd", {})) - set(apd_keys))
    if unknown_apd:
        raise ValueError(f"config key '{key}.apd': unknown keys {unknown_apd}; expected some of {sorted(apd_keys)}")


def toy_settings(groundtruth: dict, name: str) -> dict:
    """The config's groundtruth section with toy `name`'s overrides (projected_dim, seeds,
    n_examples, apd keys) applied, after checking its spec."""
    spec = groundtruth["toys"][name]
    check_toy_spec(name, spec, groundtruth["apd"])
    return {**groundtruth, "projected_dim": spec["projected_dim"], "seeds": spec.get("seeds", groundtruth["seeds"]),
            "n_examples": spec.get("n_examples", groundtruth["n_examples"]),
            "apd": {**groundtruth["apd"], **spec.get("apd", {})}}
