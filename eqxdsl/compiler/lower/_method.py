"""Lowering one method: its signature, docstring and body."""

from __future__ import annotations

import ast
import textwrap
from typing import TYPE_CHECKING

from eqxdsl.compiler.check.checked import MethodInfo
from eqxdsl.compiler.library.functions import dotted
from eqxdsl.compiler.lower import ir
from eqxdsl.compiler.lower._array_types import ArrayAnnotations, deferred
from eqxdsl.compiler.lower._ast import Names, _assign, _call, _name, _stmt
from eqxdsl.compiler.lower._expressions import ExprLowerer
from eqxdsl.compiler.lower._input_checks import input_checks
from eqxdsl.compiler.lower._sampling import sampling_call
from eqxdsl.compiler.lower._sites import key_sites
from eqxdsl.compiler.values import TupleValue

if TYPE_CHECKING:
    from eqxdsl.compiler.lower._model import ModelLowerer


class MethodLowerer:
    def __init__(self, owner: ModelLowerer, info: MethodInfo):
        self.owner = owner
        self.model = owner.model
        self.info = info
        self.resolved = owner.resolved
        taken = set(info.locals) | {name for name, _ in info.params} | set(info.call_dims) | {"key", "state", "inference", "self"}
        self.names = Names(taken | owner.module_names)
        self.site_keys: dict[int, str] = {}
        self.extra_methods: list[ir.Method] = []
        self.public_name = "__call__" if info.name == "forward" else info.name
        # Inputs first, each binding its axes' names, then the result, which may use them.
        self.annotations = ArrayAnnotations()
        # The call that samples on every call, even in inference mode: then `key` is required.
        self.sampler = sampling_call(self.model, info.name) if info.stochastic else None

    def lower(self) -> ir.Method:
        info = self.info
        node = info.node
        stochastic = info.stochastic
        args = [ir.Arg(name, deferred(self.annotations.input(tensor))) for name, tensor in info.params]
        if info.stateful:
            args.append(ir.Arg("state", "eqx.nn.State"))
        if self.sampler is not None:
            args.append(ir.Arg("key", "jax.Array", kw_only=True))
        elif stochastic:
            args.append(ir.Arg("key", "jax.Array | None", "None", kw_only=True))
        if stochastic or info.call_inference:
            # None leaves each layer's own `inference` field in charge (what
            # `eqx.nn.inference_mode` sets); True or False overrides it.
            args.append(ir.Arg("inference", "bool | None", "None", kw_only=True))
        body: list[ir.Statement] = []
        checks = input_checks(self.owner, info)
        if checks is not None:
            self.extra_methods.append(checks)
            check = _call(ast.Attribute(_name("self"), checks.name, ast.Load()), [_name(name) for name, _ in info.params])
            body.append(_stmt(ast.Expr(check)))
        for dim in sorted(info.used_dims):
            if dim in info.call_dims and dim not in self.model.init_dims:
                param, axis = info.call_dims[dim]
                shape = ast.Subscript(ast.Attribute(_name(param), "shape", ast.Load()), ast.Constant(axis), ast.Load())
                body.append(_stmt(_assign(dim, shape)))
        sites = [ref_id for ref_id in key_sites(node.body, self.resolved)]
        if sites:
            if len(sites) == 1:
                self.site_keys[sites[0][0]] = "key"
            else:
                for ref_id, base in sites:
                    self.site_keys[ref_id] = self.names.fresh(f"{base}_key")
                names = [self.site_keys[ref_id] for ref_id, _ in sites]
                split = _call(dotted("jax.random.split"), [_name("key"), ast.Constant(len(names))])
                body.append(_stmt(_assign(names, self.split_key("key", split, ast.Tuple([ast.Constant(None)] * len(names), ast.Load())))))
        exprs = ExprLowerer(self.owner, context="method", names=self.names, method=self)
        body.extend(exprs.block(node.body))
        returns = deferred(self._return_annotation())
        return ir.Method(
            "__call__" if info.name == "forward" else info.name,
            tuple(args),
            tuple(body),
            returns=returns,
            docstring=node.docstring or self._docstring(),
        )

    def split_key(self, key: str, split: ast.expr, nones: ast.expr) -> ast.expr:
        """`split`, the keys made from `key`; guarded to give `nones` when `key` may be None."""
        if self.sampler is not None:
            return split
        return ast.IfExp(ast.Compare(_name(key), [ast.Is()], [ast.Constant(None)]), nones, split)

    def _return_annotation(self) -> str:
        base = self.annotations.output(self.info.returns)
        return f"tuple[{base}, eqx.nn.State]" if self.info.stateful else base

    def _docstring(self) -> str:
        info = self.info
        inputs = ", ".join(f"{name}: {tensor}" for name, tensor in info.params)
        result = info.returns
        text = f"Maps {inputs or 'nothing'} to {result}." if not isinstance(result, TupleValue) else f"Maps {inputs or 'nothing'} to {', '.join(map(str, result.items))}."
        notes = []
        if self.sampler is not None:
            notes.append(f"`key` drives the random parts; it is needed in inference mode too, as `{self.sampler}` samples on every call.")
        elif info.stochastic:
            notes.append("`key` drives the random parts; it may be None in inference mode.")
        if info.stochastic or info.call_inference:
            notes.append("`inference`, when True or False, overrides the layers' own `inference` fields (which `eqx.nn.inference_mode` sets).")
        if info.stateful:
            notes.append("`state` holds the running statistics; the updated state is returned beside the output.")
        # Wrapped so that, indented inside the method, the docstring stays within black's 88 columns.
        return text + ("\n\n" + textwrap.fill(" ".join(notes), width=78) if notes else "")
