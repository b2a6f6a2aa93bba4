"""The perceptron learns AND and OR but not XOR.

Rosenblatt's perceptron draws one straight line through the input plane. AND and OR are
linearly separable, so the perceptron rule converges to a line that classifies all four points;
XOR is not, so the rule keeps making mistakes however long it trains. A 2-4-1 multilayer
perceptron (one hidden layer of 4 tanh units, a sigmoid output) learns XOR exactly.

Run with ``python examples/perceptron_xor.py``.
"""
import numpy as np

import mlp
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


def train_xor_mlp(seed: int = 0) -> mlp.Sequential:
    """Train a 2-4-1 MLP on XOR with Adam and print its predictions."""
    model = mlp.Sequential([mlp.Dense(4, activation="tanh", input_dim=2),
                            mlp.Dense(1, activation="sigmoid")], seed=seed)
    model.compile(optimizer=mlp.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(X, GATES["XOR"], epochs=300, batch_size=4, verbose=0)
    predictions = (model.predict(X)[:, 0] > 0.5).astype(int)
    print(f"MLP 2-4-1 on XOR: accuracy {history.history['accuracy'][-1]:.2f}, "
          f"predictions {predictions.tolist()}, final loss {history.history['loss'][-1]:.4f}")
    return model


def main() -> None:
    """Train the perceptron on AND, OR and XOR, then an MLP on XOR."""
    print("Rosenblatt perceptron on the truth tables of two inputs")
    for name, y in GATES.items():
        train_gate(name, y)
    print("XOR is not linearly separable: no line puts (0, 1) and (1, 0) on one side")
    print("and (0, 0) and (1, 1) on the other, so a single perceptron cannot learn it.")
    print("A hidden layer bends the boundary:")
    train_xor_mlp()


if __name__ == "__main__":
    main()
