"""`examples/train_sharded.py` imported as the module `train_sharded`: its rules, GPT, data and training step.

Imported, the script sets no XLA flags, so the importing process keeps the
devices it was started with. The model is built at the script's default sizes.
"""

from __future__ import annotations

import importlib.util
import sys

from ._processes import EXAMPLE


def _import_example():
    spec = importlib.util.spec_from_file_location("train_sharded", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


train_sharded = _import_example()
#: The script's default settings: GPT(vocab=64, ctx=16, dim=32, heads=4, depth=2, p=0.1), 20 steps of batch 16.
DEFAULTS = train_sharded.command_line().parse_args([])
make_model = train_sharded.make_model(DEFAULTS)

#: Every parameter of the default GPT on the (data=4, model=2) mesh under the
#: script's rules: the mesh axis of each of its axes.
EXPECTED_SHARDING = {
    "embed.weight": ["model", None],
    "pos": [None, None],
    "blocks.ln1.weight": [None, None],
    "blocks.ln1.bias": [None, None],
    "blocks.attn.query_proj.weight": [None, "model", None],
    "blocks.attn.key_proj.weight": [None, "model", None],
    "blocks.attn.value_proj.weight": [None, "model", None],
    "blocks.attn.output_proj.weight": [None, None, "model"],
    "blocks.ln2.weight": [None, None],
    "blocks.ln2.bias": [None, None],
    "blocks.mlp.hidden.0.weight": [None, "model", None],
    "blocks.mlp.hidden.0.bias": [None, "model"],
    "blocks.mlp.out.weight": [None, None, "model"],
    "blocks.mlp.out.bias": [None, None],
    "ln.weight": [None],
    "ln.bias": [None],
}
