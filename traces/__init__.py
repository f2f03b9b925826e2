"""Trace tooling: the Trace value, ITF export, renderings, reduction and the stored corpus."""
