"""The plugin framework (base, pdk, registry) and the bundled plugins, one folder each."""
