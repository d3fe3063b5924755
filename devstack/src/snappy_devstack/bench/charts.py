"""The benchmark's charts: latency and throughput of all requests by concurrency, both versions on each.

Drawn with matplotlib's Agg canvas straight onto PNG files: no display, no global backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from snappy_devstack.bench.results import StepResult
from snappy_devstack.bench.targets import VERSIONS

__all__ = ["LATENCY_CHART", "THROUGHPUT_CHART", "write_charts"]

LATENCY_CHART = "latency.png"
THROUGHPUT_CHART = "throughput.png"
_COLOURS = {"monolith": "#1f77b4", "microservices": "#d62728"}
_SIZE_INCHES = (8.0, 5.0)
_DPI = 120

# Each version's value at each concurrency.
_Series = Mapping[str, Mapping[int, float]]
_Value = Callable[[StepResult], float]


def write_charts(steps: Sequence[StepResult], folder: Path, *, caption: str) -> list[Path]:
    """Write the latency and throughput charts of `steps` into `folder`.

    `caption` says how the figures were measured; it is printed under each chart.
    """
    folder.mkdir(parents=True, exist_ok=True)
    concurrencies = sorted({step.concurrency for step in steps})

    latency, axes = _chart("Latency by concurrency (all requests)", "latency (ms)", concurrencies, caption)
    # Latency grows by factors as the concurrency does: a log scale keeps 10 ms and 1 s readable.
    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(ScalarFormatter())
    for percentile, marker, style in (("p50", "o", "-"), ("p95", "s", "--")):
        series = _series(steps, _latency(percentile))
        for version in VERSIONS:
            _plot(axes, series, version, label=f"{version} {percentile}", marker=marker, style=style)
    axes.legend(loc="upper left")
    latency_path = folder / LATENCY_CHART
    _save(latency, latency_path)

    throughput, axes = _chart(
        "Throughput by concurrency (all requests)", "requests per second", concurrencies, caption
    )
    series = _series(steps, lambda step: step.all_requests.requests_per_second)
    for version in VERSIONS:
        _plot(axes, series, version, label=version, marker="o", style="-")
    # From zero, with room above the highest point for the legend.
    axes.set_ylim(bottom=0, top=axes.get_ylim()[1] * 1.15)
    axes.legend(loc="upper left")
    throughput_path = folder / THROUGHPUT_CHART
    _save(throughput, throughput_path)
    return [latency_path, throughput_path]


def _chart(title: str, y_label: str, concurrencies: Sequence[int], caption: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=_SIZE_INCHES, dpi=_DPI, layout="constrained")
    axes = figure.subplots()
    axes.set_title(title)
    axes.set_xlabel("concurrent users (closed loop, no think time)")
    axes.set_ylabel(y_label)
    if len(concurrencies) > 1:
        # Concurrencies grow by factors (1, 4, 16, 64): equal steps on a log scale.
        axes.set_xscale("log", base=2)
    axes.set_xticks(list(concurrencies), [str(concurrency) for concurrency in concurrencies])
    axes.minorticks_off()
    axes.grid(visible=True, alpha=0.3)
    figure.supxlabel(caption, fontsize="small", color="#555555")
    return figure, axes


def _series(steps: Sequence[StepResult], value: _Value) -> dict[str, dict[int, float]]:
    return {
        version: {step.concurrency: value(step) for step in steps if step.version == version}
        for version in VERSIONS
    }


def _latency(percentile: str) -> _Value:
    """The latency percentile (`p50`, `p95`) of a step's requests."""
    return lambda step: float(getattr(step.all_requests, f"{percentile}_ms"))


def _plot(axes: Axes, series: _Series, version: str, *, label: str, marker: str, style: str) -> None:
    """Draw one version's line, each point's value written beside it.

    The monolith's values go left of their points and the microservices' right, so the two
    versions' labels never cover each other where their lines meet.
    """
    points = sorted(series[version].items())
    colour = _COLOURS[version]
    axes.plot(
        [x for x, _ in points],
        [y for _, y in points],
        marker=marker,
        linestyle=style,
        color=colour,
        label=label,
    )
    left = version == VERSIONS[0]
    for x, y in points:
        axes.annotate(
            f"{y:.0f}",
            (x, y),
            textcoords="offset points",
            xytext=(-6 if left else 6, 0),
            ha="right" if left else "left",
            va="center",
            fontsize="x-small",
            color=colour,
        )


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)  # attaches the Agg canvas to the figure, which savefig then draws with
    figure.savefig(path, format="png")
