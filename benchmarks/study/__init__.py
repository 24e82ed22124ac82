"""The study: which runs a protocol trains and how each is scored.

- :mod:`benchmarks.study.methods`: each method read from its objective class, its grid values, what stacks.
- :mod:`benchmarks.study.grid`: the paper's grid, the presets, a run's name and folder, a sweep's selection.
- :mod:`benchmarks.study.suites`: the metric configs a run is scored with (standard suite, paper protocol).
- :mod:`benchmarks.study.configs`: where the gin files are (the checkout's, or the installed copy).
"""
