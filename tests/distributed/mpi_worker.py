"""One rank of the distributed tests, run by ``mpiexec -n N python mpi_worker.py SPEC OUT``.

``SPEC`` is a JSON case of :mod:`test_mpi`; every rank builds the same data and model, trains
with ``distributed=True`` and writes what it ended with to ``OUT/rank<r>.npz`` (plain arrays,
written with NumPy, never with the model's own saving, which only rank 0 does).
"""
import json
import pickle
import sys
from pathlib import Path

import numpy as np

import mlp
import mlp.distributed
from case_models import build_case


def main(spec_path: str, out: str) -> None:
    case = json.loads(Path(spec_path).read_text())
    group = mlp.distributed.init()
    rank = group.rank
    if case.get("fail_on_rank") == rank:
        raise RuntimeError(f"planted failure on rank {rank}")
    model, fit_args = build_case(case, rank)
    result = {"rank": rank, "size": group.size, "threads": mlp.get_num_threads(),
              "local": [mlp.distributed.local_rank(), mlp.distributed.local_size()]}
    # count the collective operations over the gradient buffer (one per step is the design)
    steps = [0]
    allreduce = group.allreduce_

    def counted(array):
        if array.size == model.params.size + 1:
            steps[0] += 1
        allreduce(array)

    group.allreduce_ = counted
    try:
        history = model.fit(distributed=True, **fit_args)
    except ValueError as error:
        result["error"] = str(error)
        Path(out, f"rank{rank}.json").write_text(json.dumps(result))
        return
    result["gradient_allreduces"] = steps[0]
    result["seed"] = model.seed
    probe = fit_args["x"][:5]
    copy = pickle.loads(pickle.dumps(model))  # picklable after distributed training
    result["pickled_predicts_alike"] = bool(np.array_equal(copy.predict(probe),
                                                           model.predict(probe)))
    if case.get("save"):
        model.save(Path(out, f"model-{rank}.mlp"))
    result.update(history={k: [float(v) for v in vs] for k, vs in history.history.items()},
                  stopped_epoch=history.stopped_epoch, iterations=model.optimizer.iterations)
    Path(out, f"rank{rank}.json").write_text(json.dumps(result))
    np.savez(Path(out, f"rank{rank}.npz"), *model.get_weights())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
