"""The compiled kernels of the CPU backend (``_kernels.pyx``): arithmetic only, imports nothing of mlp."""
