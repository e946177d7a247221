"""Choosing an :class:`~vsr.Upscaler`'s execution plan: the cache, the measurement, compiled and OpenVINO runtimes.

:func:`decide` is what :meth:`Upscaler.prepare` runs. It sees the upscaler only through the plan
interface (:class:`~vsr.inference._plans.Tunable`): what the plan depends on, apply a plan, upscale
one batch with it, how a runtime fared. In order:

1. a plan cached for the same :class:`~vsr.inference._plans.PlanKey` is used as it is
   (its compiled variant only if the input is long enough to pay for compiling);
2. otherwise, when the input is long enough (:func:`~vsr.inference._plans.should_tune`),
   the first batches run with candidate eager plans, the fastest is kept, then
   (for an fp32/bf16 CPU run long enough to amortise the set-up) its compiled variant
   (with a C++ compiler present) and its OpenVINO variant (fp32, or bf16 where the
   CPU has it natively; with openvino installed) are timed against it; the winner
   is saved;
3. otherwise the default plan runs, and the decision says why.

On the OpenVINO runtime (int8 there, or asked for by name) every candidate's
first batch compiles a graph for its input shape, so the base plan is timed
first and the other candidates only when the rest of the run pays for compiling
them. torch.compile and torchao's int8 run a fixed plan: they recompile for
every shape, at tens of seconds to minutes each.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from typing import Any

from vsr._core import cpu_has_native_bf16
from vsr.inference._compiled import compiler_status
from vsr.inference._openvino import openvino_status
from vsr.inference._plans import (
    TUNE_ENV, Decision, ExecutionPlan, FramesT, PlanRequest, Tunable, Tuner, load_plan, save_plan, should_tune,
    tuning_candidates,
)

__all__ = [
    "decide", "PlanSearch", "worth_compiling", "COMPILE_SECONDS_GUESS", "OPENVINO_SHAPE_SECONDS_GUESS", "SETUP_SECONDS_GUESS",
]

log = logging.getLogger(__name__)

#: Compile time assumed per shape before one was measured on this machine: near the top of the times measured
#: (``benchmarks/RESULTS.md``), so that a guess never makes compiling look cheaper than it is.
COMPILE_SECONDS_GUESS = 30.0
#: Set-up assumed per runtime: torch.compile as above; OpenVINO's ONNX export and compilation at the top of the
#: times measured (``benchmarks/RESULTS.md``).
SETUP_SECONDS_GUESS = {"compiled": COMPILE_SECONDS_GUESS, "openvino": 6.0}
#: OpenVINO's compilation of one more input shape when none was timed yet (above the times measured for
#: EDSR-baseline in ``benchmarks/RESULTS.md``).
OPENVINO_SHAPE_SECONDS_GUESS = 0.5
#: Compiling must cost at most this share of the run it speeds up (small against what it gains where measured).
_COMPILE_SHARE = 0.05


def worth_compiling(frames: int | None, seconds_per_frame: float, compile_seconds: float | None) -> bool:
    """Whether ``frames`` more frames at ``seconds_per_frame`` pay for compiling (at most 5% of their time)."""
    if not frames:
        return False
    return frames * seconds_per_frame * _COMPILE_SHARE >= (compile_seconds or COMPILE_SECONDS_GUESS)


def _pin(plan: ExecutionPlan, base: ExecutionPlan, pinned: set[str]) -> ExecutionPlan:
    """``plan`` with the caller's pinned choices (``base``) put back."""
    fixed = {k: getattr(base, k) for k in pinned if k in ("batch_size", "tile", "channels_last", "runtime")}
    return dataclasses.replace(plan, **fixed)


def _timings_note(timings: dict[str, float], winner: ExecutionPlan) -> str:
    best = timings.get(winner.describe())
    if not best:
        return ""
    others = sorted((t, name) for name, t in timings.items() if name != winner.describe())
    if not others:
        return f"{1 / best:.2f} fps"
    slowest = others[-1]
    return f"{1 / best:.2f} fps, {slowest[0] / best:.2f}x faster than {slowest[1]}"


def _cached_decision(rec: dict[str, Any], base: ExecutionPlan, pinned: set[str], frames: int | None, can_run: bool,
                     cannot_why: str) -> Decision:
    """The decision for a cached record: its plan, or its eager fallback when its runtime is missing or its set-up not worth it."""
    plan = _pin(rec["plan"], base, pinned)
    per_frame = rec["timings"].get(rec["plan"].describe(), 0.0)
    note = ""
    if plan.runtime != "eager" and "runtime" not in pinned:
        if not can_run:
            plan, note = _pin(rec["fallback"], base, pinned), f"; eager because {cannot_why}"
        elif not worth_compiling(frames, per_frame, rec.get("compile_seconds") or SETUP_SECONDS_GUESS.get(plan.runtime)):
            plan, note = _pin(rec["fallback"], base, pinned), f"; eager: too short to pay for setting up {plan.runtime}"
    measured = _timings_note(rec["timings"], rec["plan"])
    return Decision(plan, "cached", f"measured {rec['measured']}{': ' + measured if measured else ''}{note}; "
                    f"cached in {rec['path']}")


def decide(up: Tunable, width: int, height: int, frames: int | None, *, dry_run: bool = False, batch_frames: int = 4,
           fits: Callable[[int, int | None], bool] | None = None) -> tuple[Decision, PlanSearch | None]:
    """The plan for ``up`` on ``frames`` frames of ``width`` x ``height``, and the search measuring it (or ``None``).

    Applies the plan to ``up`` unless ``dry_run``. ``batch_frames`` is how many
    frames each call brings (the video reader's batch): the largest batch
    size worth trying. ``fits(batch, tile)`` drops the plans that would not fit in memory.
    """
    request = up.plan_request(width, height)
    base, pinned, key = request.plan, set(request.pinned), request.key
    if "runtime" in pinned and base.runtime == "compiled":
        what = "int8 on torchao" if request.precision == "int8" else "--compile"
        return Decision(base, "pinned", f"{what} runs a fixed plan: each new batch or tile shape recompiles its graph"), None
    can_compile, no_compile_why = compiler_status()
    openvino_ok, no_openvino_why = openvino_status()
    rec = load_plan(key)
    if rec is not None and (fits is None or fits(rec["plan"].batch_size, rec["plan"].tile)):
        ok, why = (openvino_ok, no_openvino_why) if rec["plan"].runtime == "openvino" else (can_compile, no_compile_why)
        decision = _cached_decision(rec, base, pinned, frames, ok, why)
        if not dry_run:
            up.apply_plan(decision.plan)
        return decision, None

    cands = tuning_candidates(base, width=width, height=height, margin=request.tile_overlap, pinned=sorted(pinned),
                              max_batch=batch_frames, cpus=_cpus())
    if fits is not None:
        cands = [c for i, c in enumerate(cands) if i == 0 or fits(c.batch_size, c.tile)]
    tune, why = should_tune(frames, len(cands), batch_frames)
    if not tune:
        source = "pinned" if len(cands) < 2 else "default"
        return Decision(base, source, f"default plan: {why}"), None
    decision = Decision(base, "measure", why, tuple(cands))
    if dry_run:
        return decision, None
    log.info("measuring %d execution plans on the first frames (%s)", len(cands), why)
    search = PlanSearch(up, request, frames, cands, pinned, decision, compiler=(can_compile, no_compile_why),
                        openvino=openvino_ok)
    return decision, search


class PlanSearch:
    """One plan measurement on the first batches of a run, in stages; saves the winner.

    The upscaler hands it each batch (``search(frames)``) until :attr:`done`; every batch is
    upscaled, with the plan under test. :attr:`decision` is the measurement's decision until a
    plan is chosen, then that plan and why. The stages, each a :class:`Tuner`:

    1. the candidates (on OpenVINO: the base plan alone first, then the others if
       the rest of the run pays for compiling their input shapes);
    2. the winner's compiled and OpenVINO variants against it, where they pay for their set-up;
    3. the winner is saved under the request's key and becomes the decision.
    """

    def __init__(self, up: Tunable, request: PlanRequest, frames: int | None, cands: list[ExecutionPlan],
                 pinned: set[str], decision: Decision, *, compiler: tuple[bool, str], openvino: bool) -> None:
        self.up, self.key, self.frames, self.cands, self.pinned = up, request.key, frames, cands, pinned
        self.precision, self.on_cpu = request.precision, request.device_type == "cpu"
        self.compiler, self.openvino = compiler, openvino
        self.decision = decision
        self.timings: dict[str, float] = {}
        self.tuners: list[Tuner] = []
        self.eager: ExecutionPlan = cands[0]
        if self.cands[0].runtime == "openvino":
            # Each candidate's first batch compiles a graph for its shape: time the base plan, then decide on the others.
            self.tuner = self._stage(self.cands[:1], self._openvino_base_done, frames_total=self.frames)
        else:
            self.tuner = self._stage(self.cands, self._candidates_done, frames_total=self.frames)

    @property
    def done(self) -> bool:
        """Whether a plan was chosen (later batches run it without measuring)."""
        return self.tuner.done

    def __call__(self, frames: FramesT) -> FramesT:
        """Upscale one batch with the plan the current stage times next."""
        return self.tuner(frames)

    def _stage(self, plans: list[ExecutionPlan], on_done: Callable[[ExecutionPlan, dict[ExecutionPlan, float], int], None], *,
               frames_total: int | None, known: dict[ExecutionPlan, float] | None = None) -> Tuner:
        """The tuner of the next stage, which from now on gets the batches."""
        self.tuner = Tuner(plans, runner=self.up, frames_total=frames_total, on_done=on_done, known=known)
        self.tuners.append(self.tuner)
        return self.tuner

    def _remaining(self, used: int) -> int | None:
        return self.frames - used if self.frames is not None else None

    def _openvino_base_done(self, winner: ExecutionPlan, timings: dict[ExecutionPlan, float], used: int) -> None:
        report = self.up.runtime_report("openvino")
        if report is None or not report.running:
            return  # OpenVINO failed and the model runs eagerly in fp32: nothing to measure or save for this key
        others = self.cands[1:]
        shape_seconds = max(report.shape_seconds, default=OPENVINO_SHAPE_SECONDS_GUESS)
        forced = os.environ.get(TUNE_ENV) == "1"
        if not forced and not worth_compiling(self._remaining(used), timings[winner], shape_seconds * len(others)):
            why = f"the rest of the run does not pay for compiling {len(others)} more input shapes ({shape_seconds:.1f} s each)"
            log.info("execution plan: %s, not measured against others: %s", winner.describe(), why)
            self.decision = Decision(winner, "default", f"default plan: {why}")
            return
        self._stage(others, self._candidates_done, frames_total=self.frames, known=timings)

    def _candidates_done(self, winner: ExecutionPlan, timings: dict[ExecutionPlan, float], used: int) -> None:
        self.timings.update({p.describe(): t for p, t in timings.items()})
        self.eager = winner
        remaining = self._remaining(used)
        runtimes = []
        if "runtime" not in self.pinned and self.on_cpu:
            runtimes = _runtime_candidates(winner, self.precision, compiler=self.compiler, openvino=self.openvino,
                                           pays=lambda rt: worth_compiling(remaining, timings[winner], SETUP_SECONDS_GUESS[rt]))
        if runtimes:
            # The other runtimes first: the first call of each sets it up, the second is timed against the eager winner's.
            self._stage([*runtimes, winner], self._runtimes_done, frames_total=None)
            return
        self._finish(winner, None)

    def _runtimes_done(self, winner: ExecutionPlan, timings: dict[ExecutionPlan, float], used: int) -> None:
        self.timings.update({p.describe(): t for p, t in timings.items()})
        report = self.up.runtime_report(winner.runtime) if winner.runtime != "eager" else None
        if winner.runtime != "eager" and (report is None or not report.running):
            winner, report = self.eager, None
            self.up.apply_plan(winner)
        self._finish(winner, report.setup_seconds if report is not None else None)

    def _finish(self, winner: ExecutionPlan, compile_seconds: float | None) -> None:
        fallback = dataclasses.replace(self.eager, runtime="eager")  # what runs when the winner's runtime cannot
        path = save_plan(self.key, winner, fallback=fallback, timings=self.timings, compile_seconds=compile_seconds)
        summary = ", ".join(f"{name}: {1 / t:.2f} fps" for name, t in sorted(self.timings.items(), key=lambda kv: kv[1]))
        lost = sum(t.lost_seconds for t in self.tuners)
        total = (self.frames or 0) * self.timings.get(winner.describe(), 0.0)
        cost = f"; measuring cost {lost:.1f} s" + (f" ({lost / total:.1%} of the run)" if total else "")
        compiling = f", compiling {compile_seconds:.1f} s" if compile_seconds else ""
        log.info("execution plan: %s (measured %s%s%s)%s", winner.describe(), summary, cost, compiling,
                 f"; saved to {path}" if path else "")
        self.decision = Decision(winner, "cached", f"measured now: {summary}")


def _runtime_candidates(winner: ExecutionPlan, precision: str, *, compiler: tuple[bool, str], openvino: bool,
                        pays: Callable[[str], bool]) -> list[ExecutionPlan]:
    """The eager winner's compiled and OpenVINO variants that can run here and that the rest of the run pays for.

    OpenVINO in fp32, and in bf16 on CPUs with native bf16 (never emulated; its
    speed and PSNR against eager bf16: ``docs/speed.md``); ``pays(runtime)`` says
    whether the remaining frames pay for that runtime's set-up.
    """
    out = []
    if pays("compiled"):
        if compiler[0]:
            out.append(dataclasses.replace(winner, runtime="compiled"))
        else:
            log.warning("not compiling the model: %s; running eagerly", compiler[1])
    if openvino and (precision == "fp32" or precision == "bf16" and cpu_has_native_bf16()) and pays("openvino"):
        out.append(dataclasses.replace(winner, runtime="openvino"))
    return out


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
