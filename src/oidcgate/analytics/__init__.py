"""Traffic analytics shared by both planes: the fixed latency buckets and what can be computed from them.

Data planes count requests per minute (`oidcgate.proxy.usage`, `oidcgate.proxy.analytics`), ship the
counts over the cluster link (`oidcgate.cluster.protocol.Analytics`), and the control plane keeps minute
rollups (`oidcgate.controlplane.analytics`) that the Admin API and the GUI read.
"""
