"""Pairwise judge data: a documented long format, its readers, and the wide view routers use.

Long format (one row per pair, judge and presentation order), columns:

``pair_id`` (str)
    Identifies the pair of responses.
``prompt``, ``response_a``, ``response_b`` (str)
    The instruction and the two responses in their *original* labelling.
``gold`` (float)
    The reference preference: 1 when ``response_b`` is better, 0 when
    ``response_a`` is, 0.5 for a tie; NaN when unknown.
``judge`` (str)
    Which judge produced the row.
``order`` (str)
    ``"ab"`` when the judge saw ``response_a`` first, ``"ba"`` when the
    responses were swapped.
``p_b`` (float in [0, 1])
    The judge's probability that ``response_b`` is better, always expressed in
    the original labelling (a swapped verdict is mapped back); a hard verdict
    is 1 (B), 0 (A) or 0.5 (tie).

:func:`to_judge_table` turns the long rows into one row per pair with each
judge's order-averaged probability (:class:`JudgeTable`), from which
:meth:`JudgeTable.rewards` gives the per-arm rewards (1 when a judge's verdict
matches gold, 1/2 for a tie on either side) and :meth:`JudgeTable.costs` one
cost unit per strong-judge call.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "LONG_COLUMNS",
    "JudgeTable",
    "read_escalation_csv",
    "read_judge_jsonl",
    "read_judgebench_jsonl",
    "to_judge_table",
    "verdict_correctness",
]

#: The columns of the long format, in order.
LONG_COLUMNS = (
    "pair_id",
    "prompt",
    "response_a",
    "response_b",
    "gold",
    "judge",
    "order",
    "p_b",
)

_VERDICTS = {
    "a": 0.0,
    "b": 1.0,
    "tie": 0.5,
    "[[a]]": 0.0,
    "[[b]]": 1.0,
    "[[c]]": 0.5,
    "model_a": 0.0,
    "model_b": 1.0,
    "response_a": 0.0,
    "response_b": 1.0,
    "output_a": 0.0,
    "output_b": 1.0,
    "0": 0.0,
    "1": 1.0,
    "0.5": 0.5,
    "tie (bothbad)": 0.5,
    # JudgeBench / Arena-Hard decisions (``>>`` is a strong preference)
    "a>b": 0.0,
    "a>>b": 0.0,
    "b<a": 0.0,
    "b>a": 1.0,
    "b>>a": 1.0,
    "a<b": 1.0,
    "a=b": 0.5,
    "b=a": 0.5,
}


def _check_long(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    missing = [c for c in LONG_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"`{name}` lacks the long-format columns {missing}")
    out = frame.loc[:, list(LONG_COLUMNS)].copy()
    out["pair_id"] = out["pair_id"].astype(str)
    for col in ("prompt", "response_a", "response_b", "judge", "order"):
        out[col] = out[col].fillna("").astype(str)
    bad_order = ~out["order"].isin(["ab", "ba"])
    if bad_order.any():
        raise ValueError(
            f"`{name}`: `order` must be 'ab' or 'ba', got "
            f"{sorted(set(out.loc[bad_order, 'order']))[:5]}"
        )
    for col in ("gold", "p_b"):
        out[col] = pd.to_numeric(out[col], errors="raise").astype(float)
    p = out["p_b"].to_numpy()
    if not np.all(np.isfinite(p)) or ((p < 0) | (p > 1)).any():
        raise ValueError(
            f"`{name}`: `p_b` must be probabilities in [0, 1] (finite), got "
            f"min {float(np.nanmin(p))}, max {float(np.nanmax(p))}, "
            f"{int(np.isnan(p).sum())} NaN"
        )
    g = out["gold"].to_numpy()
    if (~np.isnan(g) & ~np.isin(g, (0.0, 0.5, 1.0))).any():
        raise ValueError(f"`{name}`: `gold` must be 0, 0.5, 1 or NaN")
    dup = out.duplicated(["pair_id", "judge", "order"], keep=False)
    if dup.any():
        first = out.loc[dup].iloc[0]
        raise ValueError(
            f"`{name}`: {int(dup.sum())} rows repeat a (pair_id, judge, order), e.g. "
            f"pair_id {first['pair_id']!r}, judge {first['judge']!r}, order "
            f"{first['order']!r}; the long format has one row per pair, judge and "
            "order: give each pair a distinct `pair_id`"
        )
    return out


def _column_p_b(raw: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """A judge column as ``p_b``: probabilities as they are, score differences through the sigmoid."""
    values = pd.to_numeric(raw[column], errors="coerce").astype(float)
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise ValueError(
            f"`path` {str(path)!r}: column {column!r} has a missing or non-numeric value "
            f"({str(raw[column].iloc[row])!r}) on data row {row + 1} (pair_id "
            f"{raw['pair_id'].iloc[row]!r}); every pair needs each judge's value"
        )
    if not column.startswith("score_b_"):
        bad = values[(values < 0) | (values > 1)]
        if len(bad):
            raise ValueError(
                f"`path` {str(path)!r}: column {column!r} holds values outside [0, 1] "
                f"(e.g. {float(bad.iloc[0])}); a score difference B - A belongs in a "
                f"column named {'score_b_' + column[len('p_b_') :]!r}"
            )
        return values
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"`path` {str(path)!r}: column {column!r} must hold finite score differences"
        )
    return 1.0 / (1.0 + np.exp(-values))


def read_escalation_csv(path) -> pd.DataFrame:
    """Read the shared judge-escalation ``pairs.csv`` into the long format.

    Parameters
    ----------
    path : str or Path
        The CSV file, or the directory holding ``pairs.csv``. Columns:
        ``pair_id``, ``instruction``, ``output_a``, ``output_b``,
        ``human_prefers_b`` and one ``p_b_<judge>`` per judge (probability that
        ``output_b`` is better; the judges saw the pair in one order, ``"ab"``)
        or ``score_b_<judge>`` (a score difference B minus A, e.g. a reward
        model's, read as the Bradley-Terry probability ``sigmoid(score)``).
        Judges keep the columns' order (the shared file lists the cheapest
        judge first).

    Returns
    -------
    pandas.DataFrame
        Long format (:data:`LONG_COLUMNS`), one row per pair and judge.

    Examples
    --------
    >>> long = read_escalation_csv("/work/shared/data/judge-escalation")  # doctest: +SKIP
    >>> sorted(long["judge"].unique())  # doctest: +SKIP
    ['gpt-3.5-turbo', 'gpt-4-turbo', 'mistral-7b-instruct']
    """
    path = Path(path)
    if path.is_dir():
        path = path / "pairs.csv"
    if not path.is_file():
        raise ValueError(f"`path` {str(path)!r} is not a file")
    try:
        # pair ids are labels: keep "007" as "007" (not the number 7)
        raw = pd.read_csv(path, dtype={"pair_id": str})
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"`path` {str(path)!r} is empty: {exc}") from exc
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        reason = " ".join(str(exc).split())  # pandas' parser messages end in a newline
        raise ValueError(
            f"`path` {str(path)!r} cannot be read as a comma-separated UTF-8 CSV "
            f"({reason}); save it as one"
        ) from exc
    need = ["pair_id", "instruction", "output_a", "output_b", "human_prefers_b"]
    missing = [c for c in need if c not in raw.columns]
    columns = {
        c[len(prefix) :]: c
        for c in raw.columns
        for prefix in ("p_b_", "score_b_")
        if c.startswith(prefix)
    }
    judges = list(columns)
    if missing or not judges:
        raise ValueError(
            f"`path` {str(path)!r} is not a judge-escalation CSV: missing "
            f"{missing or ['p_b_<judge> or score_b_<judge>']}"
        )
    if len(judges) < len(
        [c for c in raw.columns if c.startswith(("p_b_", "score_b_"))]
    ):
        raise ValueError(
            f"`path` {str(path)!r}: a judge has both a p_b_ and a score_b_ column"
        )
    if raw.empty:
        raise ValueError(f"`path` {str(path)!r} holds no pairs (a header only)")
    gold = pd.to_numeric(raw["human_prefers_b"], errors="coerce").astype(float)
    wrong = (gold.isna() & raw["human_prefers_b"].notna()) | (
        gold.notna() & ~gold.isin([0.0, 0.5, 1.0])
    )
    if wrong.any():
        row = int(np.flatnonzero(wrong.to_numpy())[0])
        value = gold.iloc[row]
        shown = (
            f"the non-numeric value {raw['human_prefers_b'].iloc[row]!r}"
            if np.isnan(value)
            else f"the value {float(value)}"
        )
        raise ValueError(
            f"`path` {str(path)!r}: column 'human_prefers_b' has {shown} on data row "
            f"{row + 1} (pair_id {raw['pair_id'].iloc[row]!r}); use 1 (B better), 0 "
            "(A better), 0.5 (tie) or leave it empty"
        )
    frames = [
        pd.DataFrame(
            {
                "pair_id": raw["pair_id"].astype(str),
                "prompt": raw["instruction"],
                "response_a": raw["output_a"],
                "response_b": raw["output_b"],
                "gold": gold,
                "judge": judge,
                "order": "ab",
                "p_b": _column_p_b(raw, columns[judge], path),
            }
        )
        for judge in judges
    ]
    return _check_long(pd.concat(frames, ignore_index=True), "path")


def _verdict_value(value, key: str, line: int) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and value in (0, 0.5, 1):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in _VERDICTS:
        return _VERDICTS[value.strip().lower()]
    raise ValueError(
        f"line {line}: `{key}` = {value!r} is not a verdict (A/B/tie, model_a/"
        "model_b, [[A]]/[[B]]/[[C]], 0/0.5/1)"
    )


def _json_lines(path: Path):
    """``(line number, object)`` of each non-blank line of a JSONL file; errors name ``path``."""
    if not path.is_file():
        raise ValueError(f"`path` {str(path)!r} is not a file")
    # JSONL is UTF-8; "utf-8-sig" also drops a byte-order mark at the file start
    with path.open(encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"`path` {str(path)!r} line {line_no} is not JSON: {exc}"
                ) from exc
            if not isinstance(obj, dict):  # a malformed file, not a wrong argument
                raise ValueError(  # noqa: TRY004
                    f"`path` {str(path)!r} line {line_no} is not a JSON object (one "
                    f"pair per line), got {type(obj).__name__}"
                )
            yield line_no, obj


def _field(obj, key: str, default=None):
    """``obj[key]``, where ``key`` may be a dotted path (``"games.0.score"``); else ``default``."""
    if key in obj:
        return obj[key]
    value = obj
    for part in key.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return default
    return default if value is None else value


def read_judge_jsonl(
    path,
    *,
    judge: str,
    pair_id="question_id",
    prompt="prompt",
    response_a="response_a",
    response_b="response_b",
    gold="gold",
    verdict_ab="g1_winner",
    verdict_ba="g2_winner",
    swapped_in_presented_labels=False,
) -> pd.DataFrame:
    """Read a JSONL file of pairwise judge verdicts given in both response orders.

    Each line is one pair judged twice, as MT-Bench's and JudgeBench's
    released judgments are: once with ``response_a`` shown first (key
    ``verdict_ab``) and once swapped (key ``verdict_ba``). Keys are
    configurable; a missing verdict key or ``null`` skips that order.

    Parameters
    ----------
    path : str or Path
    judge : str
        The judge's name (the ``judge`` column).
    pair_id, prompt, response_a, response_b, gold : str
        Keys of those fields. ``gold`` may be absent (NaN) or a verdict value.
        A key may be a dotted path into nested objects and lists, e.g.
        ``"games.0.score"`` (Arena-Hard's judgments) or
        ``"judgments.1.decision"`` (JudgeBench's; see also
        :func:`read_judgebench_jsonl`).
    verdict_ab, verdict_ba : str
        Keys of the verdicts in the original and the swapped order. Values:
        ``"A"``, ``"B"``, ``"tie"``, ``"model_a"``, ``"model_b"``, ``"[[A]]"``,
        ``"[[B]]"``, ``"[[C]]"`` (tie), or 0/0.5/1 (1 = B), or a probability.
    swapped_in_presented_labels : bool, default=False
        False: the swapped verdict already names the original responses (MT-Bench's
        ``g2_winner``). True: it names the *presented* positions (``"A"`` meaning
        the response shown first, i.e. the original ``response_b``), and it is
        mapped back.

    Returns
    -------
    pandas.DataFrame
        Long format (:data:`LONG_COLUMNS`).

    Examples
    --------
    >>> import json, tempfile, os
    >>> rows = [{"question_id": 1, "prompt": "2+2?", "response_a": "4", "response_b": "5",
    ...          "gold": "A", "g1_winner": "A", "g2_winner": "B"}]
    >>> with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
    ...     _ = f.write("\\n".join(json.dumps(r) for r in rows))
    >>> long = read_judge_jsonl(f.name, judge="small")
    >>> os.unlink(f.name)
    >>> long[["order", "p_b", "gold"]].values.tolist()
    [['ab', 0.0, 0.0], ['ba', 1.0, 0.0]]

    Nested keys, as in Arena-Hard's judgments (game 2 swaps the answers and
    names the presented positions; ``A>>B`` is a strong preference):

    >>> row = {"question_id": "q1", "games": [{"score": "B>A"}, {"score": "A>>B"}]}
    >>> with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
    ...     _ = f.write(json.dumps(row))
    >>> long = read_judge_jsonl(f.name, judge="gpt-4", verdict_ab="games.0.score",
    ...                         verdict_ba="games.1.score", swapped_in_presented_labels=True)
    >>> os.unlink(f.name)
    >>> long["p_b"].tolist()
    [1.0, 1.0]
    """
    path = Path(path)
    records = []
    for line_no, obj in _json_lines(path):
        if _field(obj, pair_id) is None:
            raise ValueError(f"`path` line {line_no} has no key {pair_id!r}")
        g = _field(obj, gold)
        g = np.nan if g is None else _verdict_value(g, gold, line_no)
        base = {
            "pair_id": str(_field(obj, pair_id)),
            "prompt": _field(obj, prompt, ""),
            "response_a": _field(obj, response_a, ""),
            "response_b": _field(obj, response_b, ""),
            "gold": g,
            "judge": judge,
        }
        for key, order in ((verdict_ab, "ab"), (verdict_ba, "ba")):
            value = _field(obj, key)
            if value is None:
                continue
            if isinstance(value, float) and 0 <= value <= 1:
                p = value
            else:
                p = _verdict_value(value, key, line_no)
            if order == "ba" and swapped_in_presented_labels:
                p = 1.0 - p
            records.append({**base, "order": order, "p_b": p})
    if not records:
        raise ValueError(f"`path` {str(path)!r} holds no verdicts")
    return _check_long(pd.DataFrame.from_records(records), "path")


def _judgment(entry: dict) -> dict:
    """The ``judgment`` object of a JudgeBench judgement (``{}`` when absent or not an object)."""
    judgment = entry.get("judgment")
    return judgment if isinstance(judgment, dict) else {}


def _judgement_p_b(entry, line: int, swapped: bool) -> float | None:
    """One JudgeBench judgement as ``p_b`` in the original labelling (None: no verdict).

    A judgement with two ``scores`` (a reward model's, for the presented A and
    B) gives the Bradley-Terry probability ``sigmoid(score_B - score_A)``;
    otherwise its ``decision`` is a verdict. In the swapped order both name
    the presented positions and are mapped back.
    """
    if not isinstance(entry, dict):
        return None
    scores = _judgment(entry).get("scores")
    if scores is not None:
        pair = np.asarray(scores, dtype=float)
        if pair.shape != (2,) or not np.all(np.isfinite(pair)):
            raise ValueError(
                f"`path` line {line}: `scores` must be two finite numbers, got {scores!r}"
            )
        p = float(1.0 / (1.0 + np.exp(pair[0] - pair[1])))
    elif entry.get("decision") is None:
        return None
    else:
        p = _verdict_value(entry["decision"], "decision", line)
    return 1.0 - p if swapped else p


def read_judgebench_jsonl(path, *, judge: str | None = None) -> pd.DataFrame:
    """Read a judge's outputs in JudgeBench's JSONL format into the long format.

    Each line is one pair (keys ``pair_id``, ``question``, ``response_A``,
    ``response_B``, ``label`` such as ``"A>B"``) with ``judgments``: the
    judge's output with the responses in their original order, then (if run
    twice) with them swapped, whose ``decision`` names the *presented*
    positions (JudgeBench flips it back before scoring; so does this reader).
    A reward model's judgement carries ``judgment.scores`` (its score of the
    presented A and B); its ``p_b`` is the Bradley-Terry probability
    ``sigmoid(score_B - score_A)``, so ``logit(p_b)`` is the score difference
    a router can use as the cheap judge's signed confidence. A ``null``
    judgement or decision skips that order.

    Parameters
    ----------
    path : str or Path
    judge : str, optional
        The judge's name (the ``judge`` column); default the first
        ``judgment.judge_model`` in the file, else the file's stem.

    Returns
    -------
    pandas.DataFrame
        Long format (:data:`LONG_COLUMNS`).

    References
    ----------
    Tan et al., "JudgeBench: A Benchmark for Evaluating LLM-based Judges", 2024.

    Examples
    --------
    >>> import json, tempfile, os
    >>> row = {"pair_id": "p1", "question": "2+2?", "response_A": "4", "response_B": "5",
    ...        "label": "A>B", "judgments": [
    ...            {"judgment": {"judge_model": "rm", "scores": [2.0, 1.0]}, "decision": "A>B"},
    ...            {"judgment": {"judge_model": "rm", "scores": [1.0, 2.0]}, "decision": "B>A"}]}
    >>> with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
    ...     _ = f.write(json.dumps(row))
    >>> long = read_judgebench_jsonl(f.name)
    >>> os.unlink(f.name)
    >>> long[["judge", "order", "gold"]].values.tolist()
    [['rm', 'ab', 0.0], ['rm', 'ba', 0.0]]
    >>> long["p_b"].round(4).tolist()  # sigmoid(1 - 2) in both orders
    [0.2689, 0.2689]
    """
    path = Path(path)
    records, name = [], judge
    for line_no, obj in _json_lines(path):
        for key in ("pair_id", "judgments"):
            if key not in obj:
                raise ValueError(
                    f"`path` line {line_no} has no key {key!r} (not JudgeBench's "
                    "format; for flat verdict keys use read_judge_jsonl)"
                )
        judgments = obj["judgments"]
        if not isinstance(judgments, list) or len(judgments) > 2:
            raise ValueError(
                f"`path` line {line_no}: `judgments` must be a list of at most "
                "two judgements (original order, then swapped)"
            )
        label = obj.get("label")
        base = {
            "pair_id": str(obj["pair_id"]),
            "prompt": obj.get("question", ""),
            "response_a": obj.get("response_A", ""),
            "response_b": obj.get("response_B", ""),
            "gold": np.nan
            if label is None
            else _verdict_value(label, "label", line_no),
        }
        for entry, order in zip(judgments, ("ab", "ba")):
            p = _judgement_p_b(entry, line_no, swapped=order == "ba")
            if p is None:
                continue
            if name is None:
                name = _judgment(entry).get("judge_model")
            records.append({**base, "order": order, "p_b": p})
    if not records:
        raise ValueError(f"`path` {str(path)!r} holds no verdicts")
    frame = pd.DataFrame.from_records(records)
    frame["judge"] = str(name) if name else path.stem
    return _check_long(frame, "path")


@dataclass(frozen=True)
class JudgeTable:
    """One row per pair: texts, gold and each judge's order-averaged ``p_b``.

    Attributes
    ----------
    frame : pandas.DataFrame
        Columns ``pair_id``, ``prompt``, ``response_a``, ``response_b``,
        ``gold`` and ``p_b_<judge>`` per judge; a judge run in both orders has
        the mean of its two probabilities (position bias averages out; two
        opposite verdicts give 0.5, a tie), and ``n_orders_<judge>``.
    judges : tuple of str
    n_dropped : int
        Pairs dropped because their gold label is missing (:func:`to_judge_table`
        warns when there are any).

    Examples
    --------
    >>> long = pd.DataFrame({"pair_id": ["1", "1", "1"], "prompt": "q", "response_a": "x",
    ...                      "response_b": "y", "gold": 1.0, "judge": ["s", "s", "c"],
    ...                      "order": ["ab", "ba", "ab"], "p_b": [1.0, 0.0, 0.8]})
    >>> t = to_judge_table(long)
    >>> t.frame[["p_b_c", "p_b_s"]].values.tolist()
    [[0.8, 0.5]]
    >>> t.rewards("c", "s").tolist()
    [[1.0, 0.5]]
    """

    frame: pd.DataFrame
    judges: tuple
    n_dropped: int = 0

    def probability(self, judge: str) -> np.ndarray:
        """The judge's probability that ``response_b`` is better, shape (n,)."""
        if judge not in self.judges:
            raise ValueError(
                f"`judge` must be one of {list(self.judges)}, got {judge!r}"
            )
        return self.frame[f"p_b_{judge}"].to_numpy(float)

    @property
    def gold(self) -> np.ndarray:
        return self.frame["gold"].to_numpy(float)

    def rewards(self, cheap: str, strong: str) -> np.ndarray:
        """Per-arm rewards (n, 2): column 0 the cheap judge, 1 the strong one.

        A reward is :func:`verdict_correctness` of the judge's probability
        against gold.
        """
        return np.column_stack(
            [
                verdict_correctness(self.probability(cheap), self.gold),
                verdict_correctness(self.probability(strong), self.gold),
            ]
        )

    def costs(self, strong_cost: float = 1.0) -> np.ndarray:
        """Costs (n, 2): 0 for the cheap judge, ``strong_cost`` per strong call."""
        n = self.frame.shape[0]
        return np.column_stack([np.zeros(n), np.full(n, float(strong_cost))])


def verdict_correctness(p_b, gold) -> np.ndarray:
    """1 when the verdict ``p_b > 1/2`` matches gold, 0 when not, 1/2 on a tie.

    A tie on either side (``p_b == 1/2`` or ``gold == 1/2``) scores 1/2: the
    expected correctness of a fair coin.

    Examples
    --------
    >>> verdict_correctness([0.9, 0.2, 0.5, 0.7], [1, 1, 0, 0.5]).tolist()
    [1.0, 0.0, 0.5, 0.5]
    """
    p = np.asarray(p_b, float)
    g = np.asarray(gold, float)
    if p.shape != g.shape:
        raise ValueError(
            f"`p_b` and `gold` must have the same shape, got {p.shape} and {g.shape}"
        )
    for arr, name in ((p, "p_b"), (g, "gold")):
        if np.isnan(arr).any():
            raise ValueError(
                f"`{name}` holds NaN (at index {int(np.flatnonzero(np.isnan(arr))[0])}): "
                "a missing verdict or gold cannot be scored; drop those pairs first"
            )
    verdict = np.sign(p - 0.5)
    truth = np.sign(g - 0.5)
    out = np.where(verdict == truth, 1.0, 0.0)
    return np.where((verdict == 0) | (truth == 0), 0.5, out)


def to_judge_table(long: pd.DataFrame) -> JudgeTable:
    """Pivot long-format rows to one row per pair (see :class:`JudgeTable`).

    Pairs keep the order of their first appearance; a pair whose gold is
    missing is dropped (it cannot score a routing), counted in
    ``JudgeTable.n_dropped`` and warned about. A judge with no verdict on
    a pair (absent from the long rows) gets ``p_b = 1/2`` there, a tie, with
    ``n_orders = 0``.

    Examples
    --------
    >>> long = pd.DataFrame({"pair_id": ["p", "p", "q"], "prompt": "", "response_a": "",
    ...                      "response_b": "", "gold": [0.0, 0.0, 1.0], "judge": "j",
    ...                      "order": ["ab", "ba", "ab"], "p_b": [0.2, 0.4, 0.9]})
    >>> table = to_judge_table(long)
    >>> table.frame["pair_id"].tolist(), table.probability("j").round(2).tolist()
    (['p', 'q'], [0.3, 0.9])
    """
    long = _check_long(long, "long")
    # a pair's gold and texts may come from any of its rows (e.g. a cheap judge's
    # file without gold concatenated with a strong judge's with it)
    golds = long.dropna(subset=["gold"]).groupby("pair_id", sort=False)["gold"]
    conflict = golds.nunique() > 1
    if conflict.any():
        pid = conflict.index[conflict.to_numpy()][0]
        raise ValueError(
            f"`long`: pair_id {pid!r} has conflicting gold values "
            f"{sorted(golds.get_group(pid).unique())}"
        )
    texts = ["prompt", "response_a", "response_b"]
    known = long[["pair_id", *texts, "gold"]].replace({c: {"": np.nan} for c in texts})
    first = known.groupby("pair_id", sort=False).first().reset_index()
    first[texts] = first[texts].fillna("")
    stats = long.groupby(["pair_id", "judge"], sort=False)["p_b"].agg(["mean", "size"])
    wide_p = stats["mean"].unstack("judge")
    wide_n = stats["size"].unstack("judge")
    judges = tuple(long["judge"].drop_duplicates())
    frame = first.set_index("pair_id")
    for judge in judges:
        # a pair the judge gave no verdict on (every order null) is a tie, 1/2
        frame[f"p_b_{judge}"] = wide_p[judge].fillna(0.5)
        frame[f"n_orders_{judge}"] = wide_n[judge].fillna(0).astype(int)
    frame = frame.reset_index()
    missing = frame["gold"].isna().to_numpy()
    if missing.any():
        ids = frame.loc[missing, "pair_id"].tolist()
        warnings.warn(
            f"dropped {len(ids)} of {len(frame)} pairs without a gold label (pair_id "
            + ", ".join(repr(i) for i in ids[:5])
            + (", ..." if len(ids) > 5 else "")
            + "): they cannot score a routing",
            UserWarning,
            stacklevel=2,
        )
    frame = frame[~missing].reset_index(drop=True)
    return JudgeTable(frame, judges, int(missing.sum()))
