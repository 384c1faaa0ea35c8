"""Study configs: one config file per study of experiments/, one run per row.

`get_config("ROW,profile=cpu")` is one row of a results table, e.g.
`--config=studies/denoising:model=dncnn,sigma=25,profile=cpu`; `rows(profile)` lists a
study's rows. A learned row's test set is a named evaluation set (`config.evals`), so
`python -m enhance_jax.train --config=studies/...` alone writes the row's number into
`<workdir>/eval_metrics.json`.
"""
