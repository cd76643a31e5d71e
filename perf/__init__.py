"""The load suite of issue 7: ``perf/run`` (or ``make perf``) measures the service against its ceilings.

Modules: ``scenarios`` (what is measured and the targets), ``wrk`` (running wrk and reading its
figures), ``service`` (a scratch bin/serve with data, sessions and stock), ``probes`` (memory,
database connections, latency over time), ``pgbench`` and ``hello`` (the two ceilings),
``report`` (results.json, report.md, chart.png) and ``suite`` (the command line that ties them).
"""
