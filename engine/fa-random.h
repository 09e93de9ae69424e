/* fa-random.h: the seeded generator behind random benchmark weights.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

/* The starting state of one tensor's stream: FNV-1a of its name over the
 * seed, so that a tensor's values depend on the seed and its name only,
 * whatever the order or the number of layers. */
static inline guint64
fa_random_stream (guint32 seed, const char *name)
{
  guint64 state = G_GUINT64_CONSTANT (0xcbf29ce484222325) ^ seed;
  for (const char *c = name; *c != '\0'; c++)
    state = (state ^ (guchar) *c) * G_GUINT64_CONSTANT (0x100000001b3);
  return state;
}

/* splitmix64: one 64-bit draw per call. */
static inline guint64
fa_random_next (guint64 *state)
{
  guint64 z = (*state += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* Mean 0, variance 1, within ±2√3: the sum of four uniforms (one 64-bit
 * draw) is close enough to a normal for benchmark weights and fast enough
 * for billions of them. */
static inline float
fa_random_normalish (guint64 *state)
{
  guint64 r = fa_random_next (state);
  double sum = (double) ((r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48));
  return (float) (((sum + 2.0) / 65536.0 - 2.0) * 1.7320508075688772); /* × √3: variance 4/12 → 1 */
}
