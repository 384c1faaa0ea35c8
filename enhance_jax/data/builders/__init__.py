"""Dataset builders: importing this package registers every dataset in `sources.DATASETS`.

| name            | module          | splits (count)                     | storage                 |
|-----------------|-----------------|------------------------------------|-------------------------|
| bsds500         | bsd             | train 200, val 100, test 200       | TFDS (manual)           |
| bsd68, cbsd68   | bsd             | test 68 (gray / RGB)               | TFDS (manual)           |
| set12           | bsd             | test 12 (gray)                     | TFDS (manual)           |
| train400        | bsd             | train 400 (gray 180x180)           | TFDS (manual)           |
| set5            | sr              | test 5, config x2/x3/x4 (LR input) | TFDS (manual)           |
| div2k           | sr              | train 800, validation 100          | TFDS (download/manual)  |
| kodak           | kodak           | test 24                            | TFDS (download/manual)  |
| lol             | lol             | train 485, test 15 (allow_partial) | TFDS (manual, sha256)   |
| dicm, lime      | lol             | test 64 / 10 (no reference)        | TFDS (manual)           |
| imagenet_subset | imagenet_subset | train N*M, validation N*V          | TFDS (manual ImageNet)  |
| image_folder    | image_folder    | any (folder or folder/<split>)     | FileSource, no TFDS     |

Factories take `split`, `channels`, `data_dir` (TFDS data dir; default
$TFDS_DATA_DIR or ~/tensorflow_datasets) and `manual_dir` (default: the
matching folder of the shared data, see `data.paths`), plus their own kwargs.
TFDS builder names carry an `ej_` prefix so they never clash with TFDS's own.
"""
from enhance_jax.data.builders import bsd  # noqa: F401
from enhance_jax.data.builders import image_folder  # noqa: F401
from enhance_jax.data.builders import imagenet_subset  # noqa: F401
from enhance_jax.data.builders import kodak  # noqa: F401
from enhance_jax.data.builders import lol  # noqa: F401
from enhance_jax.data.builders import sr  # noqa: F401
