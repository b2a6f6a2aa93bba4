"""The perceptron learns AND and OR but not XOR.

Rosenblatt's perceptron draws one straight line through the input plane. AND and OR are
linearly separable, so the perceptron rule converges to a line that classifies all four points;
XOR is not, so the rule keeps making mistakes however long it trains.

Run with ``python examples/perceptron_xor.py``.
"""
import numpy as np

from mlp.perceptron import Perceptron

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
GATES = {
    "AND": np.array([0, 0, 0, 1]),
    "OR": np.array([0, 1, 1, 1]),
    "XOR": np.array([0, 1, 1, 0]),
}


def train_gate(name: str, y: np.ndarray) -> Perceptron:
    """Fit a perceptron to one gate's truth table and print what it learned."""
    model = Perceptron(max_epochs=100, seed=0).fit(X, y)
    status = "converged" if model.converged_ else "not converged"
    print(
        f"{name + ':':<5}{status} after {model.n_epochs_} epochs, "
        f"accuracy {model.score(X, y):.2f}, predictions {model.predict(X).tolist()}, "
        f"targets {y.tolist()}"
    )
    print(
        f"     weights {model.weights_.tolist()}, bias {model.bias_}, "
        f"mistakes per epoch (first 10) {model.errors_[:10]}"
    )
    return model


def main() -> None:
    """Train the perceptron on AND, OR and XOR."""
    print("Rosenblatt perceptron on the truth tables of two inputs")
    for name, y in GATES.items():
        train_gate(name, y)
    print("XOR is not linearly separable: no line puts (0, 1) and (1, 0) on one side")
    print("and (0, 0) and (1, 1) on the other, so a single perceptron cannot learn it.")


if __name__ == "__main__":
    main()
