"""The evaluation options checked where ``evaluate`` (and ``fewshot``) receive them: a value
outside its range is refused before any data is read or any result saved, with the range in
the message (``ssrl.ranges``). ``k = 0`` would otherwise vote with no neighbours and save a
chance-level accuracy as the run's kNN result."""

from ssrl.ranges import check_count, check_fraction, check_number


def check_evaluation_options(*, k=None, label_fraction=None, label_fractions=None, per_class=None, draws=None,
                             budget=None, limit=None) -> None:
    """Refuse kNN's ``k`` < 1, a label fraction outside (0, 1], labels per class, ``draws`` or
    ``limit`` < 1,
    and a training ``budget`` (``TrainBudget``) with epochs or batch size < 1, a head learning
    rate ≤ 0, or a backbone learning rate or weight decay < 0 (0 keeps h_θ as it is)."""
    check_count(k, "--k")
    check_fraction(label_fraction, "--label-fraction")
    for fraction in label_fractions or ():
        check_fraction(fraction, "--label-fractions")
    for n in per_class or ():
        check_count(n, "--per-class")
    check_count(draws, "--draws")
    check_count(limit, "--limit")
    if budget is not None:
        check_count(budget.epochs, "--epochs")
        check_count(budget.batch_size, "--batch-size")
        check_number(budget.lr_head, "--lr-head", strictly=True)
        check_number(budget.lr_backbone, "--lr-backbone", strictly=False)
        check_number(budget.weight_decay, "weight decay", strictly=False)
