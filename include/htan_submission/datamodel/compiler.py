"""Compile a component's draft-07 JSON Schema into a Pandera ``DataFrameSchema``, generically.

The frame it validates is a manifest as read (every cell trimmed text or None), one column per
schema property, plus :data:`ROW_COLUMN` (the spreadsheet row). Each JSON Schema keyword becomes
one Pandera check named by its stable rule (``schema.enum``...):

- value keywords (``type``, ``enum``, ``pattern``, bounds, lengths, ``anyOf``/``oneOf``/``not``,
  ``items``'s keywords) are column checks, evaluated once per *unique* cell text (a 100,000-row
  manifest has few distinct values per column; that is where the speed comes from);
- ``required`` is a column check that fails on absent cells;
- ``if``/``then``/``else`` (alone or in ``allOf``) become data-frame checks, one per column they
  constrain, so a finding still names its row and column.

Anything else is a :class:`~htan_submission.datamodel.keywords.CompileError`. The compiled result
is cached per process: the BiospecimenData schema is 2.2 MB of enumerations.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa

from htan_submission.datamodel.cells import CellType
from htan_submission.datamodel.keywords import (
    ANNOTATIONS,
    RULES,
    CompileError,
    Predicate,
    declared_types,
    keyword_predicate,
    value_predicate,
)
from htan_submission.datamodel.registry import Component, get_component

ROW_COLUMN = "__spreadsheet_row__"
TEXT = CellType(("string",))
ROOT_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties", "if", "then", "else", "allOf"})
IF_THEN_RULE = "schema.if_then"
REQUIRED_RULE = "schema.required"
RowMask = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class CheckInfo:
    """What a Pandera check stands for, so a failure case becomes a finding."""

    rule: str
    column: str
    keyword: str
    argument: object = None
    condition: str | None = None  # for if/then: the condition, in words
    function: Callable | None = field(default=None, compare=False, repr=False)  # what Pandera runs


@dataclass
class CompiledComponent:
    component: Component
    properties: dict[str, dict]
    cell_types: dict[str, CellType]
    required: tuple[str, ...]
    schema: pa.DataFrameSchema
    checks: dict[str, CheckInfo] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.component.name

    def convert(self, column: str, text: str) -> tuple[object, bool]:
        cell_type = self.cell_types.get(column)
        return cell_type.convert(text) if cell_type else (text, True)


class _Builder:
    """Accumulates checks while walking one schema."""

    def __init__(self, component: Component, schema: dict):
        self.component = component
        self.root = schema
        self.properties: dict[str, dict] = schema.get("properties", {})
        self.cell_types: dict[str, CellType] = {}
        self.column_checks: dict[str, list[pa.Check]] = {name: [] for name in self.properties}
        self.frame_checks: list[pa.Check] = []
        self.infos: dict[str, CheckInfo] = {}
        self.converters: dict[str, Callable[[str], tuple[object, bool]]] = {}

    def _key(self, info: CheckInfo) -> str:
        key = f"c{len(self.infos)}"
        self.infos[key] = info
        return key

    # -- per-cell conversion, cached per unique text ------------------------------------------
    def converter(self, column: str) -> Callable[[str], tuple[object, bool]]:
        """The column's cell conversion, memoised: several checks ask for the same unique text."""
        if column not in self.converters:
            self.converters[column] = _memoised(self.cell_types.get(column, CellType(("string",))).convert)
        return self.converters[column]

    # -- columns ---------------------------------------------------------------------------------
    def add_property(self, name: str, schema: object) -> None:
        where = f"{self.component.name}.properties.{name}"
        if not isinstance(schema, dict):
            raise CompileError(f"{where}: must be an object")
        types = declared_types(schema, where)
        item_types: tuple[str, ...] = ("string",)
        if "items" in schema:
            items = schema["items"]
            if not isinstance(items, dict):
                raise CompileError(f"{where}: only a single 'items' schema is supported")
            item_types = declared_types(items, f"{where}.items") or ("string",)
        self.cell_types[name] = CellType(types, item_types)
        self.converters.pop(name, None)
        if types and types != ("string",):  # text is always text: a string cell cannot fail its type
            items_typed = _items_typed(schema, item_types)
            self._column_check(name, "type", types, lambda v, ok: ok and items_typed(v))
        for keyword, argument in _flatten_all_of(schema, where):
            if keyword in ANNOTATIONS or keyword == "type":
                continue
            if keyword == "items":
                for item_keyword, item_argument in _flatten_all_of(argument, f"{where}.items"):
                    if item_keyword in ANNOTATIONS or item_keyword == "type":
                        continue
                    predicate = keyword_predicate(item_keyword, item_argument, f"{where}.items")
                    self._column_check(name, item_keyword, item_argument,
                                       _each_item(predicate))
                continue
            predicate = keyword_predicate(keyword, argument, where)
            self._column_check(name, keyword, argument, lambda v, ok, p=predicate: p(v))

    def _column_check(self, column: str, keyword: str, argument: object,
                      ok: Callable[[object, bool], bool]) -> None:
        if keyword not in RULES:
            raise CompileError(f"{self.component.name}.{column}: keyword {keyword!r} is not supported")
        convert = self.converter(column)
        vector = _vector_predicate(keyword, argument) if self.cell_types.get(column) == TEXT else None

        def check(series: pd.Series) -> pd.Series:
            if vector is not None:  # text columns: the keyword runs on the unique texts in one pass
                return _per_unique(series, vectorised=vector)
            return _per_unique(series, lambda text: ok(*convert(text)))

        key = self._key(CheckInfo(RULES[keyword], column, keyword, argument, function=check))
        # ignore_na=False: the check already passes absent cells; Pandera's own per-check isna() over
        # an object column would cost more than the check itself.
        self.column_checks[column].append(pa.Check(check, name=RULES[keyword], error=key, ignore_na=False))

    def add_required(self, column: str) -> None:
        def present(series: pd.Series) -> pd.Series:
            return series.notna()

        key = self._key(CheckInfo(REQUIRED_RULE, column, "required", function=present))
        self.column_checks.setdefault(column, []).append(
            pa.Check(present, name=REQUIRED_RULE, error=key, ignore_na=False))

    # -- conditions ------------------------------------------------------------------------------
    def condition(self, schema: object, where: str) -> RowMask:
        """An object subschema as a row mask (True where the row is valid against it)."""
        if schema is True or schema == {}:
            return lambda df: np.ones(len(df), dtype=bool)
        if not isinstance(schema, dict):
            raise CompileError(f"{where}: must be an object")
        parts: list[RowMask] = []
        for keyword, argument in schema.items():
            if keyword in ANNOTATIONS or (keyword == "type" and argument == "object"):
                continue
            if keyword == "properties":
                for column, sub in argument.items():
                    parts.append(self._property_mask(column, value_predicate(sub, f"{where}.properties.{column}")))
            elif keyword == "required":
                parts.extend((lambda df, c=c: _present(df, c)) for c in argument)
            elif keyword in ("anyOf", "oneOf", "allOf"):
                branches = [self.condition(b, f"{where}.{keyword}[{i}]") for i, b in enumerate(argument)]
                combine = {"anyOf": lambda ms: np.logical_or.reduce(ms),
                           "allOf": lambda ms: np.logical_and.reduce(ms),
                           "oneOf": lambda ms: np.sum(ms, axis=0) == 1}[keyword]
                parts.append(lambda df, bs=branches, f=combine: f([b(df) for b in bs]))
            elif keyword == "not":
                inner = self.condition(argument, f"{where}.not")
                parts.append(lambda df, i=inner: ~i(df))
            else:
                raise CompileError(f"{where}: keyword {keyword!r} is not supported in a condition")
        return lambda df: np.logical_and.reduce([p(df) for p in parts]) if parts else np.ones(len(df), dtype=bool)

    def _property_mask(self, column: str, predicate: Predicate) -> RowMask:
        convert = self.converter(column)

        def mask(df: pd.DataFrame) -> np.ndarray:
            if column not in df:
                return np.ones(len(df), dtype=bool)
            return _per_unique(df[column], lambda text: predicate(convert(text)[0])).to_numpy()

        return mask

    def add_conditional(self, block: dict, where: str) -> None:
        unknown = set(block) - {"if", "then", "else"} - ANNOTATIONS
        if unknown:
            raise CompileError(f"{where}: {sorted(unknown)} next to if/then is not supported")
        if "if" not in block:
            raise CompileError(f"{where}: then/else without if")
        condition = self.condition(block["if"], f"{where}.if")
        described = _describe_condition(block["if"])
        for branch, when in (("then", True), ("else", False)):
            if branch in block:
                self._branch(block[branch], condition, when, f"{where}.{branch}", described)

    def _branch(self, schema: object, condition: RowMask, when: bool, where: str, described: str) -> None:
        if not isinstance(schema, dict):
            raise CompileError(f"{where}: must be an object")
        applies: RowMask = condition if when else (lambda df: ~condition(df))
        text = described if when else f"not ({described})"
        for keyword, argument in schema.items():
            if keyword in ANNOTATIONS or (keyword == "type" and argument == "object"):
                continue
            if keyword == "required":
                for column in argument:
                    self._frame_check(column, "required", None, text,
                                      lambda df, c=column, a=applies: a(df) & ~_present(df, c))
            elif keyword == "properties":
                for column, sub in argument.items():
                    for sub_keyword, sub_argument in _flatten_all_of(sub, f"{where}.properties.{column}"):
                        if sub_keyword in ANNOTATIONS:
                            continue
                        bad = self._property_mask(column, keyword_predicate(sub_keyword, sub_argument, where))
                        self._frame_check(column, sub_keyword, sub_argument, text,
                                          lambda df, b=bad, a=applies: a(df) & ~b(df))
            elif keyword == "not" and set(argument) == {"required"} and len(argument["required"]) == 1:
                column = argument["required"][0]
                self._frame_check(column, "absent", None, text,
                                  lambda df, c=column, a=applies: a(df) & _present(df, c))
            else:
                raise CompileError(f"{where}: {keyword!r} in a then/else branch is not supported")

    def _frame_check(self, column: str, keyword: str, argument: object, condition: str,
                     violated: RowMask) -> None:
        def holds(df: pd.DataFrame) -> pd.Series:
            return pd.Series(~violated(df), index=df.index)

        key = self._key(CheckInfo(IF_THEN_RULE, column, keyword, argument, condition, function=holds))
        self.frame_checks.append(pa.Check(holds, name=IF_THEN_RULE, error=key, ignore_na=False))

    # -- the whole schema --------------------------------------------------------------------------
    def build(self) -> CompiledComponent:
        where = self.component.name
        unknown = set(self.root) - ROOT_KEYWORDS - ANNOTATIONS
        if unknown:
            raise CompileError(f"{where}: root keyword(s) {sorted(unknown)} are not supported")
        if self.root.get("type", "object") != "object":
            raise CompileError(f"{where}: the root must be an object schema")
        if self.root.get("additionalProperties", True) not in (True, {}):
            raise CompileError(f"{where}: closed schemas (additionalProperties) are not supported")
        for name, schema in self.properties.items():
            self.add_property(name, schema)
        for column in self.root.get("required", []):
            self.add_required(column)
        if "if" in self.root:
            self.add_conditional({k: self.root[k] for k in ("if", "then", "else") if k in self.root}, where)
        elif "then" in self.root or "else" in self.root:
            raise CompileError(f"{where}: then/else without if")
        for i, block in enumerate(self.root.get("allOf", [])):
            block_where = f"{where}.allOf[{i}]"
            if not isinstance(block, dict):
                raise CompileError(f"{block_where}: must be an object")
            if "if" in block:
                self.add_conditional(block, block_where)
                continue
            for keyword, argument in block.items():
                if keyword == "required":
                    for column in argument:
                        self.add_required(column)
                elif keyword == "properties":
                    for column, sub in argument.items():
                        if column not in self.properties:
                            self.properties[column] = {}
                            self.add_property(column, {})
                        for sub_keyword, sub_argument in _flatten_all_of(sub, block_where):
                            if sub_keyword not in ANNOTATIONS:
                                predicate = keyword_predicate(sub_keyword, sub_argument, block_where)
                                self._column_check(column, sub_keyword, sub_argument,
                                                   lambda v, ok, p=predicate: p(v))
                elif keyword not in ANNOTATIONS:
                    raise CompileError(f"{block_where}: {keyword!r} in allOf is not supported")
        columns = {name: pa.Column(None, checks=checks, nullable=True, required=False)
                   for name, checks in self.column_checks.items()}
        columns[ROW_COLUMN] = pa.Column(int, required=True)
        schema = pa.DataFrameSchema(columns, checks=self.frame_checks, name=self.component.name, strict=False)
        return CompiledComponent(self.component, dict(self.properties), self.cell_types,
                                 tuple(self.root.get("required", [])), schema, self.infos)


def _memoised(convert: Callable[[str], tuple[object, bool]], limit: int = 500_000):
    cache: dict[str, tuple[object, bool]] = {}

    def cached(text: str) -> tuple[object, bool]:
        hit = cache.get(text)
        if hit is None:
            if len(cache) >= limit:
                cache.clear()
            hit = cache[text] = convert(text)
        return hit

    return cached


def _flatten_all_of(schema: object, where: str) -> list[tuple[str, object]]:
    """A subschema's keywords, with ``allOf`` branches' keywords lifted beside them (draft-07
    reports an allOf branch's failure under the branch keyword's own name)."""
    if schema is True:
        return []
    if not isinstance(schema, dict):
        raise CompileError(f"{where}: must be an object")
    out: list[tuple[str, object]] = []
    for keyword, argument in schema.items():
        if keyword == "allOf":
            for i, branch in enumerate(argument):
                out.extend(_flatten_all_of(branch, f"{where}.allOf[{i}]"))
        else:
            out.append((keyword, argument))
    return out


def _items_typed(schema: dict, item_types: tuple[str, ...]) -> Predicate:
    """An array's items must have the items' declared type (reported as the cell's type error)."""
    if "items" not in schema or not declared_types(schema["items"], ""):
        return lambda value: True
    check = keyword_predicate("type", list(item_types), "items")
    return lambda value: not isinstance(value, list) or all(check(item) for item in value)


def _each_item(predicate: Predicate) -> Callable[[object, bool], bool]:
    return lambda value, ok: not isinstance(value, list) or all(predicate(item) for item in value)


def _present(df: pd.DataFrame, column: str) -> np.ndarray:
    return df[column].notna().to_numpy() if column in df else np.zeros(len(df), dtype=bool)


_last_factorized: list = [None, None, None, None]  # (memory key, values kept alive, codes, uniques)


def _factorize(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """pd.factorize, remembered for the last column: Pandera runs a column's checks one after
    another on fresh views of the same memory, and factorising a million distinct IDs once per
    check would dominate. The key is the view's memory; holding the array keeps it from reuse."""
    values = series.to_numpy()
    key = (values.__array_interface__["data"][0], values.strides, values.shape, values.dtype.str)
    if _last_factorized[0] == key:
        return _last_factorized[2], _last_factorized[3]
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    _last_factorized[:] = [key, values, codes, uniques]
    return codes, uniques


def _per_unique(series: pd.Series, ok: Callable[[str], bool] | None = None,
                vectorised: Callable[[np.ndarray], np.ndarray] | None = None) -> pd.Series:
    """Evaluate a check once per distinct non-empty cell and spread the answers over the rows;
    absent cells pass (``required`` is its own check)."""
    codes, uniques = _factorize(series)
    if vectorised is not None:
        answers = np.asarray(vectorised(np.asarray(uniques, dtype=object)), dtype=bool)
    else:
        answers = np.fromiter((bool(ok(u)) for u in uniques), dtype=bool, count=len(uniques))  # type: ignore[misc]
    result = np.ones(len(series), dtype=bool)
    present = codes >= 0
    result[present] = answers[codes[present]]
    return pd.Series(result, index=series.index)


def _vector_predicate(keyword: str, argument: object) -> Callable[[np.ndarray], np.ndarray] | None:
    """Whole-array versions of the keywords most cells meet (enum, pattern on plain text columns):
    a hash lookup and a regex over the unique texts without a Python call per value."""
    if keyword == "enum" and isinstance(argument, list) and all(isinstance(a, str) for a in argument):
        allowed = pd.Index(list(dict.fromkeys(argument)))
        return lambda texts: allowed.get_indexer(texts) >= 0
    if keyword == "pattern":
        search = re.compile(str(argument)).search  # JSON Schema patterns are unanchored searches
        return lambda texts: np.fromiter((search(t) is not None for t in texts), dtype=bool, count=len(texts))
    return None


def _describe_condition(schema: object) -> str:
    """``TUMOR_STAGED`` is "Yes"-style words for a finding's message."""
    if not isinstance(schema, dict):
        return "a condition holds"
    words = []
    for column, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict) and "const" in sub:
            words.append(f"{column} is {sub['const']!r}")
        elif isinstance(sub, dict) and "anyOf" in sub and all("const" in b for b in sub["anyOf"]):
            words.append(f"{column} is one of {', '.join(repr(b['const']) for b in sub['anyOf'])}")
        elif isinstance(sub, dict) and ("minimum" in sub or "maximum" in sub):
            bounds = [f"{op} {sub[k]}" for k, op in (("minimum", ">="), ("maximum", "<=")) if k in sub]
            words.append(f"{column} {' and '.join(bounds)}")
        elif isinstance(sub, dict) and "not" in sub:
            words.append(f"{column} is set to something other than {sub['not']}")
        else:
            words.append(f"{column} is given")
    for branch in schema.get("anyOf") or []:
        words.append("(" + _describe_condition(branch) + ")")
    joiner = " or " if "anyOf" in schema and not schema.get("properties") else " and "
    return joiner.join(words) or "a condition holds"


def quick_failures(compiled: CompiledComponent, frame: pd.DataFrame) -> set[tuple[int, str, str]]:
    """(frame index, column, rule) of failures, running the checks directly without Pandera's
    per-call overhead (~0.3 s for a wide component). For generators that repair rows one at a
    time; validation proper goes through Pandera (``validation.schema_checks``)."""
    failures = set()
    for info in compiled.checks.values():
        if info.rule == IF_THEN_RULE:
            ok = info.function(frame)  # type: ignore[misc]
        elif info.column in frame:
            ok = info.function(frame[info.column])  # type: ignore[misc]
            if info.rule != REQUIRED_RULE:
                ok = ok | frame[info.column].isna()
        else:
            ok = pd.Series(info.rule != REQUIRED_RULE, index=frame.index)
        failures.update((int(i), info.column, info.rule) for i in frame.index[~ok.to_numpy()])
    return failures


@cache
def compile_component(name: str) -> CompiledComponent:
    """The compiled schema of a component, once per process."""
    component = get_component(name)
    return _Builder(component, component.schema()).build()


def compile_schema(component: Component, schema: dict) -> CompiledComponent:
    """Compile an arbitrary schema (tests of each keyword use this); not cached."""
    return _Builder(component, schema).build()
