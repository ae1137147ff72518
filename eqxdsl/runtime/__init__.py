"""The eqxdsl runtime: callable PyTrees and filtered transformations."""
