"""HTTP pieces shared by the proxy and the plugin API: header fields in wire form."""
