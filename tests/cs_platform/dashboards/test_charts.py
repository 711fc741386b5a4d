"""Server-side SVG charts: escaped text, labelled bands, markers, empty states."""

from __future__ import annotations

from cs_platform.charts import Band, Marker, Series, bar_chart, line_chart, sparkline


def test_a_sparkline_draws_a_path_through_every_point():
    svg = str(sparkline([10, 50, 90], title="Acme"))
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert svg.count("L") >= 2
    assert "<title>Acme</title>" in svg


def test_a_sparkline_with_one_point_is_an_empty_image():
    assert "<path" not in str(sparkline([42]))


def test_bands_are_labelled_in_text_not_only_by_colour():
    svg = str(
        line_chart(
            [Series("Score", [(0, 30), (1, 60)])],
            title="Health",
            bands=[Band(0, 40, "Red < 40", "band-red"), Band(40, 100, "Green", "band-green")],
            y_range=(0, 100),
        )
    )
    assert ">Red &lt; 40</text>" in svg
    assert ">Green</text>" in svg


def test_every_text_in_a_chart_is_escaped():
    svg = str(
        line_chart(
            [Series("<script>x</script>", [(0, 1), (1, 2)]), Series("b", [(0, 2), (1, 3)])],
            title='"><img onerror=1>',
            ticks=[(0, "<b>")],
            markers=[Marker(1, "<i>renewal</i>")],
        )
        + bar_chart([("<svg onload=1>", 5)], title="t")
    )
    assert "<script>" not in svg and "<b>" not in svg and "<i>" not in svg
    assert "<img" not in svg and "<svg onload" not in svg
    assert "&lt;script&gt;" in svg


def test_a_marker_is_drawn_at_its_x_with_its_label():
    svg = str(
        line_chart(
            [Series("S", [(0, 1.0), (10, 0.5)])],
            title="Survival",
            markers=[Marker(5, "Renewal 2027-03-01")],
            y_range=(0, 1),
        )
    )
    assert 'class="marker"' in svg and "Renewal 2027-03-01" in svg


def test_charts_without_data_say_so():
    assert "No data yet" in str(line_chart([Series("a", [])], title="t"))
    assert "No data yet" in str(bar_chart([], title="t"))


def test_bars_are_proportional_and_labelled_with_their_values():
    svg = str(bar_chart([("Red", 10), ("Green", 5)], title="t", value_format=str))
    widths = [float(part.split('"')[0]) for part in svg.split('width="')[2:]]
    assert widths[0] == 2 * widths[1]
    assert ">10</text>" in svg and ">5</text>" in svg
