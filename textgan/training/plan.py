"""The plan of a staged run, said before the work: each phase's steps, its measured time and
what train.time_limit_minutes will reach.

A staged trainer (SeqGAN and kin, gumbel, cot) describes its phases as `PhaseSpec`s in run
order; `make_plan` times a few steps of each on the trainer's own modules inside `untouched`,
which restores everything a checkpoint holds (weights, optimizers, counters, every random
stream) afterwards, so a measured run trains exactly as an unmeasured one. With a time limit,
pretraining (every phase before the trainer's own) gets at most train.pretrain_time_fraction
of it, shared between its phases by `water_fill`, and the rest is the own phase's. `Budget`
enforces this as the run goes: no unit (epoch, update, round, step) starts that would overrun
its phase's share or the limit (MLE pretraining runs one epoch at least), so a run ends within
its budget and a round too long for it is refused, not started. The estimates also give the
progress lines an ETA.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

import torch

from textgan.checkpoint import capture_rng, restore_rng
from textgan.progress import format_duration
from textgan.training.base import NonFiniteLossError

if TYPE_CHECKING:
    from textgan.training.base import Trainer

log = logging.getLogger(__name__)

# Trainer attributes that `untouched` restores besides what `Trainer.state` covers through
# `extra_state` (the base counters are never touched by a measurement, but restoring is cheap).
COUNTERS = ("step", "epoch", "batch_in_epoch", "best_metric", "bad_evaluations", "epoch_nll", "epoch_tokens")


@dataclass
class PhaseSpec:
    """One phase of a trainer, in run order: what it counts and how to time one unit of it."""

    name: str  # its metrics.jsonl phase: pretrain_g, pretrain_d, adversarial, cooperative
    title: str  # for people: "MLE pretraining"
    unit: str  # plural: epochs, updates, rounds, steps
    total: int  # units the schedule asks for
    done: int  # units already done (a resumed run); total once the phase is over
    key: str  # the config key of `total`
    measure: Callable[[], float]  # seconds of one unit, from a few steps (the planner restores the state)
    own: bool = False  # the trainer's own phase, after its MLE start
    at_least: int = 0  # units a cut still runs (MLE pretraining: one epoch)
    detail: str = ""  # what one unit is, with the keys that size it (said when the budget cannot reach it)


@dataclass
class PhasePlan:
    """A phase with its measured time and the units the budget lets it run."""

    spec: PhaseSpec
    seconds_each: float
    planned: int  # units this session will run (the rest of the schedule, or what the budget allows)
    cut: str = ""  # why fewer: "share" (pretraining's share of the budget) or "limit" (the time limit)

    @property
    def left(self) -> int:
        """Units of the schedule still to run."""
        return max(self.spec.total - self.spec.done, 0)

    @property
    def seconds(self) -> float:
        """Estimated seconds of the planned units."""
        return self.planned * self.seconds_each


@dataclass
class Plan:
    """Every phase's plan, the budget it was made for (seconds, 0 = none) and pretraining's share."""

    phases: list[PhasePlan]
    limit_seconds: float = 0.0
    pretrain_fraction: float = 0.0
    spent_seconds: float = 0.0  # of the budget, before this session (a resumed run)
    measure_seconds: float = 0.0  # the measurement itself
    lines: list[str] = field(default_factory=list)

    def phase(self, name: str) -> PhasePlan | None:
        return next((p for p in self.phases if p.spec.name == name), None)

    def seconds_each(self, name: str) -> float | None:
        """The measured seconds of one unit of a phase (None for a phase not planned)."""
        found = self.phase(name)
        return found.seconds_each if found is not None else None

    @property
    def minutes_needed(self) -> float:
        """The least train.time_limit_minutes (to a tenth) whose budget reaches one unit of the own
        phase after pretraining as planned."""
        own = self.own
        before = sum(p.seconds for p in self.phases if not p.spec.own)
        seconds = self.spent_seconds + before + (own.seconds_each if own is not None else 0.0)
        return math.ceil(seconds / 6) / 10

    @property
    def own(self) -> PhasePlan | None:
        return next((p for p in self.phases if p.spec.own), None)

    @property
    def reaches_own_phase(self) -> bool:
        """Whether the plan takes at least one unit of the own phase (or one was taken before)."""
        own = self.own
        return own is None or own.spec.done > 0 or own.planned > 0


def count(number: int, unit: str) -> str:
    """e.g. `1 epoch`, `3 epochs` (`unit` is plural)."""
    return f"{number} {unit[:-1] if number == 1 and unit.endswith('s') else unit}"


def pretraining_shares(phases: list[tuple[int, float, int]], budget: float) -> list[float]:
    """Shares of `budget` seconds for pretraining phases of (units left, seconds each, units it
    runs however short the budget): those units come first, then a phase whose one unit is longer
    than what is left gets no more, and the others `water_fill` the rest."""
    forced = [min(least, units) * each for units, each, least in phases]
    left = budget - sum(forced)
    fits = [units > least and 0 < each <= left for units, each, least in phases]
    rest = iter(water_fill([(units - least) * each for (units, each, least), fit in zip(phases, fits) if fit], left))
    return [first + (next(rest) if fit else 0.0) for first, fit in zip(forced, fits)]


def water_fill(needs: list[float], budget: float) -> list[float]:
    """Shares of `budget` seconds for phases needing `needs`: equal shares, and a phase that needs
    less than its share leaves the rest to the others."""
    shares = [0.0] * len(needs)
    left = max(budget, 0.0)
    order = sorted(range(len(needs)), key=lambda i: needs[i])
    for rank, i in enumerate(order):
        shares[i] = min(needs[i], left / (len(order) - rank))
        left -= shares[i]
    return shares


@contextlib.contextmanager
def untouched(trainer: Trainer) -> Iterator[None]:
    """Run the body (a measurement) and put back everything a checkpoint of the trainer holds:
    module weights, train/eval and requires_grad flags, optimizers, schedulers, scalers, the trainer's counters
    and random streams (its own and the global ones), gradients cleared as before."""
    modules = {"generator": trainer.generator, **trainer.checkpoint_modules()}
    weights = {name: {k: v.detach().clone() for k, v in m.state_dict().items()} for name, m in modules.items()}
    flags = [(m, m.training) for module in modules.values() for m in module.modules()]
    frozen = [(p, p.requires_grad) for module in modules.values() for p in module.parameters()]
    optimizers = {name: copy.deepcopy(opt.state_dict()) for name, opt in trainer.optimizers().items()}
    extra = copy.deepcopy(trainer.extra_state())
    counters = {name: getattr(trainer, name) for name in COUNTERS}
    rng = capture_rng()
    try:
        yield
    finally:
        for name, module in modules.items():
            module.load_state_dict(weights[name])
            for parameter in module.parameters():
                parameter.grad = None
        for module, training in flags:
            module.training = training
        for parameter, requires_grad in frozen:  # a step stopped midway may leave a network frozen
            parameter.requires_grad_(requires_grad)
        for name, opt in trainer.optimizers().items():
            opt.load_state_dict(optimizers[name])
        trainer.load_extra_state(extra)
        for name, value in counters.items():
            setattr(trainer, name, value)
        restore_rng(rng)


def timed(work: Callable[[], Any]) -> float:
    """Seconds `work()` takes."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def measure_phases(trainer: Trainer, specs: list[PhaseSpec]) -> list[float]:
    """Seconds of one unit of each phase with units left, measured inside `untouched` and averaged
    over processes (so every process plans alike); 0 for phases already over. A measurement
    stopped by a non-finite loss counts the time it took as one unit."""
    seconds = []
    for spec in specs:
        started = time.perf_counter()
        with untouched(trainer):
            try:
                seconds.append(spec.measure() if spec.done < spec.total else 0.0)
            except NonFiniteLossError:  # undone with the rest; training checks its own steps' losses
                log.info("a step of %s measured for the plan had a non-finite loss", spec.title)
                seconds.append(time.perf_counter() - started)
    agreed = torch.tensor(seconds, dtype=torch.float64, device=trainer.runtime.device)
    trainer.runtime.all_reduce_sum(agreed)
    return [float(s) / trainer.runtime.world_size for s in agreed.tolist()]


def make_plan(trainer: Trainer, specs: list[PhaseSpec]) -> Plan:
    """Measure the phases and lay them out along train.time_limit_minutes (see the module notes):
    pretraining phases within their shares, and no unit that would end past the limit."""
    t = trainer.cfg.train
    started = time.monotonic()
    seconds = measure_phases(trainer, specs)
    plan = Plan([], t.time_limit_minutes * 60, t.pretrain_time_fraction, trainer.earlier_seconds,
                time.monotonic() - started)
    limit = plan.limit_seconds
    pretraining = [(spec, each) for spec, each in zip(specs, seconds) if not spec.own]
    shares = [math.inf] * len(pretraining)
    if limit and plan.pretrain_fraction:
        shares = pretraining_shares([(max(spec.total - spec.done, 0), each, max(spec.at_least - spec.done, 0))
                                     for spec, each in pretraining],
                                    plan.pretrain_fraction * limit - trainer.earlier_seconds)
    share_of = {spec.name: share for (spec, _), share in zip(pretraining, shares)}
    clock = limit - trainer.earlier_seconds if limit else math.inf  # the budget left (the measurement is not counted)
    for spec, each in zip(specs, seconds):
        planned, cut = max(spec.total - spec.done, 0), ""
        if not spec.own and planned * each > share_of[spec.name]:
            planned, cut = min(planned, max(int(share_of[spec.name] // each), spec.at_least - spec.done)), "share"
        if planned and each > 0 and planned * each > clock:
            planned, cut = max(int(max(clock, 0) // each), spec.at_least - spec.done, 0), "limit"
        clock -= planned * each
        plan.phases.append(PhasePlan(spec, each, planned, cut))
    plan.lines = describe(plan, trainer.name)
    return plan


def describe(plan: Plan, trainer: str) -> list[str]:
    """The plan as lines for people: a heading, one line per phase, and a verdict."""
    limit = plan.limit_seconds
    if limit:
        share = (f"pretraining at most train.pretrain_time_fraction={plan.pretrain_fraction:g} of it "
                 f"({format_duration(plan.pretrain_fraction * limit)})" if plan.pretrain_fraction
                 else "pretraining uncapped (train.pretrain_time_fraction=0)")
        spent = f", {format_duration(plan.spent_seconds)} spent before this session" if plan.spent_seconds else ""
        budget = f"budget train.time_limit_minutes={limit / 60:g} ({format_duration(limit)}{spent}), {share}"
    else:
        budget = "no time limit (train.time_limit_minutes=0)"
    lines = [f"plan of this {trainer} run ({budget}; measured in {format_duration(plan.measure_seconds)}, "
             "not counted in the budget):"]
    for p in plan.phases:
        spec = p.spec
        head = f"  {spec.title}: {count(spec.total, spec.unit)} ({spec.key})"
        if spec.done >= spec.total:
            lines.append(f"{head}: done")
            continue
        left = f", {spec.done} done, {p.left} left" if spec.done else ""
        estimate = f"~{format_duration(p.seconds_each)} each, ~{format_duration(p.left * p.seconds_each)} in all"
        if not p.cut:
            verdict = "fits the budget" if limit else "runs in full"
        elif p.cut == "share":
            verdict = f"its share of the budget cuts it to {count(p.planned, spec.unit)} (~{format_duration(p.seconds)})"
        elif spec.own:
            verdict = (f"the budget reaches {count(p.planned, spec.unit)} (~{format_duration(p.seconds)})" if p.planned
                       else "the budget reaches none")
        else:
            verdict = f"the time limit ends it after ~{count(p.planned, spec.unit)} (~{format_duration(p.seconds)})"
        lines.append(f"{head}{left}: {estimate}; {verdict}")
    own = plan.own
    if own is not None and not plan.reaches_own_phase:
        if own.spec.total == 0:
            lines.append(f"  this run takes no {own.spec.name} step: {own.spec.key}=0")
        else:
            before = sum(p.seconds for p in plan.phases if not p.spec.own)
            unit = own.spec.unit[:-1]
            detail = f" ({own.spec.detail})" if own.spec.detail else ""
            lines.append(f"  the budget cannot reach the {own.spec.name} phase: pretraining takes ~{format_duration(before)} "
                         f"of it and one {own.spec.name} {unit} ~{format_duration(own.seconds_each)}{detail}; raise "
                         f"train.time_limit_minutes to at least {plan.minutes_needed:g}, or make a {unit} cheaper")
    return lines


class Budget:
    """Enforces the plan as the run goes: `allows(name, done)` before each unit (epoch, update,
    round, step) says whether another fits what is left of train.time_limit_minutes and, in
    pretraining, of the phase's share (recomputed from the time actually left, so an MLE phase
    that stops early leaves its time to D pretraining). A unit's time is its pace so far in this
    session, or the plan's estimate before the first."""

    def __init__(self, plan: Plan, clock: Callable[[], float]) -> None:
        self.plan = plan
        self.clock = clock  # the run's training seconds, earlier sessions included
        self.starts: dict[str, tuple[float, int, float]] = {}  # phase -> (seconds, done, share) at its start
        self.cut: dict[str, tuple[int, int]] = {}  # phase -> (units done, units scheduled) where the budget ended it

    def share(self, name: str, done: int) -> float:
        """Seconds pretraining phase `name` may still take: its water-filled share of pretraining's
        time left (unbounded when pretraining is uncapped)."""
        plan = self.plan
        if not (plan.limit_seconds and plan.pretrain_fraction):
            return math.inf
        order = [p for p in plan.phases if not p.spec.own]
        index = next(i for i, p in enumerate(order) if p.spec.name == name)
        phases = [(max(p.spec.total - d, 0), p.seconds_each, max(p.spec.at_least - d, 0))
                  for i, p in enumerate(order) if i >= index for d in [done if i == index else p.spec.done]]
        return pretraining_shares(phases, plan.pretrain_fraction * plan.limit_seconds - self.clock())[0]

    def allows(self, name: str, done: int) -> bool:
        """Whether one more unit of phase `name` (of which `done` are done) fits the budget."""
        phase = self.plan.phase(name)
        if phase is None or done < phase.spec.at_least:
            return True  # a phase cut short still runs its least units
        now = self.clock()
        if name not in self.starts:
            self.starts[name] = (now, done, math.inf if phase.spec.own else self.share(name, done))
        started, first, share = self.starts[name]
        each = (now - started) / (done - first) if done > first else phase.seconds_each
        left = self.plan.limit_seconds - now if self.plan.limit_seconds else math.inf
        if now - started + each <= share and each <= left:
            return True
        self.cut[name] = (done, phase.spec.total)
        log.info("the budget ends %s after %s of %d (~%s each; train.time_limit_minutes=%g, "
                 "train.pretrain_time_fraction=%g)", phase.spec.title, count(done, phase.spec.unit),
                 phase.spec.total, format_duration(each), self.plan.limit_seconds / 60, self.plan.pretrain_fraction)
        return False
