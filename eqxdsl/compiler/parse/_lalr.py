"""The LALR loop: Lark's parse table and contextual lexer, driven by a loop that builds syntax nodes.

Lark's own loop is general: it looks each rule up in a dict of callbacks keyed
by rule objects, checks invariants with `assert`s and asks every shifted token
whether a lexer callback wants it. Here the table is compiled once into rows
where a shift is the next state (an `int`) and a reduction is the rule's
callback (`_reduce.py`), its length and the nonterminal it makes. Tokens come
from Lark's per-state lexers, matched by a loop that counts lines itself and
makes each token directly, where Lark's goes through a line counter, a text
slice and a token constructor that checks for deprecated arguments: about a
third of the time lexing took. The grammar, the tables and the token patterns
stay Lark's.

It reads parts of Lark that Lark does not document as its interface (the
parse table, the per-state lexers): `tests/compiler/test_parse_reductions.py`
holds its tokens, trees and positions equal to Lark's own parser's, and the
package keeps lark below version 2.

The loop only parses valid text: at a character or token that fits nowhere it
stops, and the caller asks Lark's own parser for the error, which carries the
state its messages are made from (the expected tokens, the interactive parser).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

from lark import Lark, Token
from lark.parsers.lalr_analysis import Shift
from lark.utils import TextSlice

from eqxdsl.compiler.parse._reduce import Callback, Reduced, reduction_callbacks


class _LexerContext:
    """What the lexer reads of the parser: its current state, to lex only the tokens that may come there."""

    __slots__ = ("position",)

    def __init__(self, position: int):
        self.position = position


class _NoToken(Exception):
    """No token of the parser's current state matches at this point of the text."""


_new_string = str.__new__


class SyntaxParser:
    """Parses `.eqx` text into the `Reduced` value of the grammar's `start` rule.

    Args:
        lark: the grammar's LALR parser, with its contextual lexer and post-lexer.
        methods: one method per rule name or alias (`ToSyntax`), see
            `_reduce.reduction_callbacks`.

    Attributes:
        contextual_lexer: Lark's contextual lexer, whose per-state lexers
            `tokens` matches with.
    """

    def __init__(self, lark: Lark, methods: object):
        frontend = lark.parser
        table = frontend.parser.parser.parse_table
        callbacks = reduction_callbacks(lark.rules, methods)
        # The post-lexer (indentation) and, per parser state, the lexer of the tokens that may come there.
        self._indenter = frontend.lexer.postlexer
        self.contextual_lexer = frontend.lexer.lexer
        self._lexers = self.contextual_lexer.lexers
        self._start = table.start_states["start"]
        self._end = table.end_states["start"]
        made = {rule.origin.name for rule in lark.rules}
        # Per state: what each terminal does (shift to a state, or reduce), and
        # the state each nonterminal leads to once a rule has made it.
        self._actions: dict[int, dict[str, int | tuple[Callback | None, int, str]]] = {
            state: {
                symbol: target if action is Shift else (callbacks[target], len(target.expansion), target.origin.name)
                for symbol, (action, target) in actions.items()
                if symbol not in made
            }
            for state, actions in table.states.items()
        }
        self._goto: dict[int, dict[str, int]] = {
            state: {symbol: target for symbol, (_, target) in actions.items() if symbol in made}
            for state, actions in table.states.items()
        }

    def parse(self, text: str) -> Reduced | None:
        """The value of `start` for `text`, or None where the text has a syntax error.

        Errors of indentation (`_indent.py`) and of building a node
        (`SpecError`) are raised as they happen.
        """
        actions = self._actions
        goto = self._goto
        context = _LexerContext(self._start)
        states = [self._start]
        values: list = []
        token = None

        def end_of_text() -> Iterator[Token]:
            # Read once the tokens run out: `token` is then the last of them.
            yield Token.new_borrow_pos("$END", "", token) if token is not None else Token("$END", "", 0, 1, 1)

        try:
            for token in chain(self._indenter.process(self.tokens(text, context)), end_of_text()):
                while True:
                    action = actions[states[-1]].get(token.type)
                    if action is None:
                        # Nothing follows `start` but the end of the text; anywhere else, it is an error.
                        return values[-1] if states[-1] == self._end else None
                    if isinstance(action, int):
                        states.append(action)
                        values.append(token)
                        context.position = action
                        break
                    callback, size, made = action
                    if callback is None:
                        # A `?rule`'s single child: the value stays, only the state changes.
                        del states[-1]
                    else:
                        children = values[-size:] if size else []
                        if size:
                            del states[-size:]
                            del values[-size:]
                        values.append(callback(children))
                    states.append(goto[states[-1]][made])
        except _NoToken:
            pass
        return None

    def tokens(self, text: str, context: _LexerContext) -> Iterator[Token]:
        """The tokens of `text`, each lexed for the parser state `context` holds when it is asked for.

        Like Lark's `BasicLexer.next_token`: positions are 1-based lines and
        columns (end column exclusive) and offsets; ignored tokens (spaces,
        comments) are dropped once their callbacks have seen them.
        """
        lexers = self._lexers
        whole = TextSlice(text, 0, len(text))
        position = 0
        line = 1
        line_start = 0
        while position < len(text):
            lexer = lexers[context.position]
            found = lexer.match(whole, position)
            if found is None:
                raise _NoToken
            value, kind = found
            ignored = kind in lexer.ignore_types
            callback = lexer.callback.get(kind)
            token = None
            if not ignored or callback is not None:
                token = _new_string(Token, value)
                token.type = kind
                token.value = value
                token.start_pos = position
                token.line = line
                token.column = position - line_start + 1
            if kind in lexer.newline_types:
                newlines = value.count("\n")
                if newlines:
                    line += newlines
                    line_start = position + value.rindex("\n") + 1
            position += len(value)
            if token is not None:
                token.end_line = line
                token.end_column = position - line_start + 1
                token.end_pos = position
                if callback is not None:
                    token = callback(token)
                if not ignored:
                    yield token
