"""The first lesson with computed numbers: one sample through logistic regression, the
chain rule backwards, and one update, all recorded by the model's own layers."""

from __future__ import annotations

import numpy as np

from nbengine.explain.steps import Say, Steps, Tensor
from nbengine.i18n import Msg
from nbengine.trace import Tracer, to_json_data


def traced(trace_steps, **fields) -> Steps:
    """Recorded trace steps (nbengine.trace.Step) as an explanation: each a tensor (its JSON
    line carrying ``fields``), then a blank line."""
    s = Steps()
    for step in trace_steps:
        s.append(Tensor(step, dict(fields)))
        s.append(Say(""))
    return s


def logreg(model, x, y, lr: float = 0.1, precision: int = 4, **fields) -> Steps:
    """One sample x (1, D) with label y (1,) through ``model`` (a LogisticRegression): the
    forward pass, the chain rule backwards, the weights after one SGD step of rate lr, and
    the chain for the weight with the largest gradient, multiplied out. The model's weights
    are updated (as the step shown). ``fields`` go into every tensor's JSON line."""
    from nbengine.optim import SGD

    label = int(y[0])
    optimizer = SGD(model.params, model.grads, lr, labels=model.param_labels)
    with Tracer() as tracer:
        model.loss_and_backward(x, y)
        optimizer.step()
    a_before = float(next(s.value for s in tracer.steps if s.name == "a"))
    a_after = float(model.predict_proba(x)[0])
    if abs(a_after - label) < abs(a_before - label):
        note = Msg(
            "the same sample after the update: {before:.4f} → {after:.4f}, closer to y = {label}",
            before=a_before,
            after=a_after,
            label=label,
        )
    else:
        note = Msg(
            "the same sample after the update: {before:.4f} → {after:.4f}, no closer to y = {label}",
            before=a_before,
            after=a_after,
            label=label,
        )
    tracer.add("new a", np.float32(a_after), Msg("a = σ(new w · x + new b)"), note)
    s = traced(tracer.steps, **fields)
    s.title = Msg("logistic regression")

    # The chain rule for one weight, with the numbers multiplied out: the weight whose
    # gradient is largest, so the product is the one that moves most.
    v = {step.name: step.value for step in tracer.steps}
    i = int(abs(v["dL/dw"]).argmax())
    p = precision
    factors = [float(v["dL/da"]), float(v["da/dz"]), float(v["dz/dw"][i])]
    product = float(v["dL/dw"][i])
    numbers = " × ".join(f"({f:.{p}f})" if f < 0 else f"{f:.{p}f}" for f in factors)
    name = model.feature_names[i]
    s.say(Msg("The chain for the weight of {name!r} (the largest gradient):", name=name))
    s.fact(
        "chain",
        f"  dL/dw = dL/da · da/dz · dz/dw = {numbers} = {product:.{p}f}",
        feature=name,
        index=i,
        dL_da=to_json_data(v["dL/da"]),
        da_dz=to_json_data(v["da/dz"]),
        dz_dw=to_json_data(v["dz/dw"][i]),
        dL_dw=to_json_data(v["dL/dw"][i]),
    )
    return s
