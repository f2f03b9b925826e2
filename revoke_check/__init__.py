"""revoke-check: a model checker for the vfio-pci dma-buf revoke and locking protocol."""

__version__ = "0.2.0"
