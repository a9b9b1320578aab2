"""The small core of Mocha: blobs, layers, nets, backends, solvers, the plugin registry.

It imports no numba, cupy, rich or typer; everything else is a plugin.
"""
