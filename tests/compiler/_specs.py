"""Spec texts that several test files of the compiler write out."""

#: A model with a hyperparameter and no default, which other specs import.
MLP_SPEC = """\
model MLP(size: int):
    input x: f32[size]
    layer = Linear(size, size)

    forward:
        return relu(layer(x))
"""
