"""The network's parts: layers, losses, initializers, regularizers and the perceptron.

They describe *what* is computed; the backends compute it. Nothing here imports a backend's
internals or the compiled kernels.
"""
