"""Sigma and timestep tables for the Euler flow-matching sampler.

Writes tests/data/goldens/schedules.safetensors. For every (steps T, shift s)
pair in PAIRS:

  stepsT_shiftS.sigmas      float64 [T+1]  the method spec (flowanchor-method.md
                                           section 1): u = linspace(1, 0, T+1)[:T],
                                           sigma = s*u / (1 + (s-1)*u), then 0 appended
  stepsT_shiftS.timesteps   float64 [T]    1000 * sigma[:T] (what the DiT is fed)
  stepsT_shiftS.diffusers.sigmas / .timesteps            float32
      FlowMatchEulerDiscreteScheduler(shift=s, use_dynamic_shifting=False)
      .set_timesteps(T) exactly as diffusers produces them (its default
      schedule; NOT the spec's, see tools/reference/docs/schedules.md)
  stepsT_shiftS.diffusers_sigmas_arg.sigmas / .timesteps float32
      the same scheduler given the spec's unshifted sigmas,
      set_timesteps(sigmas=linspace(1, 0, T+1)[:T]): diffusers shifts them
      itself; equals the spec table up to float32 rounding (checked here)

plus `pairs` float64 [K, 2] = (T, s) in file order. S is written with %g
("5", "3", "1", "8", "2.5").

Run through `make goldens` (make_goldens.py), never by tests.
"""
import os

import numpy as np
import torch

import common

SEED = 0  # nothing random here; recorded for uniformity

# (steps, shift): the method default first, then the diffusers-repo shift,
# no shift, a strong shift with few steps, a fractional shift, one step.
PAIRS = [(25, 5.0), (50, 3.0), (10, 1.0), (4, 8.0), (30, 2.5), (1, 5.0)]


def spec_sigmas(steps, shift):
    """Method spec section 1, in float64: T+1 values, the last one 0."""
    u = np.linspace(1.0, 0.0, steps + 1, dtype=np.float64)[:steps]
    sigma = shift * u / (1.0 + (shift - 1.0) * u)
    return np.concatenate([sigma, [0.0]])


def key(steps, shift):
    return "steps%d_shift%s" % (steps, "%g" % shift)


def diffusers_tables(steps, shift, sigmas=None):
    from diffusers import FlowMatchEulerDiscreteScheduler

    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift, use_dynamic_shifting=False)
    if sigmas is None:
        sched.set_timesteps(steps)
    else:
        sched.set_timesteps(sigmas=list(sigmas))
    return sched.sigmas.clone(), sched.timesteps.clone()


def main():
    common.seed_everything(SEED)
    tensors = {"pairs": torch.tensor(PAIRS, dtype=torch.float64)}
    notes = {}
    for steps, shift in PAIRS:
        k = key(steps, shift)
        sigma = spec_sigmas(steps, shift)
        tensors[k + ".sigmas"] = torch.from_numpy(sigma)
        tensors[k + ".timesteps"] = torch.from_numpy(1000.0 * sigma[:steps])

        d_sig, d_t = diffusers_tables(steps, shift)
        assert d_sig.dtype == torch.float32 and d_sig.shape == (steps + 1,) and d_t.shape == (steps,)
        tensors[k + ".diffusers.sigmas"] = d_sig
        tensors[k + ".diffusers.timesteps"] = d_t

        u = np.linspace(1.0, 0.0, steps + 1, dtype=np.float64)[:steps]
        a_sig, a_t = diffusers_tables(steps, shift, sigmas=u)
        tensors[k + ".diffusers_sigmas_arg.sigmas"] = a_sig
        tensors[k + ".diffusers_sigmas_arg.timesteps"] = a_t

        spec = torch.from_numpy(sigma)
        arg_err = (a_sig.double() - spec).abs().max().item()
        assert arg_err < 1e-6, (k, arg_err)  # float32 rounding only
        notes[k] = {
            "max_abs_sigma_diff_spec_vs_diffusers_default": (d_sig.double() - spec).abs().max().item(),
            "max_abs_sigma_diff_spec_vs_diffusers_sigmas_arg": arg_err,
        }

    common.save_golden(
        os.path.join(common.GOLDENS, "schedules.safetensors"), tensors, __file__, SEED,
        pairs=[list(p) for p in PAIRS],
        formula="sigma_i = s*u_i/(1+(s-1)*u_i), u = linspace(1, 0, T+1)[:T], sigma_T = 0; timestep_i = 1000*sigma_i",
        diffusers_default="FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=s, "
                          "use_dynamic_shifting=False).set_timesteps(T)",
        diffusers_sigmas_arg="same scheduler, set_timesteps(sigmas=linspace(1, 0, T+1)[:T])",
        differences=notes,
    )


if __name__ == "__main__":
    main()
