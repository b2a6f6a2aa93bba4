"""The compiled kernels of the CPU backend (``_kernels.pyx``): arithmetic only; they import
nothing of mlp."""
