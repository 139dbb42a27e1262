"""An httpbin-like upstream for the demo, the tests and the benchmarks (`oidcgate echo`).

Built on uvloop + httptools (asyncio.Protocol, keep-alive, N workers sharing the port with
SO_REUSEPORT) so that it is never the bottleneck of a benchmark, and streams large bodies both
ways with bounded memory so a 1 GiB upload or download can go through the proxy to it.
See `endpoints.py` for what each path answers.
"""
