"""Configs of the models this codebase trained (the zoo, `zoo/NAME/` at the repo root).

Each `NAME.py` is the whole description of the run that trained `zoo/NAME/` (profile `cpu`,
the default: the run on the 2-core machine that made the card) and of its paper-budget
version for an accelerator (profile `paper`). Its `init_checkpoint` is the zoo's weights, so
`evaluate --config=zoo/NAME` and `enhance --config=zoo/NAME` apply them directly.
"""
