"""The server-drawn charts: bars and lines where the numbers say, round grid steps, an empty chart that says so."""
from __future__ import annotations

from handlers.console import charts


def test_stacked_bars_stand_on_each_other_and_scale_to_a_round_top() -> None:
    chart = charts.stacked_bars("c", "t", "s", ["2026-W01", "2026-W02"], [("a", [2, 0]), ("b", [1, 3])],
                                ("flagged", [1, 2]))
    bars = [b for b in chart.bars if b.tip]  # the legend's swatches have no tooltip
    assert [b.tip for b in bars] == ["2026-W01 · a: 2", "2026-W01 · b: 1", "2026-W02 · b: 3"]
    first_a, first_b, second_b = bars
    assert first_b.y + first_b.height == first_a.y  # b sits on a
    assert abs(first_a.height - 2 * first_b.height) < 0.2 and abs(second_b.height - 3 * first_b.height) < 0.2
    assert [t.text for t in chart.texts if t.anchor == "end"] == ["0", "1", "2", "3"]  # whole steps for counts
    assert [d.tip for d in chart.dots] == ["2026-W01 · flagged: 1", "2026-W02 · flagged: 2"]
    assert {"W01", "W02", "a", "b", "flagged"} <= {t.text for t in chart.texts}


def test_a_line_breaks_where_a_week_has_no_value_and_the_target_is_dashed() -> None:
    weeks = ["2026-W01", "2026-W02", "2026-W03", "2026-W04"]
    chart = charts.line_chart("c", "t", "s", weeks, [("median", [2.0, 4.0, None, 3.0])], ("promise", 24.0))
    solid = [line for line in chart.lines if not line.dashed]
    assert len(solid) == 1 and solid[0].points.count(",") == 2  # W01-W02 joined; W04 alone is only a dot
    assert len(chart.dots) == 3 and any(line.dashed for line in chart.lines)
    assert [t.text for t in chart.texts if t.anchor == "end"] == ["0", "10", "20", "30"]


def test_horizontal_bars_label_each_row_and_shorten_long_labels() -> None:
    chart = charts.horizontal_bars("c", "t", "s", ["privacy", "a step with a very long name indeed"],
                                   [("on", [3, 1]), ("stopped", [1, 0])])
    labels = [t.text for t in chart.texts if t.kind == "label"]
    assert labels == ["privacy", "a step with a very long n…"]
    assert [t.text for t in chart.texts if t.kind == "value"] == ["4", "1"]


def test_an_empty_chart_says_there_is_nothing_to_show() -> None:
    chart = charts.stacked_bars("c", "t", "s", ["2026-W01"], [("a", [0])])
    assert charts.EMPTY in [t.text for t in chart.texts] and not [b for b in chart.bars if b.tip]
    assert charts.EMPTY in [t.text for t in charts.horizontal_bars("c", "t", "s", [], []).texts]
