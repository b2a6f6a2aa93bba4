"""The parameter, attribute and behaviour documentation both estimators share, written once and
spliced into their docstrings."""

PARAMETERS = """\
hidden_layer_sizes : array-like of int, default=(100,)
    The width of each hidden layer.
activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
    The hidden layers' activation.
solver : {"lbfgs", "sgd", "adam"}, default="adam"
    ``"adam"`` and ``"sgd"`` train in mini-batches, a whole epoch per call into mlp's kernels;
    ``"lbfgs"`` runs ``scipy.optimize``'s L-BFGS-B on the full-batch loss and gradient.
alpha : float, default=0.0001
    L2 strength. As in scikit-learn the term ``alpha / 2 * sum(coefs ** 2)`` is divided by the
    (weighted) number of samples of the batch (of the whole set for ``"lbfgs"``); intercepts
    are not penalised.
batch_size : int or "auto", default="auto"
    Mini-batch size; ``"auto"`` is ``min(200, n_samples)``, a larger size is clipped.
learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
    The schedule of ``solver="sgd"``, applied between epochs: ``"invscaling"`` is
    ``learning_rate_init / (t_ + 1) ** power_t``; ``"adaptive"`` divides the rate by 5 each
    time more than ``n_iter_no_change`` epochs do not improve by ``tol``, and stops below
    ``1e-6``.
learning_rate_init : float, default=0.001
    The initial step size (``"sgd"``, ``"adam"``).
power_t : float, default=0.5
    The exponent of ``"invscaling"``.
max_iter : int, default=200
    Epochs for ``"sgd"`` / ``"adam"``, iterations for ``"lbfgs"``.
shuffle : bool, default=True
    Shuffle the samples every epoch (``"sgd"``, ``"adam"``).
random_state : int, RandomState instance or None, default=None
    Draws the initial weights (as scikit-learn does: the same ``random_state`` gives the same
    initial weights), the ``early_stopping`` split, and the seed of the network's shuffling and
    dropout.
tol : float, default=1e-4
    The improvement an epoch must bring (loss, or validation score with ``early_stopping``);
    for ``"lbfgs"`` the gradient tolerance.
verbose : bool, default=False
    Print the loss of every epoch (iteration).
warm_start : bool, default=False
    ``fit`` starts from the weights of the previous fit instead of new ones.
momentum : float, default=0.9
    Momentum of ``"sgd"``, in [0, 1) (scikit-learn also takes 1).
nesterovs_momentum : bool, default=True
    Nesterov's momentum for ``"sgd"`` with ``momentum > 0``.
early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the training data (stratified for single-output
    classification), stop when its score has not improved by ``tol`` for more than
    ``n_iter_no_change`` epochs, and keep the best weights (``"sgd"``, ``"adam"``).
validation_fraction : float, default=0.1
    The held-out fraction for ``early_stopping``.
beta_1, beta_2 : float, default=0.9, 0.999
    Adam's moment decays, in [0, 1).
epsilon : float, default=1e-8
    Adam's epsilon.
n_iter_no_change : int, default=10
    Epochs without improvement tolerated (``"sgd"``, ``"adam"``).
max_fun : int, default=15000
    Most loss evaluations of ``"lbfgs"``.
dropout : float, default=0.0
    Not in scikit-learn. The rate of a ``Dropout`` after each hidden layer, in [0, 1).
batch_norm : bool, default=False
    Not in scikit-learn. Each hidden layer becomes a linear ``Dense`` (with its intercept), an
    :class:`mlp.BatchNormalization` (momentum 0.9, epsilon 1e-3) and the hidden
    ``activation``, then the ``Dropout`` of ``dropout``. Training normalizes with each batch's
    statistics, ``predict`` with the moving ones, so a sample's prediction does not depend on
    the others. ``alpha`` penalises ``coefs_`` only, not gamma and beta. With ``"lbfgs"`` every
    evaluation normalizes with the statistics of the whole training set, and after the
    minimisation the moving statistics are set to them (at the final weights).
backend : {"cpu", "cupy", "reference"}, default="cpu"
    Not in scikit-learn. Where mlp computes: its CPU kernels, the GPU (``mlp-engine[cuda]``),
    or the pure-NumPy reference.
n_threads : int or None, default=None
    Not in scikit-learn. mlp's threads during ``fit`` and ``predict``; ``None`` leaves
    :func:`mlp.get_num_threads` as it is (which honours ``OMP_NUM_THREADS`` and
    ``threadpoolctl`` limits, so joblib workers do not oversubscribe).
dtype : {"float32", "float64"} or None, default=None
    Not in scikit-learn. The precision of training; ``None`` follows ``X`` as scikit-learn does
    (``float32`` stays ``float32``, anything else is ``float64``)."""

ATTRIBUTES = """\
loss_ : float
    The loss of the last epoch (iteration), L2 term included, as scikit-learn reports it.
best_loss_ : float or None
    The lowest ``loss_`` (``None`` with ``early_stopping``); only for ``"sgd"``/``"adam"``.
loss_curve_ : list of float
    ``loss_`` after every epoch; only for ``"sgd"``/``"adam"``.
validation_scores_ : list of float or None
    The held-out score after every epoch with ``early_stopping``, else ``None``.
best_validation_score_ : float or None
    The best of ``validation_scores_``.
t_ : int
    Samples trained on (epochs times training samples).
coefs_ : list of ndarray
    ``coefs_[i]`` of shape (units of layer i, units of layer i + 1). Setting them (and
    ``intercepts_``) before ``fit`` with ``warm_start`` or ``partial_fit`` trains from them.
intercepts_ : list of ndarray
    The biases of each layer.
batch_norm_params_ : list of dict
    Only with ``batch_norm=True``: per hidden layer a dict of ``"gamma"``, ``"beta"``,
    ``"moving_mean"`` and ``"moving_variance"``, arrays of the layer's width. Like
    ``coefs_`` they are the truth a warm start or ``partial_fit`` trains from (set by hand,
    or left out to start a first fit's values: 1, 0, 0, 1); ``predict`` normalizes with the
    moving statistics whenever the attribute is there.
n_features_in_ : int
    Features seen in ``fit``.
feature_names_in_ : ndarray of str
    The column names of a DataFrame ``X``; only when they are all strings.
n_iter_ : int
    Epochs (iterations) run by the last ``fit``.
n_layers_ : int
    Layers, input and output included.
n_outputs_ : int
    Outputs of the network.
out_activation_ : str
    The output activation."""

NOTES = """\
Where this estimator and scikit-learn's differ, in detail (the results agree within the noise
of training; tests compare them):

- ``momentum=1`` is refused (scikit-learn takes it: a velocity that never decays);
- sparse ``X`` is converted to a dense array before training and prediction;
- Adam adds ``epsilon`` to the square root of the bias-corrected second moment (scikit-learn to
  the uncorrected one, a larger effective epsilon in the first steps);
- SGD keeps ``v = momentum * v + grad`` and steps by ``learning_rate * v``; scikit-learn keeps
  the learning rate inside the velocity. The steps are the same while the learning rate is
  constant and differ slightly after an ``"invscaling"`` / ``"adaptive"`` change;
- the L2 coefficient is that of a full batch on every batch, also on the last, shorter batch of
  an epoch (scikit-learn divides by that batch's size); with ``sample_weight`` the batches are
  scaled by the average weight of the training set, not by their own;
- the shuffling order comes from mlp's generator, seeded from ``random_state``: runs are
  reproducible but the batches are not scikit-learn's (with ``shuffle=False`` they are, and the
  weights follow scikit-learn's to rounding).
"""


def splice(docstring: str) -> str:
    """``docstring`` with ``{parameters}``, ``{attributes}`` and ``{notes}`` filled in."""
    indent = " " * 4
    return docstring.format(
        parameters=PARAMETERS.replace("\n", "\n" + indent),
        attributes=ATTRIBUTES.replace("\n", "\n" + indent),
        notes=NOTES.replace("\n", "\n" + indent))
