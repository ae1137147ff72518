"""eqxdsl: a model-description language for JAX and the runtime its models run on."""
